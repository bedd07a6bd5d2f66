"""Benchmark: time from a site's call_request until every nurse desk has the queue_update.

One hub process (``python -m hub serve``, a real subprocess on loopback), 300 connected sites
and 10 nurse desks as real WebSocket clients in this process. Sites call in a bounded loop
(a mix of urgencies, a standing queue kept by cancelling the oldest waiting call), and each
call is timed from the moment its call_request is sent until the last desk has read the
matching ``queue_update`` (op ``added``). A bare WebSocket echo round trip to a plain
``websockets`` server in another subprocess, measured from the same client process, is the
baseline. The last line printed is one JSON object with the figures.

    python bench/hub_queue.py           # full run (1500 calls)
    python bench/hub_queue.py --quick   # within 60 s on a 2-core machine
    python bench/hub_queue.py --profile /tmp/hub.prof   # the hub runs under cProfile
    python bench/hub_queue.py --backlog  # ... while a desk pushes record batches all along

``--backlog``: a desk process pushes 500-record batches of signed-off records
(``POST /api/v1/records:batch``, two at a time, as the SyncRunner drains a backlog) for as long
as the calls run, so the figures show what record checking costs the call queue.
``TELEHUB_RECORD_CHECKERS=0`` in the environment makes the hub check them on its own threads
instead of its record checker process, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from hub.contract import signaling as p  # noqa: E402

SITES = 300
DESKS = 10
TARGET_P99_MS = 50
WARMUP_CALLS = 20
STANDING_QUEUE = 25  # waiting calls kept in the queue; beyond it the oldest is cancelled
TIMEOUT_S = 5.0  # one call's updates must arrive within this, or the run fails


# --- subprocesses -------------------------------------------------------------------------


def _start(cmd: list[str], pattern: str, what: str) -> tuple[subprocess.Popen[str], int]:
    """Start ``cmd`` and wait (bounded) for the line that tells its loopback port."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=ROOT,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            # Keep reading so a chatty child never blocks on a full pipe.
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return proc, int(found.group(1))
    _stop(proc)
    raise RuntimeError(f"{what} did not start:\n{''.join(seen)}")


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    with contextlib.suppress(ValueError, OSError):
        for _line in proc.stdout:
            pass


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly (and cProfile writes)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _enrol(db_url: str) -> tuple[list[str], list[str]]:
    """Migrate the database and enrol sites and nurses directly; returns their tokens."""
    subprocess.run([sys.executable, "-m", "hub", "db", "upgrade", "--db", db_url],
                   check=True, cwd=ROOT, capture_output=True, timeout=60)
    from hub import accounts
    from hub.db import make_engine, session_factory, unit_of_work

    engine = make_engine(db_url)
    sessions = session_factory(engine)
    ttl = timedelta(hours=2)
    site_tokens: list[str] = []
    desk_tokens: list[str] = []
    with unit_of_work(sessions) as s:
        for i in range(SITES):
            site, _credential = accounts.add_site(s, f"Bench Care Home {i:03d}", "care_home")
            site_tokens.append(accounts.issue_token(s, site, ttl).token)
        for i in range(DESKS):
            nurse = accounts.add_staff(s, f"bench-nurse-{i}", "nurse", "queue timing phrase")
            desk_tokens.append(accounts.issue_token(s, nurse, ttl).token)
    engine.dispose()
    return site_tokens, desk_tokens


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            await ws.send(message)


async def _echo_server() -> None:
    """The baseline: a bare websockets echo server (run in its own process)."""
    async with serve(_echo, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"echo listening on {port}", flush=True)
        # Bounded: the benchmark stops it long before; this only guards against orphans.
        await asyncio.sleep(600)


# --- clients ------------------------------------------------------------------------------


@dataclass
class Run:
    """What is in flight: call sends and the desks' arrivals, keyed by the call's reason."""

    sent_at: dict[str, float] = field(default_factory=dict)
    desks_seen: dict[str, int] = field(default_factory=dict)
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)
    call_ids: dict[str, str] = field(default_factory=dict)  # reason -> call_id (from the site)
    queued: dict[str, asyncio.Event] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    queued_at: dict[str, float] = field(default_factory=dict)  # call_queued reached the site
    pings: list[float] = field(default_factory=list)  # when sites saw the hub's pings


class BenchClient:
    """One hub connection: answers pings with pongs and hands on what the benchmark times."""

    def __init__(self, ws: ClientConnection, run: Run, desk: bool) -> None:
        self.ws, self.run, self.desk = ws, run, desk
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, token: str, run: Run, desk: bool) -> BenchClient:
        ws = await connect(url, ping_interval=None, max_size=2**22, open_timeout=20)
        await ws.send(p.Hello(protocol=p.PROTOCOL_VERSION, token=token,
                              client="bench/hub_queue").to_json())
        first = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if first.get("type") != "welcome":
            raise RuntimeError(f"hello refused: {first}")
        return cls(ws, run, desk)

    async def _read(self) -> None:
        run = self.run
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                now = time.perf_counter()
                # json.loads, not the pydantic models: the client's own parsing time would
                # otherwise count against the hub (the doc test checks the schema).
                msg: dict[str, Any] = json.loads(raw)
                kind = msg["type"]
                if kind == "ping":
                    if not self.desk:
                        run.pings.append(now)
                    await self.ws.send(p.Pong(t=msg.get("t")).to_json())
                elif kind == "queue_update" and self.desk and msg["op"] == "added":
                    reason = msg["entry"]["reason"]
                    if reason in run.sent_at:
                        seen = run.desks_seen.get(reason, 0) + 1
                        run.desks_seen[reason] = seen
                        if seen == DESKS:
                            run.latency_s[reason] = now - run.sent_at[reason]
                            run.done[reason].set()
                elif kind == "call_queued" and not self.desk:
                    reason = msg["request_id"]
                    run.queued_at.setdefault(reason, now)
                    run.call_ids[reason] = msg["call_id"]
                    if reason in run.queued:
                        run.queued[reason].set()
                elif kind == "error":
                    run.errors.append(str(msg))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


async def _open_all(url: str, tokens: list[str], run: Run, desk: bool) -> list[BenchClient]:
    gate = asyncio.Semaphore(40)  # under the hub's listen backlog of 128

    async def one(token: str) -> BenchClient:
        async with gate:
            return await BenchClient.open(url, token, run, desk)

    return list(await asyncio.gather(*(one(t) for t in tokens)))


async def _baseline(port: int, samples: int) -> list[float]:
    """Round trips of a frame the size of a call_request to the bare echo server."""
    frame = _request_frame("baseline-0000000000", p.Urgency.URGENT)
    out: list[float] = []
    async with connect(f"ws://127.0.0.1:{port}", ping_interval=None) as ws:
        for _ in range(samples):
            t0 = time.perf_counter()
            await ws.send(frame)
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)
            out.append(time.perf_counter() - t0)
            await asyncio.sleep(0.002)
    return out


def _request_frame(request_id: str, urgency: p.Urgency) -> str:
    return p.CallRequest(
        request_id=request_id, reason=request_id, urgency=urgency,
        intended_action=p.IntendedAction.AE,
        observations=p.PreCallObservations(respiration_rate=22, spo2=94, pulse=104,
                                           systolic_bp=108, consciousness="A",
                                           temperature=38.1),
        soft_signs=["not eating", "more confused than usual"],
    ).to_json()


async def _calls(sites: list[BenchClient], run: Run, n_calls: int, interval_s: float) -> None:
    """Bounded loop: one call every ``interval_s`` from the next site, keeping a standing
    queue of STANDING_QUEUE waiting calls by cancelling the oldest."""
    rng = random.Random(2011)  # the same mix of urgencies every run
    waiting: deque[tuple[BenchClient, str]] = deque()
    pending: list[asyncio.Task[None]] = []

    async def cancel(site: BenchClient, reason: str) -> None:
        await asyncio.wait_for(run.queued[reason].wait(), TIMEOUT_S)
        await site.ws.send(p.CallCancel(call_id=run.call_ids[reason]).to_json())

    async def wait_done(reason: str) -> None:
        try:
            await asyncio.wait_for(run.done[reason].wait(), TIMEOUT_S)
        except TimeoutError:
            run.errors.append(f"{reason}: only {run.desks_seen.get(reason, 0)} desks "
                              f"had the update after {TIMEOUT_S} s")

    start = time.perf_counter()
    for i in range(n_calls):
        # Open loop: calls leave on schedule whether or not the hub has kept up.
        delay = start + i * interval_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        site = sites[i % len(sites)]
        reason = f"bench-{i:06d}"
        urgency = rng.choices(list(p.Urgency), weights=[1, 3, 6])[0]
        run.done[reason] = asyncio.Event()
        run.queued[reason] = asyncio.Event()
        frame = _request_frame(reason, urgency)
        run.sent_at[reason] = time.perf_counter()
        await site.ws.send(frame)
        pending.append(asyncio.create_task(wait_done(reason)))
        waiting.append((site, reason))
        if len(waiting) > STANDING_QUEUE:
            pending.append(asyncio.create_task(cancel(*waiting.popleft())))
    while waiting:
        pending.append(asyncio.create_task(cancel(*waiting.popleft())))
    results = await asyncio.gather(*pending, return_exceptions=True)
    run.errors.extend(repr(r) for r in results if isinstance(r, BaseException))


def _pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) in milliseconds."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank] * 1000


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _push_records(url: str, token: str, seconds: float) -> None:
    """The backlog desk (a process of its own): push batches of new signed-off records, two
    requests at a time, for ``seconds``; prints how many were stored."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from bench.records_sync import draft

    template = [draft(n) for n in range(500)]
    stored = 0
    deadline = time.monotonic() + seconds

    def push(http: httpx.Client, round_: int) -> int:
        records = [r.model_copy(update={"uuid": uuid.uuid4(), "status": "signed_off",
                                        "signed_off_at": r.requested_at,
                                        "signed_off_by": "bench-nurse-0",
                                        "call_id": f"backlog-{round_}-{n}"})
                   for n, r in enumerate(template)]  # fmt: skip
        body = ('{"records":[' + ",".join(r.model_dump_json() for r in records) + "]}").encode()
        answer = http.post("/api/v1/records:batch", content=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        answer.raise_for_status()
        return sum(r["status"] == "stored" for r in answer.json()["results"])

    with httpx.Client(base_url=url, timeout=60) as http, ThreadPoolExecutor(2) as pool:
        rounds = 0
        while time.monotonic() < deadline:
            futures = [pool.submit(push, http, rounds + k) for k in range(2)]
            rounds += 2
            stored += sum(f.result() for f in futures)
    print(f"backlog pushed {stored} records", flush=True)


async def _measure(hub_pid: int, hub_port: int, echo_port: int, site_tokens: list[str],
                   desk_tokens: list[str], n_calls: int, interval_s: float,
                   baseline_samples: int, backlog: bool = False) -> dict[str, Any]:
    run = Run()
    url = f"ws://127.0.0.1:{hub_port}/ws"
    t0 = time.perf_counter()
    desks = await _open_all(url, desk_tokens, run, desk=True)
    sites = await _open_all(url, site_tokens, run, desk=False)
    print(f"connected {len(sites)} sites and {len(desks)} desks in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    try:
        baseline = await _baseline(echo_port, baseline_samples)
        pusher: subprocess.Popen[str] | None = None
        if backlog:
            pusher = subprocess.Popen(
                [sys.executable, __file__, "--push-records", f"http://127.0.0.1:{hub_port}",
                 desk_tokens[0], str(n_calls * interval_s + 1.0)],
                stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
            await asyncio.sleep(1.0)  # its first batches are on the wire
        t1, hub_cpu, own_cpu = time.perf_counter(), _cpu_s(hub_pid), time.process_time()
        await _calls(sites, run, n_calls, interval_s)
        elapsed = time.perf_counter() - t1
        if pusher is not None:
            out, _ = await asyncio.to_thread(pusher.communicate, timeout=120)
            pushed = re.search(r"backlog pushed (\d+)", out or "")
            if pusher.returncode != 0 or pushed is None:
                raise RuntimeError(f"the backlog desk failed: {out}")
            print(f"backlog: {int(pushed.group(1)) / (elapsed + 1.0):,.0f} records/s stored "
                  f"while the calls ran", flush=True)
        print(f"CPU while calling: hub {(_cpu_s(hub_pid) - hub_cpu) / elapsed:.0%} of a core, "
              f"this client process {(time.process_time() - own_cpu) / elapsed:.0%}", flush=True)
    finally:
        await asyncio.gather(*(c.close() for c in desks + sites))
    timed = [run.latency_s[f"bench-{i:06d}"] for i in range(WARMUP_CALLS, n_calls)
             if f"bench-{i:06d}" in run.latency_s]
    if run.errors:
        print(f"{len(run.errors)} errors, first: {run.errors[:3]}", flush=True)
    if len(timed) < (n_calls - WARMUP_CALLS) or not baseline:
        raise RuntimeError(f"only {len(timed)} of {n_calls - WARMUP_CALLS} calls were timed")
    print(f"{n_calls} calls in {elapsed:.1f} s ({n_calls / elapsed:.0f}/s offered, "
          f"standing queue {STANDING_QUEUE}); {len(timed)} timed after {WARMUP_CALLS} warm-up",
          flush=True)
    _explain_tail(run, n_calls)
    # Where the time goes: request -> call_queued (sent by the hub just before the broadcast,
    # after the call log's commit) and call_queued -> the last desk.
    ids = [f"bench-{i:06d}" for i in range(WARMUP_CALLS, n_calls)]
    to_queued = [run.queued_at[r] - run.sent_at[r] for r in ids if r in run.queued_at]
    fan_out = [run.sent_at[r] + run.latency_s[r] - run.queued_at[r]
               for r in ids if r in run.queued_at and r in run.latency_s]
    if to_queued and fan_out:
        print(f"request -> caller's call_queued: p50 {_pct(to_queued, 50):.2f} ms, "
              f"p99 {_pct(to_queued, 99):.2f} ms; call_queued -> last desk: "
              f"p50 {_pct(fan_out, 50):.2f} ms, p99 {_pct(fan_out, 99):.2f} ms", flush=True)
    return {"timed": timed, "baseline": baseline, "errors": len(run.errors)}


def _explain_tail(run: Run, n_calls: int) -> None:
    """How many slow calls overlapped one of the hub's heartbeat rounds (ping to everyone)."""
    pings = sorted(run.pings)
    slow = overlapped = 0
    for i in range(WARMUP_CALLS, n_calls):
        reason = f"bench-{i:06d}"
        took = run.latency_s.get(reason)
        if took is None or took * 1000 < TARGET_P99_MS / 2:
            continue
        slow += 1
        start, end = run.sent_at[reason] - 0.05, run.sent_at[reason] + took
        if any(start <= t <= end for t in pings):
            overlapped += 1
    rounds = len({round(t, 1) for t in pings})
    print(f"{slow} calls took over {TARGET_P99_MS / 2:.0f} ms; {overlapped} of them overlapped "
          f"a heartbeat round (pings seen in ~{rounds} bursts)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short run (within 60 s)")
    parser.add_argument("--calls", type=int, help="calls to time (default 1500, quick 400)")
    parser.add_argument("--interval-ms", type=float, default=20.0,
                        help="time between two call requests (default 20 ms = 50 calls/s)")
    parser.add_argument("--profile", metavar="FILE", help="run the hub under cProfile")
    parser.add_argument("--hub-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for 'hub serve' (repeatable), for experiments "
                        "such as --hub-arg=--heartbeat-interval=60")
    parser.add_argument("--backlog", action="store_true",
                        help="a desk pushes record batches while the calls run")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--push-records", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_server:
        asyncio.run(_echo_server())
        return 0
    if args.push_records:
        url, token, seconds = args.push_records
        _push_records(url, token, float(seconds))
        return 0
    n_calls = args.calls or (400 if args.quick else 1500)
    started = time.monotonic()
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory(prefix="telehub-bench-") as tmp:
        db_url = f"sqlite:///{tmp}/hub.db"
        try:
            site_tokens, desk_tokens = _enrol(db_url)
            hub_cmd = [sys.executable, "-m", "hub", "serve", "--db", db_url, "--port", "0",
                       "--log-level", "warning", *args.hub_arg]
            if args.profile:
                hub_cmd[1:1] = ["-m", "cProfile", "-o", args.profile]
            hub, hub_port = _start(hub_cmd, r"listening on http://127\.0\.0\.1:(\d+)", "hub")
            procs.append(hub)
            echo, echo_port = _start([sys.executable, __file__, "--echo-server"],
                                     r"echo listening on (\d+)", "echo server")
            procs.append(echo)
            print(f"hub on port {hub_port} (SQLite in {tmp}), echo server on {echo_port}; "
                  f"setup {time.monotonic() - started:.1f} s", flush=True)
            figures = asyncio.run(_measure(hub.pid, hub_port, echo_port, site_tokens, desk_tokens,
                                           n_calls, args.interval_ms / 1000,
                                           baseline_samples=300, backlog=args.backlog))
        finally:
            for proc in procs:
                _stop(proc)
    timed, baseline = figures["timed"], figures["baseline"]
    p50, p99 = _pct(timed, 50), _pct(timed, 99)
    b50, b99 = _pct(baseline, 50), _pct(baseline, 99)
    print(f"call_request -> all {DESKS} desks: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {max(timed) * 1000:.2f} ms, mean {statistics.fmean(timed) * 1000:.2f} ms")
    print(f"bare WebSocket round trip:        p50 {b50:.3f} ms, p99 {b99:.3f} ms")
    print(f"ratio: p50 {p50 / b50:.1f}x, p99 {p99 / b99:.1f}x; "
          f"total {time.monotonic() - started:.1f} s")
    print(json.dumps({
        "bench": "hub_queue", "sites": SITES, "desks": DESKS, "calls": len(timed),
        "backlog": args.backlog,
        "record_checkers": os.environ.get("TELEHUB_RECORD_CHECKERS", "1"),
        "p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
        "baseline_rtt_p50_ms": round(b50, 3), "baseline_rtt_p99_ms": round(b99, 3),
        "ratio_p50": round(p50 / b50, 1), "ratio_p99": round(p99 / b99, 1),
        "errors": figures["errors"], "target_p99_ms": TARGET_P99_MS,
        "met": p99 <= TARGET_P99_MS,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
