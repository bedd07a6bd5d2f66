"""The manager's report over HTTP: figures, drill-down to the calls and records, and files.

Routes (under ``/api/v1``; filters on every one: ``from`` and ``to`` UTC days, both
included, on when the call was requested; ``site_id``; ``site_kind``):

* ``GET /reports/summary``: :class:`hub.contract.rest.Report` as JSON: calls, answer times,
  abandoned and lost calls, outcomes, claims (claimed / confirmed / withdrawn) by month and
  setting, calls per site, and savings estimates with their unit costs and sources.
* ``GET /reports/drill?figure=&month=&limit=&offset=``: the calls or records behind one
  figure (:data:`hub.reporting.report.CALL_FIGURES`, ``records``, ``outcome:<code>``,
  ``claimed|confirmed|withdrawn|pending:<claim>``), oldest first, a page at a time.
* ``GET /reports:export?format=summary|csv|xlsx|fhir|pdf``: the summary as CSV, the log of
  the report's records as CSV, an XLSX workbook (summary, claims and log sheets), a FHIR R4
  Bundle, or the PDF board paper. ``X-Record-Count`` gives the records behind it.

The figures come from the report's roll-ups where they can (hub/reporting/report.py); before it
answers, each route rebuilds the days marked since (hub/reporting/rollup.py; today is left to be
read live), so the first report of a day pays for bringing the day before up to date.

Who: managers only. The figures are aggregates, but a drill-down names calls and records and
the files carry the log, which is clinical data; the administrator runs the service and gets
no clinical data (as in hub/central_store.py), so admin is refused here too. Nurses,
specialists and sites are refused (403).

Audit (``record_audit_events``): one ``report`` row per summary, one ``read`` row per
drill-down page (the figure and the number of rows), one ``export`` row per file (filters,
format, record count). Details hold filters and counts, never patient data.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hub import photos
from hub.central_store import CentralStore
from hub.contract.fields import Count, Day, RowId, Text
from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import MAX_PAGE, ReportFormat, Setting
from hub.db import utcnow
from hub.reporting import drill as drilldown
from hub.reporting import files as report_files
from hub.reporting import report, rollup
from hub.routes.deps import SIGNED_IN, EngineDep, SessionDep, refusals, require
from records import export

__all__ = ["REPORTERS", "router"]

log = logging.getLogger("telehub.hub.reports")

REPORTERS = (StaffRole.MANAGER,)
_MEDIA = {
    "summary": "text/csv; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "fhir": "application/fhir+json",
    "pdf": "application/pdf",
}
EXTENSIONS = {"summary": "summary.csv", "csv": "csv", "xlsx": "xlsx", "fhir": "json",
              "pdf": "pdf"}  # fmt: skip

router = APIRouter(prefix="/api/v1", tags=["reports"], responses=refusals(*SIGNED_IN, 422))
Manager = Annotated[Principal, Depends(require(*REPORTERS))]


def _refreshed(engine: sa.Engine) -> sa.Engine:
    """The database, its report roll-ups first rebuilt for days marked before today.

    Today is written all day, so it is read live. Rebuilding is only quicker reading: a
    day still marked is read live, so a failed rebuild (the database busy) is only logged.
    """
    try:
        rollup.refresh_now(engine, before=utcnow().date())
    except OperationalError:
        log.warning("report roll-ups not rebuilt (database busy); reading those days live")
    return engine


def filters(
    start: Annotated[Day, Query(alias="from")],
    end: Annotated[Day, Query(alias="to")],
    site_id: RowId | None = None,
    site_kind: Setting | None = None,
) -> report.Filters:
    if end < start:
        raise HTTPException(422, "'to' is before 'from'")
    if (end - start).days > 3660:
        raise HTTPException(422, "a report covers at most ten years")
    return report.Filters(start=start, end=end, site_id=site_id, site_kind=site_kind)


FiltersDep = Annotated[report.Filters, Depends(filters)]


def _audit(session: Session, principal: Principal, action: str, detail: str) -> None:
    CentralStore(session, principal).audit(action, [(None, None, detail[:500])])


def _describe(f: report.Filters) -> str:
    return (f"from={f.start} to={f.end} site_id={f.site_id or 'all'} "
            f"site_kind={f.site_kind or 'all'}")  # fmt: skip


@router.get("/reports/summary")
def summary(session: SessionDep, engine: EngineDep, principal: Manager,
            f: FiltersDep) -> Response:  # fmt: skip
    """Every figure of the dashboard for these filters, from one database snapshot."""
    with export.snapshot(_refreshed(engine)) as conn:
        built = report.build(conn, f)
    _audit(session, principal, "report", _describe(f))
    return Response(built.model_dump_json(), media_type="application/json")


@router.get("/reports/drill")
def drill(
    session: SessionDep,
    engine: EngineDep,
    principal: Manager,
    f: FiltersDep,
    figure: Annotated[Text, Query(max_length=60)],
    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Count = 0,
) -> Response:
    """The calls or records behind one figure (no patient data), a page at a time."""
    try:
        drilldown.Figure.parse(figure)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    with export.snapshot(_refreshed(engine)) as conn:
        page = drilldown.drill(conn, f, figure, month=month, limit=limit, offset=offset)
    _audit(session, principal, "read", f"report drill figure={figure} month={month or 'all'} "
           f"{_describe(f)} offset={offset} rows={len(page.rows)}")  # fmt: skip
    return Response(page.model_dump_json(), media_type="application/json")


def _record_count(conn: sa.Connection, f: report.Filters) -> int:
    return drilldown.count(conn, f, "records")


@router.get("/reports:export", response_class=StreamingResponse, responses={
    200: {"content": {media.split(";")[0]: {} for media in _MEDIA.values()}}})
def export_report(session: SessionDep, engine: EngineDep, principal: Manager, f: FiltersDep,
                  format: ReportFormat = "pdf") -> StreamingResponse:  # fmt: skip
    """The report as a file, streamed; XLSX and PDF are built whole first (Content-Length)."""
    conn = export.snapshot(_refreshed(engine))
    try:
        count = _record_count(conn, f)
        # Audited once the file is built (committed with the request): on SQLite the audit
        # row holds the write lock until then, and a workbook can take seconds to build.
        detail = (f"report {_describe(f)} format={format} records={count} "
                  f"as_of={utcnow().isoformat()}")  # fmt: skip
        headers = {
            "X-Record-Count": str(count),
            "Content-Disposition": f'attachment; filename="telehub-{f.start}-{f.end}.'
                                   f'{EXTENSIONS[format]}"',
        }  # fmt: skip
        if format in ("xlsx", "pdf", "summary"):
            # Written whole to a spool file (a zip, or a small document), then streamed.
            spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the stream)
            try:
                built = report.build(conn, f)
                if format == "xlsx":
                    report_files.write_xlsx(built, report_files.filtered_log(conn, f), spool)
                elif format == "pdf":
                    report_files.write_pdf(built, spool)
                else:
                    report_files.write_summary_csv(built, spool)
                _audit(session, principal, "export", detail)
            except BaseException:
                spool.close()
                raise
            finally:
                conn.close()
            headers["Content-Length"] = str(spool.tell())
            spool.seek(0)

            def spooled() -> Iterator[bytes]:
                with spool:
                    while block := spool.read(1 << 16):
                        yield block

            return StreamingResponse(spooled(), media_type=_MEDIA[format], headers=headers)
        _audit(session, principal, "export", detail)
    except BaseException:
        conn.close()
        raise

    def streamed() -> Iterator[bytes]:
        try:
            if format == "fhir":
                yield from export.encode(export.fhir_chunks(
                    report_files.filtered_records(conn, f), photos=photos.lookup(conn)))
            else:
                yield from export.encode(export.csv_chunks(report_files.filtered_log(conn, f)))
        finally:
            conn.close()

    return StreamingResponse(streamed(), media_type=_MEDIA[format], headers=headers)

