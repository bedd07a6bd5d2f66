"""The desk's UI thread during a call: stalls, frame arrival-to-paint delay, and cold start.

1. Cold start: ``telehub-desk --ready-and-quit`` as a fresh process (offscreen Qt), from
   launch to the first event-loop turn after the window is shown (painted, taking input),
   measured from outside the process; best and worst of ``--starts`` runs.
2. One call at 640x480/30 fps through a real hub on loopback: a synthetic site caller on
   the real call engine, the real desk window (signed in, queue, answered) on this thread.
   Then the same with the caller's camera at 1280x720/30 (H.264): the ``hd_`` figures.
   - UI stalls: a 2 ms QTimer on the UI thread; a stall is how much later than due each
     timeout fires (the UI thread was busy or blocked); p50/p99/max over the call.
   - Frame delay: from a frame's arrival in the engine's sink (engine thread) to the end
     of the paint that showed it (UI thread); p50/p99/max, and frames painted per second.

Prints a human summary, then one JSON object as the last line. ``--quick`` stays within 60 s.
Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/desk_ui.py [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PASSWORD = "bench password 1"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cold_start(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "ui.desk.app", "--ready-and-quit", "--data-dir", data],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
            assert proc.stdout is not None
            line = proc.stdout.readline()
            ready = time.perf_counter() - t0
            proc.wait(30)
            if "usable after" not in line:
                raise RuntimeError(f"the desk did not report ready: {line!r}")
            times.append(ready * 1000)
    return times


def call_run(seconds: float, hd: bool = False) -> dict[str, Any]:
    import httpx
    from keyring.backends import fail
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from calls.engine import CallEngine
    from calls.media import HD, VGA, MediaSource
    from hub.client import HubClient
    from hub.config import HubConfig
    from hub.contract import signaling as p
    from hub.contract.identity import CallRole
    from records.store import Store
    from tests.helpers.hubserver import HubDatabase, ThreadedHub
    from ui import theme
    from ui.desk.auth import PasswordVault, SignedIn
    from ui.desk.media import media_factory
    from ui.desk.window import DeskParts, DeskWindow

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    theme.apply(app)
    tmp = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    db = HubDatabase(f"sqlite:///{tmp / 'hub.db'}")
    db.staff("nina", "nurse", PASSWORD)
    site = db.site("Beech House", "care_home")
    hub = ThreadedHub(HubConfig(db_url=db.url)).start()

    def open_store(signed: SignedIn) -> Store:
        return Store.open(f"sqlite:///{tmp / 'desk.db'}")

    def make_engine(signed: SignedIn, emit: Any) -> CallEngine:
        return CallEngine(signed.ws_url, signed.token, CallRole.NURSE, emit,
                          media=media_factory("synthetic"))

    def make_sync(signed: SignedIn) -> tuple[HubClient, httpx.Client]:
        http = httpx.Client(timeout=5)
        return HubClient(http, signed.hub_url, signed.token), http

    parts = DeskParts(PasswordVault(fail.Keyring()), httpx.Client(timeout=10), open_store,
                      make_engine, make_sync)
    window = DeskWindow(parts, hub.http, "nina")
    window.show()

    def wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.002)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(20)

    async def make_caller() -> CallEngine:
        size = HD if hd else VGA
        engine = CallEngine(hub.ws, site.token, CallRole.CALLER,
                            media=lambda: MediaSource.synthetic(size=size))
        await engine.start()
        return engine

    caller = run(make_caller())
    try:
        window.on_sign_in_submitted(hub.http, "nina", PASSWORD, False)
        wait(lambda: window.bridge is not None and window.hub_up, 15, "sign-in")
        run(caller.request_call("Benchmark call", urgency=p.Urgency.URGENT))
        wait(lambda: window.queue.model.rowCount() == 1, 10, "the queue")
        window.queue.on_answer_clicked()
        wait(lambda: window.call.remote.painted >= 30, 20, "painted frames")

        delays: list[float] = []
        window.call.remote.on_painted = delays.append
        stalls: list[float] = []
        interval = 0.002
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            stalls.append(max(0.0, now - last[0] - interval))
            last[0] = now

        timer = QTimer()
        timer.setInterval(int(interval * 1000))
        timer.timeout.connect(tick)
        painted0 = window.call.remote.painted
        t0 = time.perf_counter()
        timer.start()
        last[0] = time.perf_counter()
        wait(lambda: time.perf_counter() - t0 > seconds, seconds + 5, "the call")
        timer.stop()
        elapsed = time.perf_counter() - t0
        painted = window.call.remote.painted - painted0
        arrived = window.bridge.remote.frames if window.bridge else 0
        sink = window.bridge.engine.sessions[window.current].remote_video(
            next(iter(window.bridge.engine.sessions[window.current].links))) if (
            window.bridge and window.current) else None
        latest = sink.latest if sink is not None else None
        size_seen = f"{latest.width}x{latest.height}" if latest is not None else ""
        window.on_end()
        wait(lambda: window.current is None, 10, "the end of the call")
    finally:
        window.shutdown()
        parts.http.close()
        run(caller.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        hub.stop()
        db.dispose()
    ms = [s * 1000 for s in stalls]
    dms = [d * 1000 for d in delays]
    return {
        "call_seconds": round(elapsed, 1),
        "ui_stall_p50_ms": round(pct(ms, 0.50), 2),
        "ui_stall_p99_ms": round(pct(ms, 0.99), 2),
        "ui_stall_max_ms": round(max(ms), 2),
        "ui_timer_samples": len(ms),
        "frame_delay_p50_ms": round(pct(dms, 0.50), 2),
        "frame_delay_p99_ms": round(pct(dms, 0.99), 2),
        "frame_delay_max_ms": round(max(dms), 2),
        "painted_fps": round(painted / elapsed, 1),
        "frames_arrived_total": arrived,
        "frame_size": size_seen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run, within 60 s")
    parser.add_argument("--seconds", type=float, default=None, help="length of the call")
    parser.add_argument("--starts", type=int, default=None, help="cold starts to time")
    args = parser.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    starts = args.starts or (2 if args.quick else 5)
    t0 = time.perf_counter()
    starts_ms = cold_start(starts)
    result: dict[str, Any] = {"bench": "desk_ui", "quick": args.quick,
                              "cold_start_best_ms": round(min(starts_ms)),
                              "cold_start_worst_ms": round(max(starts_ms)),
                              "cold_starts": starts}
    result.update(call_run(seconds))
    hd = call_run(seconds, hd=True)
    result.update({f"hd_{k}": v for k, v in hd.items()})
    result["targets_met"] = (result["ui_stall_p99_ms"] <= 16
                             and result["hd_ui_stall_p99_ms"] <= 16
                             and result["cold_start_worst_ms"] <= 2000)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"cold start to usable window: best {result['cold_start_best_ms']} ms, "
          f"worst {result['cold_start_worst_ms']} ms over {starts} starts")
    print(f"UI stalls during a 640x480/30 call ({result['call_seconds']} s): "
          f"p50 {result['ui_stall_p50_ms']} ms, p99 {result['ui_stall_p99_ms']} ms, "
          f"max {result['ui_stall_max_ms']} ms")
    print(f"frame arrival to paint: p50 {result['frame_delay_p50_ms']} ms, "
          f"p99 {result['frame_delay_p99_ms']} ms, max {result['frame_delay_max_ms']} ms; "
          f"{result['painted_fps']} frames painted per second")
    print(f"the same at {result['hd_frame_size']}/30 ({result['hd_call_seconds']} s): UI stalls "
          f"p50 {result['hd_ui_stall_p50_ms']} ms, p99 {result['hd_ui_stall_p99_ms']} ms, "
          f"max {result['hd_ui_stall_max_ms']} ms; frame delay p99 "
          f"{result['hd_frame_delay_p99_ms']} ms; {result['hd_painted_fps']} painted/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
