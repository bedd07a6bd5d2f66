"""Call setup and media benchmark of the call engine, through a real hub on loopback.

1. Setup time: from the desk's answer (``claim``) to the first decoded remote video frame at
   the desk, p50 and p99 over ``--runs`` calls; in the same run, the floor: two aiortc peers
   wired directly in this process (offer, answer, first decoded frame), no hub, no engine.
2. One call held for ``--seconds`` at 640x480/30: frames per second received, one-way frame
   latency from the timestamps embedded in the synthetic pattern, and CPU per call (both
   ends of the call run in this process, so it is the CPU of a whole call, both ends).
3. The same at 1280x720/30 in H.264 (both ends' cameras HD): ``hd_fps_received`` at the
   desk and ``hd_cpu_percent_per_call`` (both ends).
4. Recovery: a call through a userspace UDP relay (tests/helpers/udprelay.py) whose network
   goes down for 3 s, 10 s and 3 s (``--quick``; more outages otherwise); from the network
   coming back to the first frame made after it decoded at the desk, p50 as
   ``recovery_p50_s``, and how long each end took to say that media had stopped.

Prints a human summary, then one JSON object as the last line. ``--quick`` takes about 90 s
(the outages alone 16 s).
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
from calls.media import HD, VGA, MediaSource, VideoSink, read_pattern
from calls.session import CallSession, CallState, MediaStalled, SessionOptions, StateChanged
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


async def sustained(site: CallEngine, desk: CallEngine, queued: asyncio.Queue[str],
                    seconds: float) -> dict[str, Any]:
    """One call held ``seconds``: fps received at the desk, latency, CPU of both ends."""
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
    codec = link.codec
    await answerer.hang_up()
    await wait_state(caller, CallState.ENDED)
    return {"fps": (frames1 - frames0) / wall, "latencies": latencies, "sizes": sorted(sizes),
            "cpu": ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall * 100,
            "codec": codec}


async def recovery(hub: ThreadedHub, site_token: str, nurse_token: str,
                   outages: list[float]) -> dict[str, Any]:
    """A call through the UDP relay; each outage timed from the network's return to the
    first frame made after it that the desk decodes."""
    from tests.helpers.udprelay import LossyNetwork

    net = LossyNetwork()
    opts = SessionOptions(auto_mode=False, rewrite_sdp=net.rewrite)
    queued: asyncio.Queue[str] = asyncio.Queue()
    noticed: list[tuple[str, float]] = []

    def on_event(who: str) -> Any:
        def listen(event: Any) -> None:
            if isinstance(event, StateChanged) and event.new is CallState.RINGING:
                queued.put_nowait(event.call_id or "")
            elif isinstance(event, MediaStalled) and event.silent_for < 1.5:
                noticed.append((who, time.monotonic()))
        return listen

    site = CallEngine(hub.ws, site_token, CallRole.CALLER, on_event("site"), options=opts)
    desk = CallEngine(hub.ws, nurse_token, CallRole.NURSE, on_event("desk"), options=opts)
    back_to_frame: list[float] = []
    notice: list[float] = []
    try:
        await site.start()
        await desk.start()
        caller, answerer, _ = await hub_call(site, desk, queued)
        pid = site.signaling.participant_id
        await asyncio.sleep(1.0)
        for outage in outages:
            noticed.clear()
            net.down = True
            down_at = time.monotonic()
            await asyncio.sleep(outage)
            net.down = False
            up_at, up_ms = time.monotonic(), time.time() * 1000
            notice += [t - down_at for _, t in noticed[:2]]
            got: asyncio.Future[float] = asyncio.get_running_loop().create_future()

            def fresh(frame: Any, got: asyncio.Future[float] = got,
                      up_ms: float = up_ms) -> None:
                stamp = read_pattern(frame)
                if stamp is not None and stamp.sent_ms >= up_ms and not got.done():
                    got.set_result(time.monotonic())

            hooked: set[int] = set()
            async with asyncio.timeout(30):
                while not got.done():
                    link = answerer.links.get(pid)
                    if link is not None and link.video is not None and id(link.video) not in (
                            hooked):
                        hooked.add(id(link.video))
                        link.video.listeners.append(fresh)
                    await asyncio.sleep(0.01)
            back_to_frame.append(got.result() - up_at)
            await asyncio.sleep(1.0)
        await answerer.hang_up()
        await wait_state(caller, CallState.ENDED)
    finally:
        await site.close()
        await desk.close()
        net.close()
    return {"recovery": back_to_frame, "notice": notice}


async def run(runs: int, seconds: float, outages: list[float]) -> dict[str, Any]:
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

        # A sustained call at 640x480/30, then at 1280x720/30.
        sd = await sustained(site, desk, queued, seconds)
        hd_site = CallEngine(hub.ws, site_p.token, CallRole.CALLER, options=opts,
                             media=lambda: MediaSource.synthetic(size=HD))
        hd_desk = CallEngine(hub.ws, nurse_p.token, CallRole.NURSE, on_desk, options=opts,
                             media=lambda: MediaSource.synthetic(size=HD))
        await site.close()
        await desk.close()
        await hd_site.start()
        await hd_desk.start()
        try:
            hd = await sustained(hd_site, hd_desk, queued, seconds)
        finally:
            await hd_site.close()
            await hd_desk.close()
        rec = await recovery(hub, site_p.token, nurse_p.token, outages)
        latencies, fps, cpu = sd["latencies"], sd["fps"], sd["cpu"]
        print(f"{seconds:.0f} s at {VGA.width}x{VGA.height}/{VGA.fps:.0f} ({sd['codec']}): "
              f"{fps:.1f} fps received, one-way latency p50 {pct(latencies, 50):.0f} ms "
              f"p95 {pct(latencies, 95):.0f} ms, CPU {cpu:.0f}% of one core per call "
              f"(both ends), sizes {sd['sizes']}")
        print(f"{seconds:.0f} s at {HD.width}x{HD.height}/{HD.fps:.0f} ({hd['codec']}): "
              f"{hd['fps']:.1f} fps received, latency p50 {pct(hd['latencies'], 50):.0f} ms, "
              f"CPU {hd['cpu']:.0f}% of one core per call (both ends), sizes {hd['sizes']}")
        print(f"recovery after outages of {outages} s: network back to the first new frame "
              f"{[round(x, 2) for x in rec['recovery']]} s; media stopped noticed after "
              f"{[round(x, 2) for x in rec['notice']]} s")
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
            "hd_codec": hd["codec"],
            "hd_fps_received": round(hd["fps"], 1),
            "hd_latency_p50_ms": round(pct(hd["latencies"], 50), 1),
            "hd_cpu_percent_per_call": round(hd["cpu"], 1),
            "outages_s": outages,
            "recovery_s": [round(x, 2) for x in rec["recovery"]],
            "recovery_p50_s": round(statistics.median(rec["recovery"]), 2),
            "stall_noticed_max_s": round(max(rec["notice"]), 2) if rec["notice"] else None,
            "cores": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 1),
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
    outages = [3.0, 10.0, 3.0] if args.quick else [3.0, 10.0, 30.0] * 3
    result = asyncio.run(run(runs, seconds, outages))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
