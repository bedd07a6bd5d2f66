"""Call setup and media benchmark of the call engine, through a real hub on loopback.

1. Setup time: from the desk's answer (``claim``) to the first decoded remote video frame at
   the desk, p50 and p99 over ``--runs`` calls; in the same run, the floor: two aiortc peers
   wired directly in this process (offer, answer, first decoded frame), no hub, no engine.
2. One call held for ``--seconds`` at 640x480/30: frames per second received, one-way frame
   latency from the timestamps embedded in the synthetic pattern, and CPU per call (both
   ends of the call run in this process, so it is the CPU of a whole call, both ends).

Prints a human summary, then one JSON object as the last line. ``--quick`` stays within 60 s.
Run: ``.venv/bin/python bench/call_setup.py [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.contract.identity import CallRole

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import RTCPeerConnection

from calls.engine import CallEngine
from calls.media import FULL, MediaSource, VideoSink, read_pattern
from calls.session import CallSession, CallState, SessionOptions
from hub.config import HubConfig
from tests.helpers.hubserver import HubDatabase, ThreadedHub


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def floor_once() -> float:
    """Two peers wired directly: offer to first decoded frame at the offerer."""
    media_a, media_b = MediaSource.synthetic(), MediaSource.synthetic()
    a, b = RTCPeerConnection(), RTCPeerConnection()
    sinks: list[VideoSink] = []
    got: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def on_track(track: Any) -> None:
        if track.kind == "video":
            sink = VideoSink(track)
            sinks.append(sink)
            sink.first_frame.add_done_callback(
                lambda f: got.done() or got.set_result(f.result()))

    a.on("track", on_track)
    for pc, media in ((a, media_a), (b, media_b)):
        for track in media.subscribe():
            if track is not None:
                pc.addTransceiver(track, direction="sendrecv")
    t0 = time.monotonic()
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    t1 = await asyncio.wait_for(got, 20)
    for sink in sinks:
        await sink.stop()
    await a.close()
    await b.close()
    await media_a.close()
    await media_b.close()
    return t1 - t0


async def wait_state(session: CallSession, state: CallState, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while session.state is not state:
            await asyncio.sleep(0.005)


CLAIMED: list[float] = []  # claim sent -> the desk's call_connected handled (hub + DB write)


async def hub_call(site: CallEngine, desk: CallEngine, queued: asyncio.Queue[str],
                   ) -> tuple[CallSession, CallSession, float]:
    caller = await site.request_call("benchmark call")
    call_id = await asyncio.wait_for(queued.get(), 10)
    # A nurse answers seconds after the desk rings, long after the request is durable; the
    # hub holds a claim that comes sooner until the request is written, which is not setup.
    await wait_state(caller, CallState.QUEUED)
    t0 = time.monotonic()
    answerer = await desk.claim(call_id)
    async with asyncio.timeout(20):
        while True:
            link = answerer.links.get(site.signaling.participant_id)
            if link is not None and len(CLAIMED) < 10_000 and not getattr(link, "_seen", 0):
                link._seen = 1  # type: ignore[attr-defined]
                CLAIMED.append(link.created_at - t0)
            if link is not None and link.video is not None:
                break
            await asyncio.sleep(0.002)
    t1 = await asyncio.wait_for(link.video.first_frame, 20)
    return caller, answerer, t1 - t0


async def run(runs: int, seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="telehub-bench-"))
    db = HubDatabase(f"sqlite:///{tmp / 'hub.db'}")
    site_p, nurse_p = db.site("Bench House"), db.staff("bench", "nurse")
    hub = ThreadedHub(HubConfig(db_url=db.url)).start()
    opts = SessionOptions(auto_mode=False)
    queued: asyncio.Queue[str] = asyncio.Queue()

    def on_desk(event: Any) -> None:
        from calls.session import StateChanged

        if isinstance(event, StateChanged) and event.new is CallState.RINGING and event.call_id:
            queued.put_nowait(event.call_id)

    site = CallEngine(hub.ws, site_p.token, CallRole.CALLER, options=opts)
    desk = CallEngine(hub.ws, nurse_p.token, CallRole.NURSE, on_desk, options=opts)
    try:
        await site.start()
        await desk.start()
        floor, setup = [], []
        for _ in range(runs):
            floor.append(await floor_once())
            caller, answerer, took = await hub_call(site, desk, queued)
            setup.append(took)
            await answerer.hang_up()
            await wait_state(caller, CallState.ENDED)
        print(f"setup through the hub: p50 {pct(setup, 50) * 1000:.0f} ms, "
              f"p99 {pct(setup, 99) * 1000:.0f} ms ({runs} calls)")
        print(f"  of which claim to call_connected (hub, its database write): p50 "
              f"{pct(CLAIMED, 50) * 1000:.0f} ms")
        print(f"floor (direct peers):  p50 {pct(floor, 50) * 1000:.0f} ms, "
              f"p99 {pct(floor, 99) * 1000:.0f} ms")

        # A sustained call at 640x480/30.
        caller, answerer, _ = await hub_call(site, desk, queued)
        link = answerer.links[site.signaling.participant_id]
        assert link.video is not None
        await asyncio.sleep(2.0)  # past the first keyframe and bitrate ramp
        latencies: list[float] = []
        sizes: set[tuple[int, int]] = set()

        def on_frame(frame: Any) -> None:
            stamp = read_pattern(frame)
            sizes.add((frame.width, frame.height))
            if stamp is not None:
                latencies.append(time.time() * 1000 - stamp.sent_ms)

        link.video.listeners.append(on_frame)
        frames0, cpu0, wall0 = link.video.frames, os.times(), time.monotonic()
        await asyncio.sleep(seconds)
        frames1, cpu1, wall1 = link.video.frames, os.times(), time.monotonic()
        wall = wall1 - wall0
        fps = (frames1 - frames0) / wall
        cpu = ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall * 100
        await answerer.hang_up()
        await wait_state(caller, CallState.ENDED)
        print(f"{seconds:.0f} s at {FULL.width}x{FULL.height}/{FULL.fps:.0f}: "
              f"{fps:.1f} fps received, one-way latency p50 {pct(latencies, 50):.0f} ms "
              f"p95 {pct(latencies, 95):.0f} ms, CPU {cpu:.0f}% of one core per call "
              f"(both ends), sizes {sorted(sizes)}")
        return {
            "bench": "call_setup",
            "runs": runs,
            "setup_p50_ms": round(pct(setup, 50) * 1000, 1),
            "setup_p99_ms": round(pct(setup, 99) * 1000, 1),
            "floor_p50_ms": round(pct(floor, 50) * 1000, 1),
            "floor_p99_ms": round(pct(floor, 99) * 1000, 1),
            "claim_to_connected_p50_ms": round(pct(CLAIMED, 50) * 1000, 1),
            "setup_vs_floor_p50": round(pct(setup, 50) / pct(floor, 50), 2),
            "setup_mean_ms": round(statistics.mean(setup) * 1000, 1),
            "media_seconds": seconds,
            "fps_received": round(fps, 1),
            "latency_p50_ms": round(pct(latencies, 50), 1),
            "latency_p95_ms": round(pct(latencies, 95), 1),
            "cpu_percent_per_call": round(cpu, 1),
            "cores": os.cpu_count(),
        }
    finally:
        await site.close()
        await desk.close()
        hub.stop()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under 60 s)")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runs = args.runs or (5 if args.quick else 30)
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    result = asyncio.run(run(runs, seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
