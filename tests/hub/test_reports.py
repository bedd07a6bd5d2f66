"""The manager's report against a history counted by hand (tests/helpers/report_fixture.py),
on SQLite and PostgreSQL: the figures, the drill-down, the routes' roles and the files."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hub.config import HubConfig
from hub.contract import rest
from hub.db import unit_of_work
from hub.reporting import drill, report
from hub.reporting.files import SUMMARY_HEADER
from tests.helpers import report_fixture as fx
from tests.helpers.hubserver import HubDatabase, ThreadedHub

JAN_FEB = {"from": "2025-01-01", "to": "2025-02-28"}


@pytest.fixture
def history(hubdb: HubDatabase) -> fx.History:
    return fx.seed(hubdb)


def _build(db: HubDatabase, **kw: object) -> rest.Report:
    filters = report.Filters(start=date(2025, 1, 1), end=date(2025, 2, 28), **kw)
    with db.sessions.kw["bind"].connect() as conn:
        return report.build(conn, filters)


def test_figures_match_the_hand_count(hubdb: HubDatabase, history: fx.History) -> None:
    r = _build(hubdb)
    total = {f: r.total(f) for f in ("calls", "answered", "within_60s", "within_5min",
                                      "abandoned", "abandoned_after_30s", "caller_lost",
                                      "no_record", "open")}  # fmt: skip
    assert total == {"calls": 10, "answered": 7, "within_60s": 4, "within_5min": 6,
                     "abandoned": 2, "abandoned_after_30s": 1, "caller_lost": 1,
                     "no_record": 1, "open": 1}  # fmt: skip
    jan_care = next(c for c in r.calls if (c.month, c.site_kind) == ("2025-01", "care_home"))
    assert (jan_care.calls, jan_care.answered, jan_care.within_60s, jan_care.within_5min,
            jan_care.abandoned, jan_care.no_record) == (5, 3, 1, 2, 2, 1)  # fmt: skip
    assert jan_care.wait_bands == (1, 0, 1, 0, 1)
    assert jan_care.answer_s_total == pytest.approx(30 + 90 + 400)
    feb_home = next(c for c in r.calls if (c.month, c.site_kind) == ("2025-02", "home"))
    assert (feb_home.calls, feb_home.answered, feb_home.open) == (2, 1, 1)
    assert r.months() == ["2025-01", "2025-02"]
    # Claims: claimed = confirmed + withdrawn + pending, the latest follow-up decides.
    claims = {c: tuple(r.claim_total(c, w) for w in ("claimed", "confirmed", "withdrawn"))
              for c in rest.CLAIMS}  # fmt: skip
    assert claims == {"admission": (2, 1, 1), "ae_attendance": (2, 1, 1),
                      "prison_transfer": (1, 0, 0), "ambulance_conveyance": (2, 1, 1)}
    assert r.outcome_totals() == {"advice_managed_in_place": 3, "gp_referral": 2,
                                  "hospital_admission": 1}  # fmt: skip
    sites = {s.site_name: (s.calls, s.answered, s.abandoned) for s in r.sites}
    assert sites == {"Moor View": (6, 4, 2), "Hawthorn Prison": (2, 2, 0),
                     "Gold Line 1": (2, 1, 0)}  # fmt: skip
    savings = {s.unit.item: (s.claimed, s.confirmed, s.confirmed_gbp) for s in r.savings}
    costs = {u.item: u.cost_gbp for u in report.unit_costs()}
    assert savings == {"admission": (2, 1, costs["admission"]),
                       "ae_attendance": (2, 1, costs["ae_attendance"]),
                       "ambulance_conveyance": (2, 1, costs["ambulance_conveyance"]),
                       "prison_escort": (1, 0, 0.0)}  # fmt: skip
    assert all("assumption" in u.source for u in report.unit_costs())


def test_filters_by_setting_and_site(hubdb: HubDatabase, history: fx.History) -> None:
    care = _build(hubdb, site_kind="care_home")
    assert care.total("calls") == 6 and sum(care.outcome_totals().values()) == 3
    assert care.claim_total("admission", "claimed") == 2
    prison = _build(hubdb, site_id=history.sites["Hawthorn Prison"])
    assert prison.total("calls") == 2 and prison.total("caller_lost") == 1
    assert sum(prison.outcome_totals().values()) == 2
    assert prison.claim_total("prison_transfer", "claimed") == 1
    assert prison.claim_total("prison_transfer", "confirmed") == 0
    # March is outside the range: c11 and R7 are not counted, then are.
    wide = report.Filters(start=date(2025, 1, 1), end=date(2025, 3, 31))
    with hubdb.sessions.kw["bind"].connect() as conn:
        r = report.build(conn, wide)
    assert r.total("calls") == 11 and r.claim_total("admission", "claimed") == 3


def _drill(db: HubDatabase, figure: str, **kw: object) -> rest.DrillPage:
    filters = report.Filters(start=date(2025, 1, 1), end=date(2025, 2, 28))
    with db.sessions.kw["bind"].connect() as conn:
        return drill.drill(conn, filters, figure, **kw)  # type: ignore[arg-type]


def test_drill_down_finds_the_calls_and_records_behind_a_figure(
    hubdb: HubDatabase, history: fx.History
) -> None:
    no_record = _drill(hubdb, "no_record")
    assert [r.call_id for r in no_record.rows] == [fx.call_id("c3")] and no_record.total == 1
    abandoned = _drill(hubdb, "abandoned", month="2025-01")
    assert [r.call_id for r in abandoned.rows] == [fx.call_id("c4"), fx.call_id("c5")]
    assert all(r.record_uuid is None and r.end_reason == "abandoned" for r in abandoned.rows)
    withdrawn = _drill(hubdb, "withdrawn:admission")
    assert [r.record_uuid for r in withdrawn.rows] == [str(history.records["R6"])]
    assert withdrawn.rows[0].follow_up == "withdrawn"
    assert withdrawn.rows[0].claims == ("admission", "ambulance_conveyance")
    pending = _drill(hubdb, "pending:prison_transfer")
    assert [r.record_uuid for r in pending.rows] == [str(history.records["R3"])]
    assert pending.rows[0].follow_up is None and pending.rows[0].site == "Hawthorn Prison"
    confirmed = _drill(hubdb, "confirmed:ae_attendance")
    assert [r.record_uuid for r in confirmed.rows] == [str(history.records["R1"])]
    # A call figure shows the record made on the call, if any.
    lost = _drill(hubdb, "caller_lost")
    assert lost.rows[0].record_uuid == str(history.records["R4"])
    assert lost.rows[0].outcome == "gp_referral" and lost.rows[0].answer_s == 50
    # Pages: 10 calls, 4 a page.
    first = _drill(hubdb, "calls", limit=4)
    assert (first.total, len(first.rows), first.next_offset) == (10, 4, 4)
    last = _drill(hubdb, "calls", limit=4, offset=8)
    assert (len(last.rows), last.next_offset) == (2, None)
    seen = {r.call_id for r in first.rows} | {r.call_id for r in last.rows}
    assert len(seen) == 6
    with pytest.raises(ValueError):
        drill.Figure.parse("claimed:unicorns")


def test_the_report_reads_aggregates_through_the_indexes(hubdb: HubDatabase) -> None:
    engine = hubdb.sessions.kw["bind"]
    names = {i["name"] for t in ("calls", "central_records")
             for i in sa.inspect(engine).get_indexes(t)}  # fmt: skip
    assert {"ix_calls_report", "ix_central_records_report",
            "ix_central_records_call_id"} <= names  # fmt: skip
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            f = report.Filters(start=date(2025, 1, 1), end=date(2025, 2, 28))
            stmt = sa.select(report.LOG.c.setting, sa.func.count()).where(
                *report.record_where(conn, f)).group_by(report.LOG.c.setting)
            sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "ix_central_records_report" in plan


# --- over HTTP -----------------------------------------------------------------------------


@pytest.fixture
def served(hubdb: HubDatabase, history: fx.History) -> Iterator[tuple[ThreadedHub, str]]:
    hub = ThreadedHub(HubConfig(db_url=hubdb.url)).start()
    manager = hubdb.staff("meg", "manager")
    yield hub, manager.token
    hub.stop()


def test_only_managers_get_reports(hubdb: HubDatabase) -> None:
    hub = ThreadedHub(HubConfig(db_url=hubdb.url)).start()
    try:
        manager = hubdb.staff("meg", "manager")
        others = [hubdb.site("Some Home"), *(hubdb.staff(f"u-{role}", role)
                                             for role in ("nurse", "specialist", "admin"))]
        for path in ("/api/v1/reports/summary", "/api/v1/reports/drill?figure=calls",
                     "/api/v1/reports:export?format=pdf"):
            sep = "&" if "?" in path else "?"
            url = f"{hub.http}{path}{sep}from=2025-01-01&to=2025-01-31"
            for who in others:
                r = httpx.get(url, headers={"Authorization": f"Bearer {who.token}"})
                assert r.status_code == 403, (path, who.principal.role, r.status_code)
            assert httpx.get(url).status_code == 401
            ok = httpx.get(url, headers={"Authorization": f"Bearer {manager.token}"})
            assert ok.status_code == 200, (path, ok.text)
    finally:
        hub.stop()


def test_summary_and_drill_over_http_and_audited(
    hubdb: HubDatabase, served: tuple[ThreadedHub, str]
) -> None:
    hub, token = served
    with httpx.Client(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as http:
        r = rest.Report.model_validate_json(
            http.get("/api/v1/reports/summary", params=JAN_FEB).content)
        assert r.total("calls") == 10 and r.claim_total("admission", "withdrawn") == 1
        page = rest.DrillPage.model_validate_json(http.get(
            "/api/v1/reports/drill", params={**JAN_FEB, "figure": "withdrawn:ae_attendance"}
        ).content)  # fmt: skip
        assert page.total == 1 and page.rows[0].follow_up == "withdrawn"
        assert http.get("/api/v1/reports/drill", params={**JAN_FEB, "figure": "nope"}
                        ).status_code == 422  # fmt: skip
        assert http.get("/api/v1/reports/summary", params={"from": "2025-02-01",
                                                           "to": "2025-01-01"}).status_code == 422
    with hubdb.sessions() as s:
        actions = [a for (a,) in s.execute(sa.text(
            "SELECT action FROM record_audit_events WHERE actor_role = 'manager'"))]
        details = " ".join(d for (d,) in s.execute(sa.text(
            "SELECT detail FROM record_audit_events WHERE actor_role = 'manager'")))
    assert actions.count("report") == 1 and actions.count("read") == 1
    assert "fall" not in details and "9000000009" not in details  # no patient data


def _get(hub: ThreadedHub, token: str, fmt: str, **extra: str) -> httpx.Response:
    r = httpx.get(f"{hub.http}/api/v1/reports:export",
                  params={**JAN_FEB, "format": fmt, **extra},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    return r


def test_exports_read_back(served: tuple[ThreadedHub, str], tmp_path: Path,
                           history: fx.History) -> None:  # fmt: skip
    hub, token = served
    # Summary CSV: a row per month and setting and a total row that matches the hand count.
    rows = list(csv.DictReader(io.StringIO(_get(hub, token, "summary").text)))
    assert tuple(rows[0].keys()) == SUMMARY_HEADER
    total = rows[-1]
    assert (total["month"], total["calls"], total["answered_within_60s"],
            total["abandoned_after_30s"], total["answered_no_outcome"], total["records"]) == (
            "total", "10", "4", "1", "1", "6")  # fmt: skip
    assert (total["admission_claimed"], total["admission_confirmed"],
            total["admission_withdrawn"], total["prison_transfer_pending"]) == ("2", "1", "1", "1")
    # The log as CSV: the six records in range, R7 (March) not.
    log = _get(hub, token, "csv")
    assert log.headers["X-Record-Count"] == "6"
    uuids = [row["record_uuid"] for row in csv.DictReader(io.StringIO(log.text))]
    assert sorted(uuids) == sorted(str(history.records[f"R{n}"]) for n in range(1, 7))
    # XLSX: summary, claims (each claim with its follow-up result) and the log.
    from openpyxl import load_workbook

    path = tmp_path / "r.xlsx"
    path.write_bytes(_get(hub, token, "xlsx").content)
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == ["summary", "claims", "log"]
    claims = list(book["claims"].iter_rows(min_row=2, values_only=True))
    results = sorted((c[5], c[8]) for c in claims)
    assert results == sorted([
        ("admission", "confirmed"), ("ae_attendance", "confirmed"),
        ("ambulance_conveyance", "confirmed"), ("ae_attendance", "withdrawn"),
        ("prison_transfer", "pending"), ("admission", "withdrawn"),
        ("ambulance_conveyance", "withdrawn"),
    ])  # fmt: skip
    assert len(list(book["log"].iter_rows(min_row=2))) == 6
    summary = [r for r in book["summary"].iter_rows(values_only=True) if r and r[0] == "total"]
    assert summary[0][2] == 10
    book.close()
    # FHIR: one Encounter per record, care homes only.
    bundle = json.loads(_get(hub, token, "fhir", site_kind="care_home").content)
    encounters = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"]
    assert bundle["type"] == "collection" and len(encounters) == 3
    # PDF: two pages whose text carries the figures and the assumptions.
    pdf = _get(hub, token, "pdf").content
    assert pdf.startswith(b"%PDF-") and b"/Count 2" in pdf
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) is not installed")
    out = tmp_path / "r.pdf"
    out.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert "Calls by month and setting" in text
    assert "Admissions avoided" in text and "assumption" in text
    assert "£1,800" in text  # one confirmed admission at the assumed unit cost
    assert "\f" in text.rstrip("\f")  # a second page


# Site names as their sites spell them: Polish, and Urdu (Arabic script, right to left).
LAKA, HARIPUR = "Łąka House", "ہری پور جیل"
# pdftotext marks a right-to-left run with embedding controls (RLE ... PDF); not the name's.
_BIDI_MARKS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u200e\u200f"))


def test_the_board_paper_prints_every_site_name_as_itself(
        hubdb: HubDatabase, history: fx.History, tmp_path: Path) -> None:
    from hub.models import Site
    from hub.reporting.files import write_pdf

    with unit_of_work(hubdb.sessions) as s:
        s.get_one(Site, history.sites["Moor View"]).name = LAKA
        s.get_one(Site, history.sites["Hawthorn Prison"]).name = HARIPUR
    out = tmp_path / "board.pdf"
    with out.open("wb") as f:
        write_pdf(_build(hubdb), f)
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True,
                          text=True, check=True).stdout.translate(_BIDI_MARKS)  # fmt: skip
    assert LAKA in text and HARIPUR in text
    assert "£1,800" in text and "Calls per site (busiest 20)" in text
    # Each name in its row, with its figures (6 calls at Łąka House, 2 at the prison).
    rows = {name: [line for line in text.splitlines() if name in line]
            for name in (LAKA, HARIPUR)}
    assert re.search(r"Care homes\s+6\s", rows[LAKA][0]), rows[LAKA]
    assert re.search(r"Prisons\s+2\s", rows[HARIPUR][0]), rows[HARIPUR]
    assert "?" not in "".join(rows[LAKA] + rows[HARIPUR])  # the old writer's stand-in


def test_telehub_export_writes_the_board_paper_and_summary(
    hubdb: HubDatabase, served: tuple[ThreadedHub, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hub.export_cli import main

    hub, token = served
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    pdf = tmp_path / "board.pdf"
    assert main(["--from", "2025-01-01", "--to", "2025-02-28", "--format", "pdf",
                 "--out", str(pdf), "--db", hubdb.url, "--no-progress"]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-") and b"/Count 2" in pdf.read_bytes()
    monkeypatch.setenv("TELEHUB_TOKEN", token)
    out = tmp_path / "prisons.csv"
    assert main(["--from", "2025-01-01", "--to", "2025-02-28", "--format", "summary",
                 "--site-kind", "prison", "--out", str(out), "--hub", hub.http,
                 "--no-progress"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[-1]["calls"] == "2" and rows[-1]["caller_lost"] == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.pdf", "prisons.csv"]
