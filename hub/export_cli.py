"""``telehub-export``: the avoided-admission log or a FHIR Bundle from the hub or a database.

    telehub-export --from 2025-01-01 --to 2025-03-31 --format csv --out q1.csv --hub URL
    telehub-export --from 2025-01-01 --to 2025-03-31 --format fhir --out q1.json --db URL
    telehub-export --from 2025-01-01 --to 2025-03-31 --format pdf --out board.pdf --hub URL

With ``--hub`` the token comes from ``$TELEHUB_TOKEN`` or a sign-in (user name, then the
password asked without echo); the hub audits the export. ``--db`` reads the central store's
tables in the hub database directly (for the administrator on the server).

The file appears only when the export is complete: it is written to a hidden temporary file
beside ``--out`` and renamed over it at the end, so a failed or cancelled export leaves no
half-written file. A progress bar goes to stderr when it is a terminal (or with --progress).
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any, TextIO

import httpx

from hub.client import HubClient, HubError, HubRefused, HubUnreachable
from hub.contract.rest import Filters, RecordExportQuery
from records import export
from records.export import atomic_output

EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "fhir": "json", "pdf": "pdf", "summary": "csv"}
# The manager's report (hub/reporting/report.py): the board paper and the figures by month.
REPORT_FORMATS = ("pdf", "summary")


class ExportFailed(Exception):
    """Known trouble on this side (the database, the arguments): shown in plain words. The
    hub's trouble comes as a :class:`hub.client.HubError`, in plain words too."""


class ProgressBar:
    """A one-line progress bar on a stream, redrawn at most five times a second."""

    def __init__(self, stream: TextIO, total: int | None, unit: str, enabled: bool) -> None:
        self.stream, self.total, self.unit, self.enabled = stream, total, unit, enabled
        self.done = 0
        self._drawn = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._drawn >= 0.2:
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            part = min(1.0, self.done / self.total)
            bar = "#" * int(part * 30)
            text = f"[{bar:<30}] {part:4.0%} {self.done:,}/{self.total:,} {self.unit}"
        else:
            text = f"{self.done:,} {self.unit}"
        self.stream.write("\r" + text)
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


def _report_from_db(conn: Any, args: argparse.Namespace, handle: IO[bytes]) -> int:
    from hub.reporting import files as report_files
    from hub.reporting import report

    filters = report.Filters(start=args.start, end=args.end, site_id=args.site_id,
                             site_kind=args.site_kind)
    built = report.build(conn, filters)
    if args.format == "pdf":
        report_files.write_pdf(built, handle)
    else:
        report_files.write_summary_csv(built, handle)
    return sum(built.outcome_totals().values())


def _from_db(args: argparse.Namespace, handle: IO[bytes], show: bool) -> int:
    from records.store import create_engine

    engine = create_engine(args.db)
    try:
        with export.snapshot(engine) as conn:
            if args.format in REPORT_FORMATS:
                return _report_from_db(conn, args, handle)
            total = export.count(conn, args.start, args.end)
            bar = ProgressBar(sys.stderr, total, "records", show)
            if args.format == "xlsx":
                export.write_xlsx(export.log_rows(conn, args.start, args.end), handle, bar)
            elif args.format == "fhir":
                from hub import photos  # the hub's tables: only for a Bundle from the database

                items = export.records(conn, args.start, args.end)
                for data in export.encode(export.fhir_chunks(items, bar, photos.lookup(conn))):
                    handle.write(data)
            else:
                rows = export.log_rows(conn, args.start, args.end)
                for data in export.encode(export.csv_chunks(rows, bar)):
                    handle.write(data)
            bar.finish()
    except Exception as exc:
        import sqlalchemy.exc

        if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
            # The statement's parameters are hidden (create_engine); the type says enough.
            raise ExportFailed(f"the database could not be read ({type(exc).__name__}); "
                               "is --db the hub's database, upgraded to its latest schema?"
                               ) from None  # fmt: skip
        raise
    finally:
        engine.dispose()
    return total


def _sign_in(hub: HubClient, user: str | None) -> None:
    """The token from $TELEHUB_TOKEN, or a sign-in (user name, then the password unechoed)."""
    token = os.environ.get("TELEHUB_TOKEN")
    if token:
        hub.token = token
        return
    if not sys.stdin.isatty() and user is None:
        raise ExportFailed("set TELEHUB_TOKEN, or run in a terminal to sign in")
    username = user or input("user name: ")
    password = getpass.getpass("password: ")
    try:
        hub.sign_in(username, password)
    except HubRefused:
        raise ExportFailed("sign-in refused: wrong user name or password") from None


def _from_hub(args: argparse.Namespace, handle: IO[bytes], show: bool) -> int:
    with httpx.Client() as http:
        hub = HubClient(http, args.hub)
        try:
            _sign_in(hub, args.user)
            if args.format in REPORT_FORMATS:
                filters = Filters(start=args.start, end=args.end, site_id=args.site_id,
                                  site_kind=args.site_kind)  # fmt: skip
                exporting = hub.export_report(filters, args.format)
            else:
                exporting = hub.export_records(
                    RecordExportQuery(start=args.start, end=args.end, format=args.format))
            with exporting as download:
                bar = ProgressBar(sys.stderr, None, "bytes", show)
                for data in download.blocks:
                    handle.write(data)
                    bar(len(data))
                bar.finish()
        except HubUnreachable as exc:
            raise ExportFailed(f"cannot reach the hub at {args.hub} ({exc.summary})") from None
        except HubRefused as exc:
            if exc.status not in (401, 403):
                raise
            raise ExportFailed(f"the hub refused the export (HTTP {exc.status}): it needs a "
                               "signed-in manager") from None  # fmt: skip
    return download.records


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="telehub-export",
        description="Export the avoided-admission log (CSV, XLSX) or a FHIR R4 Bundle.",
    )
    parser.add_argument("--from", dest="start", type=date.fromisoformat, required=True,
                        help="first day (YYYY-MM-DD, UTC) of calls to export")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, required=True,
                        help="last day (YYYY-MM-DD, UTC), included")
    parser.add_argument("--format", choices=sorted(EXTENSIONS), default="csv",
                        help="csv, xlsx or fhir: the log; pdf: the board paper with charts; "
                             "summary: the report's figures by month and setting (CSV)")
    parser.add_argument("--site-id", type=int, help="pdf and summary: one site only")
    parser.add_argument("--site-kind", choices=("care_home", "prison", "home"),
                        help="pdf and summary: one setting only")
    parser.add_argument("--out", type=Path, required=True, help="file to write")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--hub", help="the hub's URL, e.g. https://hub.example.nhs.uk")
    source.add_argument("--db", help="a SQLAlchemy URL of the hub database")
    parser.add_argument("--user", help="user name for the sign-in (without TELEHUB_TOKEN)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None,
                     help="always show the progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    if args.end < args.start:
        parser.error("--to is before --from")
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # run the clean-up of the temporary file


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    show = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        with atomic_output(args.out) as handle:
            count = (_from_hub if args.hub else _from_db)(args, handle, show)
    except (ExportFailed, HubError) as exc:
        print(f"telehub-export: {exc}; nothing was written", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ntelehub-export: cancelled; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"telehub-export: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"telehub-export: {count:,} records to {args.out} in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
