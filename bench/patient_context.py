"""Benchmark: a call's patient context and a hub-wide history search over 1,000,000 records.

A hub database (migrated to head) holds 1,000,000 records in the central store (two years,
400 sites, 200,000 patients with five records each on average, their words and their names'
word pairs indexed in ``central_record_terms``), written in bulk: executemany in one
transaction on SQLite, COPY on PostgreSQL. It is kept between runs under
``~/.cache/telehub-bench/patient-context`` (the SQLite file, and a PostgreSQL cluster's data
folder), rebuilt when the generator changes and migrated (as a hub's database is) when the
schema does. Then a real hub (``python -m hub serve``, a child process) serves it, and a
nurse's ``HubClient`` asks, as the desk does:

1. **Ring to context**: ``GET /context?call_id=`` for waiting calls of patients with earlier
   records (the desk's ``fetch_context``: the client call, not Qt), each a new call.
2. **Search**: the first page (50) of the hub-wide history by patient name, NHS number, a
   site and a month, a problem word, an outcome in a month, and no filter at all.

The baseline, measured in the same run: the hub's ``/health`` round trip through the same
client (what any request costs before the database). Each figure is printed with its ratio
to it.

    python bench/patient_context.py            # 1,000,000 records, SQLite and PostgreSQL
    python bench/patient_context.py --quick    # fewer samples, within 120 s once cached
    python bench/patient_context.py --no-pg    # SQLite only

The last line printed is one JSON object, with ``context_p99_ms`` and ``search_p99_ms`` (the
worse of the two databases; targets: each at most 300 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import sqlalchemy as sa

from hub import accounts, schema
from hub.client import HubClient
from hub.contract.history import HistoryQuery, name_pairs, search_terms
from hub.db import make_engine
from hub.models import Call
from tests.helpers.hubserver import ProcessHub
from tests.helpers.postgres import pg_bin

N = 1_000_000
PATIENTS = 200_000
SITES = 400
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_S = 2 * 365 * 86400
GENERATOR = "3"  # bump when the generated data changes: the cache is rebuilt
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "telehub-bench" / (
    "patient-context")
# The cluster runs as the postgres account when this runs as root, and root's home is closed
# to it: its data folder is kept where that account can reach it (its own, 0700).
PG_CACHE = (Path("/var/tmp/telehub-bench-patient-context-pg") if os.geteuid() == 0
            else CACHE / "pg")
FIRST = ["Edith", "Arthur", "Margaret", "Harold", "Joan", "Albert", "Dorothy", "Frank",
         "Irene", "Walter", "Doris", "Ernest", "Winifred", "Stanley", "Gladys", "Leonard",
         "Mabel", "Cyril", "Hilda", "Norman", "Phyllis", "Kenneth", "Vera", "Reginald", "Elsie",
         "Dennis", "Ivy", "Ronald", "Beryl", "Gordon", "Marjorie", "Eric", "Lilian", "Douglas",
         "Edna", "Raymond", "Violet", "Geoffrey", "Audrey", "Bernard"]
SURNAMES = [f"{a}{b}" for a in ["Brown", "Smith", "Jones", "Taylor", "Wilson", "Davies", "Evans",
                                "Thomas", "Roberts", "Johnson", "Walker", "Wright", "Robinson",
                                "Thompson", "White", "Hughes", "Edwards", "Green", "Hall",
                                "Wood"]
            for b in ("", "son", "ley", "ham", "field", "worth", "ridge", "by", "ton", "well",
                      "more", "gate", "wick", "stone", "brook")]  # 300
PROBLEMS = ("Fall in the night, hip pain", "Chest infection, more breathless",
            "More confused since this morning", "Not eating or drinking for two days",
            "Urinary infection suspected, new confusion", "Skin tear on the left forearm",
            "Chest pain on exertion", "Vomiting and diarrhoea since yesterday",
            "Pressure sore on the sacrum, worse", "Short of breath at rest",
            "Catheter blocked", "High temperature and shivering", "Dizzy after a fall",
            "Low blood sugar episode", "Swollen painful leg", "Headache after a knock")
OUTCOMES = ("advice_managed_in_place",) * 6 + ("gp_referral",) * 2 + (
    "ae_referral", "hospital_admission", "specialist_referral", "ambulance_requested")
BANDS = ((0, "low"), (5, "medium"), (7, "high"))
REC_COLS = ("uuid", "occurred_at", "call_id", "version", "requested_at", "site_id", "setting",
            "nhs_number", "presenting_problem", "news2_total", "news2_band", "news2_complete",
            "intended_action", "outcome", "nurse", "admission_avoided",
            "ae_attendance_avoided", "prison_transfer_avoided", "gp_visit_avoided",
            "follow_up_result")  # fmt: skip
VER_COLS = ("record_uuid", "version", "payload", "stored_at", "stored_by")
TERM_COLS = ("field", "term", "record_uuid", "occurred_at")


def nhs_number(i: int) -> str:
    """The i-th valid test NHS number (from 900 000 0000: never issued)."""
    n = 900_000_000 + i
    while True:
        digits = str(n)
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=False)) % 11
        if check != 10:
            return digits + str(0 if check == 11 else check)
        n += 1_000_000  # skip a number with no check digit, staying clear of the others


def patient(i: int) -> tuple[str, str, int]:
    """(name, NHS number, site) of patient i."""
    return (f"{FIRST[i % len(FIRST)]} {SURNAMES[(i // len(FIRST)) % len(SURNAMES)]}",
            nhs_number(i), i % SITES + 1)


def band(total: int) -> str:
    return next(name for floor, name in reversed(BANDS) if total >= floor)


def rows(n: int, seed: int = 13) -> Iterator[tuple[dict[str, Any], str, list[tuple[str, str]]]]:
    """Each record's log row, its version's payload, and its words."""
    rnd = random.Random(seed)
    # What depends on the patient or the problem alone, made once each.
    people: dict[int, tuple[str, str, str, list[tuple[str, str]]]] = {}
    problem_words = [[("problem", t) for t in search_terms(p)] for p in PROBLEMS]
    for j in range(n):
        who = rnd.randrange(PATIENTS)
        known = people.get(who)
        if known is None:
            name, nhs, site = patient(who)
            # What the history and the context read of a version (the rest are columns).
            payload = json.dumps({"patient": {"name": name, "nhs_number": nhs,
                                              "usual_news2": 2, "dnacpr": who % 3 == 0},
                                  "sbard": {"decision": "Review in 4 hours; call back if "
                                            "worse"}})
            known = people[who] = (f"Site {site}", nhs, payload,
                                   [("name", t) for t in search_terms(name)]
                                   + [("pair", t) for t in name_pairs(name)])
        site_name, nhs, payload, name_words = known
        at = START + timedelta(seconds=SPAN_S * j / n + rnd.random())
        k = rnd.randrange(len(PROBLEMS))
        total = min(20, int(rnd.expovariate(1 / 3)))
        outcome = OUTCOMES[rnd.randrange(len(OUTCOMES))]
        claim = outcome in ("advice_managed_in_place", "gp_referral") and rnd.random() < 0.4
        follow = (None if not claim or rnd.random() < 0.2 else
                  "withdrawn" if rnd.random() < 0.12 else "confirmed")
        row = {"uuid": uuid.UUID(int=rnd.getrandbits(128)), "occurred_at": at,
               "call_id": f"c{j}", "version": 1, "requested_at": at,
               "site_id": site_name, "setting": "care_home", "nhs_number": nhs,
               "presenting_problem": PROBLEMS[k], "news2_total": total,
               "news2_band": band(total), "news2_complete": True,
               "intended_action": "ambulance_999", "outcome": outcome, "nurse": "nina",
               "admission_avoided": claim, "ae_attendance_avoided": claim,
               "prison_transfer_avoided": False, "gp_visit_avoided": False,
               "follow_up_result": follow}  # fmt: skip
        yield row, payload, name_words + problem_words[k]


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
            "VALUES (:id, :name, 'care_home', :hash, true, :at)"),
            [{"id": i, "name": f"Site {i}", "hash": f"{i:064d}", "at": now}
             for i in range(1, SITES + 1)])  # fmt: skip


def fill_sqlite(path: Path, n: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    _sites(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=MEMORY")

    def sql(table: str, cols: tuple[str, ...]) -> str:
        return f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"

    stored = _sqlite_value(datetime.now(UTC))
    recs: list[list[Any]] = []
    vers: list[tuple[Any, ...]] = []
    terms: list[tuple[Any, ...]] = []
    db.execute("BEGIN")
    for row, payload, words in rows(n):
        u, at = row["uuid"].hex, _sqlite_value(row["occurred_at"])
        recs.append([_sqlite_value(row[c]) for c in REC_COLS])
        vers.append((u, 1, payload, stored, "staff:1"))
        terms += [(f, t, u, at) for f, t in words]
        if len(recs) == 50_000:
            db.executemany(sql("central_records", REC_COLS), recs)
            db.executemany(sql("central_record_versions", VER_COLS), vers)
            db.executemany(sql("central_record_terms", TERM_COLS), terms)
            recs, vers, terms = [], [], []
    db.executemany(sql("central_records", REC_COLS), recs)
    db.executemany(sql("central_record_versions", VER_COLS), vers)
    db.executemany(sql("central_record_terms", TERM_COLS), terms)
    db.commit()
    db.execute("ANALYZE")
    db.close()


def fill_postgres(url: str, n: int) -> None:
    import psycopg

    engine = make_engine(url)
    schema.upgrade(engine)
    _sites(engine)
    engine.dispose()
    stored = datetime.now(UTC)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur:
            # Indexes after the load: one sort each instead of a million inserts into each.
            cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                        "('central_records', 'central_record_versions', "
                        "'central_record_terms') AND indexname NOT LIKE '%pkey'")
            indexes = cur.fetchall()
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            with cur.copy(f"COPY central_records ({','.join(REC_COLS)}) FROM STDIN") as cr:
                pending: list[tuple[Any, ...]] = []
                words_of: list[tuple[Any, ...]] = []
                for row, payload, words in rows(n):
                    cr.write_row([row[c] for c in REC_COLS])
                    pending.append((row["uuid"], 1, payload, stored, "staff:1"))
                    words_of += [(f, t, row["uuid"], row["occurred_at"]) for f, t in words]
            with cur.copy(f"COPY central_record_versions ({','.join(VER_COLS)}) "
                          "FROM STDIN") as cv:
                for item in pending:
                    cv.write_row(item)
            with cur.copy(f"COPY central_record_terms ({','.join(TERM_COLS)}) FROM STDIN") as ct:
                for item in words_of:
                    ct.write_row(item)
            for _, definition in indexes:
                cur.execute(definition)
        conn.commit()
        conn.autocommit = True
        for table in ("central_records", "central_record_versions", "central_record_terms"):
            conn.execute(f"VACUUM ANALYZE {table}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def cached_postgres(folder: Path) -> Iterator[tuple[str, bool] | None]:
    """A PostgreSQL cluster whose data folder is kept in ``folder`` between runs (made with
    initdb the first time); yields its URL and whether it was made now."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, sock = folder / "data", folder / "sock"
    made = not (data / "PG_VERSION").exists()
    if made:
        shutil.rmtree(folder, ignore_errors=True)
        sock.mkdir(parents=True)
        if run_as:
            for path in (folder, sock):
                shutil.chown(path, "postgres")
        subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    port = _free_port()
    opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c shared_buffers=256MB -c max_wal_size=4GB")  # fmt: skip
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-o", opts, "-w", "-l",
                    str(folder / "log"), "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", made
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)


def _ready(engine: sa.Engine) -> bool:
    """The cached database holds this generator's data, migrated to the schema's head.

    A cache at an older revision is migrated (as a hub's own database would be: the
    migrations fill what they add for the records held) rather than rebuilt; one whose
    revision this code does not know, or another generator's, is rebuilt."""
    try:
        with engine.connect() as conn:
            marker = conn.execute(sa.text("SELECT detail FROM record_audit_events "
                                          "WHERE action = 'bench'")).scalar()
        if marker != f"patient-context {GENERATOR} {N}":
            return False
        if schema.current_revision(engine) != schema.head_revision():
            t = time.perf_counter()
            schema.upgrade(engine)
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
            print(f"{engine.dialect.name}: cache migrated to {schema.head_revision()} in "
                  f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
    except Exception as e:  # an unknown revision, a broken file: rebuilt, as before
        print(f"{engine.dialect.name}: cache not usable ({type(e).__name__}): rebuilt",
              file=sys.stderr)
        return False
    return True


def _mark(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO record_audit_events (at, actor, actor_name, actor_role, action, "
            "detail) VALUES (:at, 'bench', 'bench', 'bench', 'bench', :d)"),
            {"at": datetime.now(UTC), "d": f"patient-context {GENERATOR} {N}"})


def _reset(engine: sa.Engine) -> None:
    """What one run adds (calls, staff, tokens, audit rows) goes before the next."""
    with engine.begin() as conn:
        for sql in ("DELETE FROM record_audit_events WHERE action != 'bench'",
                    "DELETE FROM resident_audit_events", "DELETE FROM call_participants",
                    "DELETE FROM calls", "DELETE FROM auth_tokens", "DELETE FROM staff"):
            conn.execute(sa.text(sql))


def prepare(url: str, fill: Callable[[], None], fresh: bool) -> tuple[str, float]:
    """The database ready for a run (built if the cache does not hold it), and the nurse's
    token; the seconds spent building (0 when cached)."""
    engine = make_engine(url)
    built = 0.0
    if fresh or not _ready(engine):
        engine.dispose()
        t = time.perf_counter()
        fill()
        built = time.perf_counter() - t
        engine = make_engine(url)
        _mark(engine)
    _reset(engine)
    from sqlalchemy.orm import sessionmaker

    with sessionmaker(engine).begin() as s:
        nina = accounts.add_staff(s, "nina", "nurse", "correct horse battery", "Nina")
        token = accounts.issue_token(s, nina, timedelta(hours=2)).token
    engine.dispose()
    return token, built


def waiting_calls(url: str, count: int, seed: int = 5) -> list[str]:
    """Calls waiting in the queue, each about a patient with earlier records."""
    rnd = random.Random(seed)
    engine = make_engine(url)
    ids = []
    rows = []
    for k in range(count):
        name, nhs, site = patient(rnd.randrange(PATIENTS))
        ids.append(f"bench-{k}-{uuid.uuid4().hex[:8]}")
        rows.append({"id": ids[-1], "site_id": site, "request_id": f"r{k}",
                     "reason": "Breathless", "urgency": "urgent", "state": "waiting",
                     "requeued": False, "requested_at": datetime.now(UTC),
                     "patient": {"name": name, "nhs_number": nhs}, "news2_total": 6,
                     "news2_band": "medium", "news2_complete": True})
    with engine.begin() as conn:
        conn.execute(sa.insert(Call.__table__), rows)
    engine.dispose()
    return ids


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max_ms": round(ordered[-1], 2), "n": len(ordered)}


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def measure(url: str, token: str, samples: int) -> dict[str, Any]:
    calls = waiting_calls(url, samples + 5)
    hub = ProcessHub(url)
    try:
        with httpx.Client(timeout=30) as http:
            client = HubClient(http, hub.http, token)
            for _ in range(20):
                client.round_trip_ms()
            baseline = _stats([_timed(lambda: client.round_trip_ms()) for _ in range(samples)])
            found = []
            for call_id in calls[:5]:  # warm: the first requests of a fresh process
                client.context(call_id)
            context_ms = []
            for call_id in calls[5:]:
                t = time.perf_counter()
                ctx = client.context(call_id)
                context_ms.append((time.perf_counter() - t) * 1000)
                found.append(len(ctx.patient_encounters))
            rnd = random.Random(3)
            month = date(2026, 3, 1)

            def searches() -> Iterator[tuple[str, HistoryQuery]]:
                while True:
                    name, nhs, site = patient(rnd.randrange(PATIENTS))
                    yield "name", HistoryQuery(name=name)
                    yield "nhs_number", HistoryQuery(nhs_number=nhs)
                    yield "site_month", HistoryQuery(site=f"Site {site}", start=month,
                                                     end=date(2026, 3, 31))
                    yield "problem_word", HistoryQuery(
                        problem=rnd.choice(PROBLEMS).split()[0])
                    yield "outcome_month", HistoryQuery(outcome=rnd.choice(OUTCOMES),
                                                        start=month, end=date(2026, 3, 31))
                    yield "no_filter", HistoryQuery()

            by_kind: dict[str, list[float]] = {}
            source = searches()
            for _ in range(6):  # warm each kind once
                client.history(next(source)[1])
            for _ in range(samples * 6):
                kind, query = next(source)
                by_kind.setdefault(kind, []).append(_timed(lambda q=query: client.history(q)))
            every = [x for v in by_kind.values() for x in v]
            # The second page of a search: keyset, so no dearer than the first.
            first = client.history(HistoryQuery(problem="fall"))
            assert first.next_cursor is not None
            second = _stats([_timed(lambda: client.history(HistoryQuery(
                problem="fall", cursor=first.next_cursor))) for _ in range(samples)])
    finally:
        hub.stop()
    context = _stats(context_ms)
    search = _stats(every)
    base = baseline["p99_ms"] or 1.0
    return {"baseline_health": baseline, "context": context,
            "context_encounters_mean": round(statistics.mean(found), 1),
            "search": search, "search_by_kind": {k: _stats(v) for k, v in by_kind.items()},
            "search_second_page_problem": second,
            "context_p99_ratio": round(context["p99_ms"] / base, 1),
            "search_p99_ratio": round(search["p99_ms"] / base, 1)}


def report(name: str, out: dict[str, Any]) -> None:
    b = out["baseline_health"]
    print(f"{name}: baseline /health p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms", file=sys.stderr)
    for label, key, ratio in (("ring -> context", "context", "context_p99_ratio"),
                              ("history first page", "search", "search_p99_ratio")):
        f = out[key]
        print(f"{name}: {label}: p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms "
              f"({out[ratio]}x the baseline's p99), n={f['n']}", file=sys.stderr)
    for kind, f in out["search_by_kind"].items():
        print(f"{name}:   search by {kind}: p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms",
              file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples (the same 1,000,000 records): within 120 s cached")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached databases")
    args = parser.parse_args()
    samples = 40 if args.quick else 200
    CACHE.mkdir(parents=True, exist_ok=True)
    CACHE.chmod(0o700)  # generated patients only, but a hub database: its owner's alone
    result: dict[str, Any] = {"bench": "patient_context", "records": N, "target_ms": 300}
    path = CACHE / "hub.db"
    url = f"sqlite:///{path}"

    def fill_lite() -> None:
        path.unlink(missing_ok=True)
        fill_sqlite(path, N)

    if not args.no_sqlite:
        token, built = prepare(url, fill_lite, args.fresh)
        print(f"sqlite: {N:,} records " + (f"written in {built:.0f} s" if built else "cached"),
              file=sys.stderr)
        result["sqlite"] = {"fill_s": round(built, 1), **measure(url, token, samples)}
        report("sqlite", result["sqlite"])
    if not args.no_pg:
        with cached_postgres(PG_CACHE) as found:
            if found is None:
                result["postgresql"] = "skipped: no PostgreSQL server binaries"
            else:
                pg_url, made = found
                token, built = prepare(pg_url, lambda: fill_postgres(pg_url, N),
                                       args.fresh or made)
                print(f"postgresql: {N:,} records " + (
                    f"written in {built:.0f} s" if built else "cached"), file=sys.stderr)
                result["postgresql"] = {"fill_s": round(built, 1),
                                        **measure(pg_url, token, samples)}
                report("postgresql", result["postgresql"])
    measured = [result[db] for db in ("sqlite", "postgresql") if isinstance(result.get(db), dict)]
    result["context_p99_ms"] = max(m["context"]["p99_ms"] for m in measured)
    result["search_p99_ms"] = max(m["search"]["p99_ms"] for m in measured)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
