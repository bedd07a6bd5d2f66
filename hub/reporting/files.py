"""The manager's report as files: a summary CSV, an XLSX workbook, a PDF board paper.

* Summary CSV: one row per month and setting (calls, answer times against the standards,
  abandoned, outcomes recorded, claims claimed / confirmed / withdrawn / pending).
* XLSX: a "summary" sheet (the headline, that table, the savings with their unit costs and
  sources), a "claims" sheet listing every claimed avoidance with its follow-up result
  (confirmed, withdrawn or pending: never only the tally), then the log itself.
* PDF: the board paper: headline figures, charts (calls by month and setting, claims by
  month and follow-up, time to answer), the table by setting, savings and top sites.

Writers take a ``progress`` callable (rows or steps done); one that raises (a cancel) stops
the writer, and the caller's temporary file is deleted (records.export.atomic_output).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import IO, Any

import sqlalchemy as sa

from hub.contract.rest import CLAIMS, WAIT_BAND_LABELS, Filters, Report
from hub.reporting.report import (
    ANSWER_5MIN,
    LOG,
    SITE_KINDS,
    record_where,
)
from records import codes
from records.avoided_log import EXPORT_FIELDS, versions_table
from records.export import CHUNK, append_log_sheets, csv_text, sheet_cell
from records.pdf import Canvas, bars
from records.schema import TriageRecord

__all__ = ["SUMMARY_HEADER", "claim_rows", "filtered_log", "filtered_records", "summary_rows",
           "write_pdf", "write_summary_csv", "write_xlsx"]  # fmt: skip

Progress = Callable[[int], None]
KIND_LABELS = {"care_home": "Care homes", "prison": "Prisons", "home": "Home (Gold Line)"}
CLAIM_LABELS = {"admission": "Admissions avoided", "ae_attendance": "A&E attendances avoided",
                "prison_transfer": "Prison transfers avoided",
                "ambulance_conveyance": "Ambulance conveyances avoided"}  # fmt: skip

SUMMARY_HEADER: tuple[str, ...] = (
    "month", "site_kind", "calls", "answered", "answered_within_60s", "answered_within_5min",
    "mean_answer_s", "abandoned", "abandoned_after_30s", "caller_lost", "answered_no_outcome",
    "records",
    *(f"{c}_{w}" for c in CLAIMS for w in ("claimed", "confirmed", "withdrawn", "pending")),
)  # fmt: skip


def summary_rows(report: Report) -> list[list[Any]]:
    """One row per month and setting, then a total row; columns as SUMMARY_HEADER."""
    keys = sorted({(c.month, c.site_kind) for c in report.calls}
                  | {(c.month, c.site_kind) for c in report.claims}
                  | {(o.month, o.site_kind) for o in report.outcomes})  # fmt: skip
    out: list[list[Any]] = []
    for month, kind in [*keys, ("total", "all")]:
        m = None if month == "total" else month
        k = None if kind == "all" else kind
        answered = report.total("answered", month=m, site_kind=k)
        mean = report.total("answer_s_total", month=m, site_kind=k) / answered if answered else None
        records = sum(o.records for o in report.outcomes
                      if (m is None or o.month == m) and (k is None or o.site_kind == k))
        row: list[Any] = [month, kind]
        row += [int(report.total(f, month=m, site_kind=k)) for f in
                ("calls", "answered", "within_60s", "within_5min")]
        row.append(None if mean is None else round(mean, 1))
        row += [int(report.total(f, month=m, site_kind=k)) for f in
                ("abandoned", "abandoned_after_30s", "caller_lost", "no_record")]
        row.append(records)
        for claim in CLAIMS:
            got = [report.claim_total(claim, w, month=m, site_kind=k)
                   for w in ("claimed", "confirmed", "withdrawn")]
            row += [*got, got[0] - got[1] - got[2]]
        out.append(row)
    return out  # fmt: skip


def write_summary_csv(report: Report, out: IO[bytes]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(SUMMARY_HEADER)
    for row in summary_rows(report):
        writer.writerow(["" if v is None else csv_text(v) for v in row])
    out.write(text.getvalue().encode("utf-8"))


# --- the log behind the figures ------------------------------------------------------------


def filtered_log(conn: sa.Connection, filters: Filters) -> Iterator[tuple[Any, ...]]:
    """Log rows (EXPORT_FIELDS order) of the report's records, oldest call first, streamed."""
    columns = [LOG.c[name] for name in EXPORT_FIELDS[1:]]
    query = (sa.select(LOG.c.uuid, *columns).where(*record_where(conn, filters))
             .order_by(LOG.c.occurred_at, LOG.c.uuid))  # fmt: skip
    result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(query)
    for part in result.partitions():
        for row in part:
            yield (str(row[0]), *row[1:])


def filtered_records(conn: sa.Connection, filters: Filters) -> Iterator[TriageRecord]:
    """The latest version of each of the report's records (for the FHIR Bundle), streamed."""
    v = versions_table(sa.MetaData())
    query = (sa.select(v.c.payload)
             .join(LOG, sa.and_(v.c.record_uuid == LOG.c.uuid, v.c.version == LOG.c.version))
             .where(*record_where(conn, filters)).order_by(LOG.c.occurred_at, LOG.c.uuid))
    result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(query)
    for part in result.partitions():
        for (payload,) in part:
            yield TriageRecord.model_validate_json(payload)


def claim_rows(log: Iterator[tuple[Any, ...]]) -> Iterator[tuple[list[Any], tuple[Any, ...]]]:
    """For each log row, its claims sheet rows (one per claim), and the row itself."""
    idx = {name: n for n, name in enumerate(EXPORT_FIELDS)}
    for row in log:
        result = row[idx["follow_up_result"]] or "pending"
        claims = [c for c in ("admission", "ae_attendance", "prison_transfer")
                  if row[idx[f"{c}_avoided"]]]
        if row[idx["intended_action"]] == "ambulance_999" and (
                row[idx["admission_avoided"]] or row[idx["ae_attendance_avoided"]]):
            claims.append("ambulance_conveyance")
        yield [[row[0], row[idx["call_id"]], _cell(row[idx["requested_at"]]),
                row[idx["site_id"]], row[idx["setting"]], claim, row[idx["intended_action"]],
                row[idx["outcome"]], result, row[idx["follow_up_window"]],
                _cell(row[idx["follow_up_checked_at"]])] for claim in claims], row  # fmt: skip


def _cell(value: Any) -> Any:
    if hasattr(value, "astimezone"):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def write_xlsx(report: Report, log: Iterator[tuple[Any, ...]], out: IO[bytes],
               progress: Progress | None = None) -> None:  # fmt: skip
    """Summary sheet, claims sheet, then the log (write-only workbook, streamed to disk).

    The claims and log sheets fill in one pass over the log: write-only sheets may be
    appended to in any order.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    summary = book.create_sheet("summary")

    def bold(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(summary, value=text)
        cell.font = Font(bold=True)
        return cell

    def row_of(sheet: Any, values: list[Any]) -> list[Any]:  # text that never runs
        return [sheet_cell(sheet, v) for v in values]

    f = report.filters
    summary.append([bold("telehub: avoided activity and answer times")])
    summary.append(["period (UTC days)", str(f.start), str(f.end)])
    summary.append(["site", "all" if f.site_id is None else f.site_id,
                    "setting", f.site_kind or "all"])  # fmt: skip
    summary.append(["generated (UTC)", _cell(report.generated_at)])
    summary.append([])
    summary.append([bold(h) for h in SUMMARY_HEADER])
    for row in summary_rows(report):
        summary.append(row_of(summary, row))
    summary.append([])
    summary.append([bold("Estimated savings (editable assumptions: confirm locally)")])
    summary.append([bold(h) for h in ("item", "unit cost (GBP)", "year", "claimed", "confirmed",
                                      "estimate on confirmed (GBP)", "source")])  # fmt: skip
    for s in report.savings:
        summary.append(row_of(summary, [s.unit.label, s.unit.cost_gbp, s.unit.year, s.claimed,
                                        s.confirmed, s.confirmed_gbp, s.unit.source]))
    claims_sheet = book.create_sheet("claims")
    claims_sheet.append(["record_uuid", "call_id", "requested_at (UTC)", "site", "site_kind",
                         "claim", "intended_action", "outcome", "follow_up_result",
                         "follow_up_window", "follow_up_checked_at (UTC)"])  # fmt: skip

    def entries() -> Iterator[tuple[Any, ...]]:
        for claims, entry in claim_rows(log):
            for claim in claims:  # each claim goes to its sheet as its record passes
                claims_sheet.append(row_of(claims_sheet, claim))
            yield entry

    left = append_log_sheets(book, entries(), "log", progress)
    book.save(out)
    if progress is not None and left:
        progress(left)


# --- the board paper -----------------------------------------------------------------------

_BLUE, _ORANGE, _GREEN = (0.16, 0.38, 0.67), (0.93, 0.55, 0.17), (0.3, 0.62, 0.3)
_RED, _GREY = (0.8, 0.25, 0.22), (0.7, 0.7, 0.7)


def _pct(part: float, whole: float) -> str:
    return "–" if not whole else f"{100 * part / whole:.1f}%"


def _month_label(month: str) -> str:
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{names[int(month[5:7]) - 1]} {month[2:4]}"


def write_pdf(report: Report, out: IO[bytes], progress: Progress | None = None) -> None:
    """The board paper: two A4 pages of figures, charts and the assumptions behind savings."""
    step = progress or (lambda n: None)
    f = report.filters
    pdf = Canvas(title=f"telehub summary {f.start} to {f.end}")
    x0, width = 40.0, 515.0
    pdf.text(x0, 50, "telehub: avoided activity and answer times", 16, bold=True)
    scope = ("all sites" if f.site_id is None else f"site {f.site_id}") + (
        f", {KIND_LABELS.get(f.site_kind, f.site_kind)}" if f.site_kind else ", all settings")
    pdf.text(x0, 68, f"Calls requested {f.start} to {f.end} (UTC), {scope}. Generated "
             f"{report.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC.", 9,
             colour=(0.3, 0.3, 0.3))  # fmt: skip
    calls, answered = report.total("calls"), report.total("answered")
    headline = [
        ("Calls", f"{calls:,.0f}"),
        ("Answered within 60 s", _pct(report.total("within_60s"), answered)),
        ("Answered within 5 min", _pct(report.total("within_5min"), answered)),
        ("Abandoned after 30 s", _pct(report.total("abandoned_after_30s"), calls)),
        ("Caller lost", f"{report.total('caller_lost'):,.0f}"),
        ("Answered, no outcome", f"{report.total('no_record'):,.0f}"),
    ]
    for i, (label, value) in enumerate(headline):
        bx = x0 + i * (width / 6)
        pdf.box(bx, 80, width / 6 - 6, 44, (0.94, 0.95, 0.97))
        pdf.text(bx + 6, 104, value, 15, bold=True, colour=_BLUE)
        pdf.text(bx + 6, 118, label, 7)
    step(1)
    # Claims table: claimed, confirmed, withdrawn, pending.
    y = 146.0
    pdf.text(x0, y, "Avoided activity claimed on the call, and the follow-up check", 11,
             bold=True)  # fmt: skip
    y += 16
    cols = [x0, x0 + 210, x0 + 285, x0 + 360, x0 + 435, x0 + 515]
    for i, h in enumerate(("", "claimed", "confirmed", "withdrawn", "pending")):
        pdf.text(cols[i + 1] - 6 if i else x0, y, h, 8, bold=True,
                 align="right" if i else "left")  # fmt: skip
    for claim in CLAIMS:
        y += 13
        got = [report.claim_total(claim, w) for w in ("claimed", "confirmed", "withdrawn")]
        pdf.text(x0, y, CLAIM_LABELS[claim], 9)
        for i, v in enumerate([*got, got[0] - got[1] - got[2]]):
            pdf.text(cols[i + 2] - 6, y, f"{v:,}", 9, align="right")
    pdf.line(x0, y + 5, x0 + width, y + 5, _GREY)
    y += 18
    months = report.months()[-12:]
    labels = [_month_label(m) for m in months]
    colours = {"care_home": _BLUE, "prison": _ORANGE, "home": _GREEN}
    bars(pdf, x0, y, width, 170, labels, [
        (KIND_LABELS[k], colours[k], [report.total("calls", month=m, site_kind=k) for m in months])
        for k in SITE_KINDS], "Calls by month and setting")  # fmt: skip
    step(1)
    y += 182
    claimed_series = [
        ("Confirmed", _GREEN, [sum(report.claim_total(c, "confirmed", month=m)
                                   for c in CLAIMS[:3]) for m in months]),
        ("Withdrawn", _RED, [sum(report.claim_total(c, "withdrawn", month=m)
                                 for c in CLAIMS[:3]) for m in months]),
        ("Pending", _GREY, [sum(report.claim_total(c, "claimed", month=m)
                                - report.claim_total(c, "confirmed", month=m)
                                - report.claim_total(c, "withdrawn", month=m)
                                for c in CLAIMS[:3]) for m in months]),
    ]  # fmt: skip
    bars(pdf, x0, y, width, 170, labels, claimed_series,
         "Admissions, A&E attendances and prison transfers avoided, by follow-up result")
    step(1)
    y += 182
    bands = report.wait_bands()
    bars(pdf, x0, y, width * 0.48, 150, list(WAIT_BAND_LABELS),
         [("Answered calls", _BLUE, bands)], "Time to answer")  # fmt: skip
    # The table by setting beside it.
    tx = x0 + width * 0.54
    pdf.text(tx, y + 10, "By setting", 10, bold=True)
    ty = y + 28
    heads = ("", "calls", "≤60 s", "≤5 min", "aband.")
    tcols = [tx, tx + 120, tx + 160, tx + 200, tx + 236]
    for i, h in enumerate(heads):
        pdf.text(tcols[i], ty, h, 7.5, bold=True, align="right" if i else "left")
    for k in SITE_KINDS:
        ty += 13
        a = report.total("answered", site_kind=k)
        cells = [f"{report.total('calls', site_kind=k):,.0f}",
                 _pct(report.total("within_60s", site_kind=k), a),
                 _pct(report.total("within_5min", site_kind=k), a),
                 f"{report.total('abandoned', site_kind=k):,.0f}"]
        pdf.text(tx, ty, KIND_LABELS[k], 8)
        for i, cell in enumerate(cells):
            pdf.text(tcols[i + 1], ty, cell, 8, align="right")
    step(1)
    # Page 2: savings and their assumptions, outcomes, top sites, counting rules.
    pdf.new_page()
    y = 50.0
    pdf.text(x0, y, "Estimated savings (on confirmed claims)", 12, bold=True)
    y += 14
    y = pdf.wrap(x0, y, width, "Unit costs are editable assumptions kept in "
                 "records/data/unit_costs.csv, each with its source; confirm them locally "
                 "before quoting these estimates. Controlled evaluations found smaller "
                 "effects than raw counts (Hex et al. 2015), so confirmed claims are the "
                 "headline and claimed ones are shown for comparison.")  # fmt: skip
    y += 6
    scols = [x0, x0 + 250, x0 + 320, x0 + 380, x0 + 440, x0 + 515]
    for i, h in enumerate(("item", "unit cost", "claimed", "confirmed", "estimate")):
        pdf.text(scols[i + 1] - 6 if i else x0, y, h, 8, bold=True,
                 align="right" if i else "left")  # fmt: skip
    total = 0.0
    for s in report.savings:
        y += 13
        total += s.confirmed_gbp
        pdf.text(x0, y, f"{s.unit.label} ({s.unit.year})", 8.5)
        for i, text in enumerate((f"£{s.unit.cost_gbp:,.0f}", f"{s.claimed:,}", f"{s.confirmed:,}",
                               f"£{s.confirmed_gbp:,.0f}")):
            pdf.text(scols[i + 2] - 6, y, text, 8.5, align="right")
    y += 14
    pdf.text(x0, y, "Total estimate on confirmed claims", 9, bold=True)
    pdf.text(scols[5] - 6, y, f"£{total:,.0f}", 9, bold=True, align="right")
    y += 14
    for s in report.savings:
        y = pdf.wrap(x0, y, width, f"{s.unit.label}: {s.unit.source}", 7)
    y += 10
    pdf.text(x0, y, "Outcomes recorded", 12, bold=True)
    outcomes = report.outcome_totals()
    table = codes.outcomes()
    for code, n in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        y += 12
        label = table[code].label if code in table else code
        pdf.text(x0, y, label, 8.5)
        pdf.text(x0 + 300, y, f"{n:,}", 8.5, align="right")
    y += 22
    pdf.text(x0, y, "Calls per site (busiest 20)", 12, bold=True)
    y += 14
    for i, h in enumerate(("site", "setting", "calls", "answered", "≤5 min", "abandoned")):
        pdf.text([x0, x0 + 200, x0 + 330, x0 + 390, x0 + 450, x0 + 515][i], y, h, 8, bold=True,
                 align="left" if i < 2 else "right")
    for site in report.sites[:20]:
        y += 12
        pdf.text(x0, y, site.site_name[:40], 8)
        pdf.text(x0 + 200, y, KIND_LABELS.get(site.site_kind, site.site_kind), 8)
        figures = (f"{site.calls:,}", f"{site.answered:,}",
                   _pct(site.within_5min, site.answered), f"{site.abandoned:,}")
        for i, figure in enumerate(figures):
            pdf.text([x0 + 330, x0 + 390, x0 + 450, x0 + 515][i], y, figure, 8, align="right")
    y += 22
    pdf.wrap(x0, y, width, "How these are counted: a call counts in the UTC month it was "
             "requested; time to answer is answered minus requested, against the 60-second "
             f"(NHS 111) and {ANSWER_5MIN / 60:.0f}-minute (Airedale hub) standards. Abandoned: "
             "the caller hung up while waiting. A claim is confirmed or withdrawn by the "
             "72-hour or 7-day follow-up check (an unplanned attendance or admission withdraws "
             "it) and is pending until that check is recorded.", 7.5)  # fmt: skip
    step(1)
    pdf.write(out)
