"""Benchmark: the manager's dashboard refresh over 1,000,000 encounters, and export times.

A hub database (migrated to head) is filled with N calls over twelve months from 400 sites
and a record for nine in ten answered calls, written with executemany (SQLite) or COPY
(PostgreSQL). That goes around the hub's writers, so the report's roll-ups are then built
as after a bulk load (``hub.reporting.rollup.rebuild_all``; timed on its own), after
one live refresh of the year (timed; the roll-up refresh must give the same figures). Then:

1. Refresh: ``hub.reporting.report.build`` (every figure of the dashboard) for the whole year, all
   sites; for one setting; for one site (live: no roll-up by site); for one month; for 40
   days across two months (day rows); p50/p99 over repeated runs.
2. Drill-down: the first page of "answered, no outcome" for the year.
3. Exports: the PDF board paper and the summary CSV for the year; the log as CSV and XLSX
   (summary, claims and log sheets) for one month.

    python bench/reports.py                 # 1,000,000 encounters, SQLite and PostgreSQL
    python bench/reports.py --quick         # 100,000, within 60 s
    python bench/reports.py --pg URL        # an existing PostgreSQL server instead of initdb

PostgreSQL runs when its server binaries are installed (a private cluster on loopback) or
``--pg`` is given. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from hub import schema
from hub.contract import rest
from hub.db import make_engine
from hub.reporting import drill, report, rollup
from hub.reporting import files as report_files
from records import export

START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = report.Filters(start=date(2025, 1, 1), end=date(2025, 12, 31))
MONTH = report.Filters(start=date(2025, 6, 1), end=date(2025, 6, 30))
DAYS_40 = report.Filters(start=date(2025, 6, 10), end=date(2025, 7, 19))
KINDS = ["care_home"] * 300 + ["prison"] * 20 + ["home"] * 80
OUTCOMES = ["advice_managed_in_place"] * 6 + ["gp_referral"] * 2 + ["ae_referral",
            "hospital_admission", "specialist_referral", "ambulance_requested"]  # fmt: skip
INTENDED = ["nothing", "gp", "nhs_111", "ambulance_999", "ae"]


def _rows(n: int, seed: int = 7) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    rnd = random.Random(seed)
    span = 365 * 86400
    for i in range(n):
        site = rnd.randrange(len(KINDS))
        kind = KINDS[site]
        requested = START + timedelta(seconds=span * i / n + rnd.random())
        roll = rnd.random()
        answered = ended = None
        reason = "completed"
        if roll < 0.03:
            reason, ended = "abandoned", requested + timedelta(seconds=rnd.expovariate(1 / 60))
        else:
            answered = requested + timedelta(seconds=rnd.expovariate(1 / 70))
            ended = answered + timedelta(seconds=300 + rnd.random() * 900)
            if roll < 0.04:
                reason = "caller_lost"
        call = {"id": str(uuid.UUID(int=rnd.getrandbits(128))), "site_id": site + 1,
                "request_id": f"r{i}", "reason": "unwell", "urgency": "urgent",
                "state": "ended", "requeued": False, "requested_at": requested,
                "answered_at": answered, "ended_at": ended, "end_reason": reason}  # fmt: skip
        record = None
        if answered is not None and rnd.random() < 0.9:
            intended = rnd.choice(INTENDED)
            hospital = intended in ("ambulance_999", "ae")
            outcome = rnd.choice(OUTCOMES)
            managed = outcome in ("advice_managed_in_place", "gp_referral")
            claim = hospital and managed
            follow = None
            if claim and rnd.random() < 0.8:
                follow = "withdrawn" if rnd.random() < 0.12 else "confirmed"
            record = {
                "uuid": uuid.UUID(int=rnd.getrandbits(128)), "occurred_at": requested,
                "call_id": call["id"], "version": 1, "requested_at": requested,
                "answered_at": answered, "ended_at": ended, "site_id": f"Site {site + 1}",
                "setting": kind, "intended_action": intended, "outcome": outcome,
                "nurse": "nina", "admission_avoided": claim and rnd.random() < 0.5,
                "ae_attendance_avoided": claim, "prison_transfer_avoided": claim
                and kind == "prison", "gp_visit_avoided": False, "follow_up_result": follow,
            }  # fmt: skip
        yield call, record


CALL_COLS = ["id", "site_id", "request_id", "reason", "urgency", "state", "requeued",
             "requested_at", "answered_at", "ended_at", "end_reason"]  # fmt: skip
REC_COLS = ["uuid", "occurred_at", "call_id", "version", "requested_at", "answered_at",
            "ended_at", "site_id", "setting", "intended_action", "outcome", "nurse",
            "admission_avoided", "ae_attendance_avoided", "prison_transfer_avoided",
            "gp_visit_avoided", "follow_up_result"]  # fmt: skip


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, uuid.UUID):
        return v.hex
    if isinstance(v, bool):
        return int(v)
    return v


def _sites(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO sites (id, name, kind, credential_hash, active, created_at) "
            "VALUES (:id, :name, :kind, :hash, :active, :at)"),
            [{"id": i + 1, "name": f"Site {i + 1}", "kind": k, "hash": f"{i:064d}",
              "active": True, "at": now} for i, k in enumerate(KINDS)])  # fmt: skip


def fill_sqlite(path: Path, n: int) -> int:
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    _sites(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    calls, recs, records = [], [], 0
    call_sql = (f"INSERT INTO calls ({','.join(CALL_COLS)}) "
                f"VALUES ({','.join('?' * len(CALL_COLS))})")  # fmt: skip
    rec_sql = (f"INSERT INTO central_records ({','.join(REC_COLS)}) "
               f"VALUES ({','.join('?' * len(REC_COLS))})")  # fmt: skip
    for call, record in _rows(n):
        calls.append([_sqlite_value(call[c]) for c in CALL_COLS])
        if record is not None:
            recs.append([_sqlite_value(record[c]) for c in REC_COLS])
        if len(calls) == 50_000:
            records += len(recs)
            db.executemany(call_sql, calls)
            db.executemany(rec_sql, recs)
            calls, recs = [], []
    records += len(recs)
    db.executemany(call_sql, calls)
    db.executemany(rec_sql, recs)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return records


def fill_postgres(url: str, n: int) -> int:
    import psycopg

    engine = make_engine(url)
    schema.upgrade(engine)
    _sites(engine)
    engine.dispose()
    records = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY calls ({','.join(CALL_COLS)}) FROM STDIN") as cc:
                pending: list[dict[str, Any]] = []
                for call, record in _rows(n):
                    cc.write_row([call[c] for c in CALL_COLS])
                    if record is not None:
                        pending.append(record)
            with cur.copy(f"COPY central_records ({','.join(REC_COLS)}) FROM STDIN") as cr:
                for record in pending:
                    cr.write_row([record[c] for c in REC_COLS])
            records = len(pending)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE calls")
        conn.execute("VACUUM ANALYZE central_records")
    return records


@contextmanager
def private_postgres() -> Iterator[str | None]:
    """A throwaway PostgreSQL cluster on loopback (as tests/conftest.py starts one), or None."""
    import os
    import socket

    from tests.helpers.postgres import pg_bin

    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    tmp = Path(tempfile.mkdtemp(prefix="telehub-bench-pg-"))
    (tmp / "sock").mkdir()
    if run_as:
        shutil.chown(tmp, "postgres")
        shutil.chown(tmp / "sock", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*run_as, initdb, "-D", str(tmp / "data"), "-U", "postgres",
                    "--auth=trust", "--no-sync", "-E", "UTF8"], check=True,
                   capture_output=True)  # fmt: skip
    opts = (f"-p {port} -k {tmp / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c shared_buffers=256MB")  # fmt: skip
    subprocess.run([*run_as, pg_ctl, "-D", str(tmp / "data"), "-o", opts, "-w", "-l",
                    str(tmp / "log"), "start"], check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(tmp / "data"), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


def same_figures(a: rest.Report, b: rest.Report) -> bool:
    """Two builds give the same figures (the float sums of seconds to within 1e-9)."""
    def figures(r: rest.Report) -> dict[str, Any]:
        out = r.model_dump(exclude={"generated_at", "elapsed_ms"})
        for c in out["calls"]:
            c.pop("answer_s_total")
        return out

    if figures(a) != figures(b):
        return False
    return all(math.isclose(x.answer_s_total, y.answer_s_total, rel_tol=1e-9, abs_tol=1e-6)
               for x, y in zip(a.calls, b.calls, strict=True))  # fmt: skip


def roll_up(engine: sa.Engine) -> dict[str, Any]:
    """Build the roll-ups after the bulk load, checked against a live refresh of the year."""
    with engine.connect() as conn:
        t = time.perf_counter()
        live = report.build(conn, YEAR)
        live_ms = round((time.perf_counter() - t) * 1000, 1)
    t = time.perf_counter()
    days = rollup.rebuild_all(engine)  # telehub-hub db rollup
    rollup_s = round(time.perf_counter() - t, 1)
    with engine.connect() as conn:
        rolled = report.build(conn, YEAR)
        tables = ("call_days", "call_months", "record_days", "record_months")
        counts = {n: conn.scalar(sa.select(sa.func.count())
                                 .select_from(getattr(report.ROLLUPS, n))) for n in tables}
    same = same_figures(rolled, live)
    print(f"{engine.dialect.name}: roll-ups of {days} days built in {rollup_s} s {counts}; "
          f"live refresh of the year {live_ms} ms; same figures: {same}", file=sys.stderr)
    if not same:
        raise SystemExit("the roll-ups disagree with the live figures")
    return {"rollup_s": rollup_s, "rollup_rows": counts, "refresh_year_all_live_ms": live_ms}


def _times(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm the cache: a dashboard refresh follows earlier ones
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 1),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1)}


def measure(engine: sa.Engine, runs: int, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        full = report.build(conn, YEAR)
        out["calls"] = int(full.total("calls"))
        out["records"] = sum(full.outcome_totals().values())
        out["refresh_year_all"] = _times(lambda: report.build(conn, YEAR), runs)
        care = YEAR.model_copy(update={"site_kind": "care_home"})
        out["refresh_year_care_homes"] = _times(lambda: report.build(conn, care), runs)
        one = YEAR.model_copy(update={"site_id": 5})
        out["refresh_year_one_site"] = _times(lambda: report.build(conn, one), runs)
        out["refresh_month_all"] = _times(lambda: report.build(conn, MONTH), runs)
        out["refresh_40_days_all"] = _times(lambda: report.build(conn, DAYS_40), runs)
        out["drill_no_outcome_page"] = _times(
            lambda: drill.drill(conn, YEAR, "no_record", limit=100), runs)
        t = time.perf_counter()
        built = report.build(conn, YEAR)
        report_files.write_pdf(built, io.BytesIO())
        out["export_pdf_year_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        report_files.write_summary_csv(report.build(conn, YEAR), io.BytesIO())
        out["export_summary_csv_year_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        with open(tmp / "month.csv", "wb") as f:
            for chunk in export.encode(export.csv_chunks(report_files.filtered_log(conn, MONTH))):
                f.write(chunk)
        out["export_csv_month_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        with open(tmp / "month.xlsx", "wb") as f:
            report_files.write_xlsx(report.build(conn, MONTH),
                                    report_files.filtered_log(conn, MONTH), f)
        out["export_xlsx_month_s"] = round(time.perf_counter() - t, 2)
        out["month_records"] = sum(report.build(conn, MONTH).outcome_totals().values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100,000 encounters: within 60 s")
    parser.add_argument("--pg", help="a PostgreSQL URL (an empty database) to use")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    runs = 5 if args.quick else 20
    result: dict[str, Any] = {"bench": "reports", "encounters": n, "target_refresh_ms": 300}
    with tempfile.TemporaryDirectory(prefix="telehub-bench-reports-") as d:
        tmp = Path(d)
        t = time.perf_counter()
        fill_sqlite(tmp / "hub.db", n)
        fill_s = round(time.perf_counter() - t, 1)
        print(f"sqlite: {n:,} calls written in {fill_s} s", file=sys.stderr)
        engine = make_engine(f"sqlite:///{tmp / 'hub.db'}")
        built = roll_up(engine)
        result["sqlite"] = {"fill_s": fill_s, **built, **measure(engine, runs, tmp)}
        engine.dispose()
        print(json.dumps(result["sqlite"]), file=sys.stderr)
        if not args.no_pg:
            with (contextmanager(lambda: iter([args.pg]))() if args.pg
                  else private_postgres()) as url:  # fmt: skip
                if url is None:
                    result["postgresql"] = "skipped: no PostgreSQL server binaries"
                else:
                    t = time.perf_counter()
                    fill_postgres(url, n)
                    fill_s = round(time.perf_counter() - t, 1)
                    print(f"postgresql: {n:,} calls written in {fill_s} s", file=sys.stderr)
                    engine = make_engine(url)
                    built = roll_up(engine)
                    result["postgresql"] = {"fill_s": fill_s, **built,
                                            **measure(engine, runs, tmp)}
                    engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
