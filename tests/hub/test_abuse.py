"""The hub under abuse: huge, endless and slow request heads, a caller flooding the queue, and a
WebSocket that never reads. None of them may slow the hub for everyone else."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from hub.config import ClientLimits
from hub.contract import signaling as p
from hub.serving import LimitedWebSocket
from tests.helpers.hubserver import HubDatabase, ProcessHub, ThreadedHub
from tests.helpers.waiting import wait_until, wait_until_async
from tests.helpers.wsclient import HubClient

MiB = 1024 * 1024


@pytest.fixture
def hub_db_url(tmp_path: Path) -> str:
    """What is tested here is the protocol layer, the same on either database."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@dataclass
class Attacker:
    """A raw TCP client on its own thread, sending a request head chunk by chunk."""

    port: int
    head: bytes  # sent first
    chunk: bytes  # then this, again and again, until the hub cuts the connection
    pause: float = 0.0  # between chunks
    most: int = 128 * MiB
    sent: int = 0
    answer: bytes = b""
    cut_after: float | None = None  # seconds from the first byte to the cut
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            start = time.monotonic()
            try:
                s.sendall(self.head)
                self.sent = len(self.head)
                while self.sent < self.most:
                    s.sendall(self.chunk)
                    self.sent += len(self.chunk)
                    if self.pause:
                        time.sleep(self.pause)
            except OSError:  # the hub closed the connection (reset or broken pipe)
                pass
            with contextlib.suppress(OSError):
                s.settimeout(5)
                self.answer = s.recv(200)
                while s.recv(65536):  # until the hub's close
                    pass
            self.cut_after = time.monotonic() - start

    @property
    def status(self) -> int | None:
        parts = self.answer.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    def done(self) -> bool:
        return not self.thread.is_alive()


async def _round_trip(desk: HubClient) -> float:
    start = time.monotonic()
    await desk.send(p.Ping(t=start))
    await desk.expect(p.Pong, t=start)
    return time.monotonic() - start


@pytest.mark.slow
async def test_huge_endless_and_slow_heads_are_cut_while_signaling_stays_fast(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase
) -> None:
    limits = ClientLimits(header_timeout_s=1.0)
    hub = start_hub(limits=limits)
    desk = await HubClient.connect(hub.ws, hubdb.staff("nina", "nurse").token)
    await desk.expect(p.QueueSnapshot)
    quiet = [await _round_trip(desk) for _ in range(5)]

    big = b"x" * 65536
    attackers = [
        # three clients each sending one endless header (the 128 MiB of the issue)
        *(Attacker(hub.port, b"GET /health HTTP/1.1\r\nHost: hub\r\nX-Big: ", big)
          for _ in range(3)),
        # one sending header after header
        Attacker(hub.port, b"GET /health HTTP/1.1\r\nHost: hub\r\n", b"X-N: 1\r\n" * 512),
        # the same as a WebSocket upgrade, the way to /ws
        Attacker(hub.port, b"GET /ws HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nX-Big: ", big),
    ]
    slow = Attacker(hub.port, b"GET /health HTTP/1.1\r\n", b"X", pause=0.1, most=1000)
    idle = Attacker(hub.port, b"", b"", most=0)
    busy: list[float] = []
    # Bounded by time, not by a count of round trips: on a quiet machine 5,000 of them take
    # less than the cut-offs themselves (1 s of header time, then the threads finishing).
    deadline = time.monotonic() + 30
    while not all(a.done() for a in (*attackers, slow, idle)):
        busy.append(await _round_trip(desk))
        assert time.monotonic() < deadline, "the attackers were never cut off"
    for a in attackers:
        assert a.status == 431, a.answer
        # Cut within the cap plus what the kernel's socket buffers took in the meantime.
        assert a.sent < 16 * MiB, a.sent
    assert slow.status == 408 and slow.cut_after is not None
    assert limits.header_timeout_s <= slow.cut_after < limits.header_timeout_s + 2.0
    assert idle.status == 408 and idle.cut_after is not None
    assert idle.cut_after < limits.header_timeout_s + 2.0
    # The desk's signaling did not notice: no round trip near the 24 s seen before.
    print(f"desk round trip: quiet max {max(quiet) * 1000:.1f} ms, under attack max "
          f"{max(busy) * 1000:.1f} ms over {len(busy)} trips; bytes taken before the cut: "
          f"{[a.sent for a in attackers]}")
    assert max(busy) < 0.5
    # An ordinary request still gets through.
    reply = Attacker(hub.port, b"GET /health HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n",
                     b"", most=0)
    wait_until(reply.done, 10, "the health check")
    assert reply.status == 200


async def test_a_slow_body_is_cut_and_a_keep_alive_connection_is_not(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase
) -> None:
    hub = start_hub(limits=ClientLimits(header_timeout_s=1.0, body_timeout_s=1.0))
    trickle = Attacker(hub.port, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: hub\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n",
                       b"{", pause=0.1, most=5000)
    wait_until(trickle.done, 10, "the trickling body to be cut")
    assert trickle.cut_after is not None and trickle.cut_after < 3.5
    # Two requests on one connection, the second after a pause shorter than the keep-alive:
    # the head deadline runs from each head's first byte, not from the connection.
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as s:
        for _ in range(2):
            s.sendall(b"GET /health HTTP/1.1\r\nHost: hub\r\n\r\n")
            answer = b""
            while b'"ok"' not in answer:  # the head and the body may come apart
                answer += s.recv(4096) or pytest.fail(f"closed after {answer!r}")
            assert answer.startswith(b"HTTP/1.1 200")
            time.sleep(0.6)


async def test_one_caller_has_only_a_few_open_calls(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase
) -> None:
    hub = start_hub(limits=ClientLimits(max_open_calls=3))
    desk = await HubClient.connect(hub.ws, hubdb.staff("nina", "nurse").token)
    await desk.expect(p.QueueSnapshot)
    link = await HubClient.connect(hub.ws, hubdb.site("Gold Line", "home").token)
    other = await HubClient.connect(hub.ws, hubdb.site("Pine House").token)
    queued = []
    for n in range(3):
        await link.send(p.CallRequest(request_id=f"r{n}", reason="fall",
                                      urgency=p.Urgency.EMERGENCY))
        queued.append((await link.expect(p.CallQueued)).call_id)
    for n in range(3, 10):
        await link.send(p.CallRequest(request_id=f"r{n}", reason="fall",
                                      urgency=p.Urgency.EMERGENCY))
        err = await link.expect(p.Error)
        assert err.code == p.ErrorCode.TOO_MANY_CALLS and err.request_id == f"r{n}"
        assert "max_open_calls = 3" in err.message
    # A retry of a request already held is not a new call, and another caller is not held up.
    await link.send(p.CallRequest(request_id="r0", reason="fall"))
    assert (await link.expect(p.CallQueued)).call_id == queued[0]
    await other.send(p.CallRequest(request_id="o", reason="chest pain"))
    await other.expect(p.CallQueued)
    await desk.send(p.QueueSync())
    assert len((await desk.expect(p.QueueSnapshot)).entries) == 4
    # A call that ends makes room for the next.
    await link.send(p.CallCancel(call_id=queued[0]))
    await link.expect(p.CallEnded)
    await link.send(p.CallRequest(request_id="r10", reason="fall"))
    await link.expect(p.CallQueued)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _fill_queue(hubdb: HubDatabase, ws: str, sites: int, calls: int) -> None:
    """sites × calls waiting calls, each as large as a call request may be (~5 KB queued)."""
    for s in range(sites):
        site = await HubClient.connect(ws, hubdb.site(f"Home {s}").token)
        for c in range(calls):
            await site.send(p.CallRequest(
                request_id=f"{s}-{c}", reason="r" * 500,
                patient=p.Patient(name="n" * 200), soft_signs=[f"{i:03d}" + "s" * 196
                                                               for i in range(20)]))
            await site.expect(p.CallQueued)


@pytest.mark.slow
async def test_a_websocket_that_never_reads_costs_a_bounded_amount_of_memory(
    hubdb: HubDatabase,
) -> None:
    token = hubdb.staff("nina", "nurse").token
    # The real `telehub-hub serve`, its memory on its own; only the outbox may cut the sink.
    hub = ProcessHub(hubdb.url, "--heartbeat-timeout", "60")
    try:
        # It serves with the same limits as the tests' hubs (hub.serving.server_config).
        big = Attacker(hub.port, b"GET /health HTTP/1.1\r\nX-Big: ", b"x" * 65536, most=MiB)
        wait_until(big.done, 10, "the hub to refuse a huge head")
        assert big.status == 431 and b"server:" not in big.answer.lower()
        assert b"cache-control: no-store" in big.answer
        await _fill_queue(hubdb, hub.ws, sites=5, calls=5)
        reader = await HubClient.connect(hub.ws, token)
        snapshot = len((await reader.expect(p.QueueSnapshot)).to_json())
        assert snapshot > 100_000
        before = _rss(hub.proc.pid)
        peak = [before]
        sampling = threading.Event()

        def sample() -> None:  # the hub's resident memory every few milliseconds
            while not sampling.wait(0.005):
                peak.append(_rss(hub.proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # A desk that asks for the queue again and again and reads nothing: without a bound
        # the hub would keep a copy of the snapshot for every request (1000 × 125 KB).
        async with connect(hub.ws, max_queue=1, ping_interval=None,
                           max_size=p.MAX_SERVER_FRAME_BYTES) as sink:
            await sink.send(p.Hello(protocol=p.PROTOCOL_VERSION, token=token).to_json())
            for _ in range(1000):
                await sink.send(p.QueueSync().to_json())
            # the rest of the hub goes on meanwhile
            for _ in range(20):
                await reader.send(p.QueueSync())
                await reader.expect(p.QueueSnapshot)

            def cut() -> bool:
                return any("behind; closing it" in line for line in hub.output)

            # Each message waits for its session check: the hub reads the sink's at its pace.
            await wait_until_async(cut, 60, lambda: "the hub to cut the sink off:\n"
                                   + "".join(hub.output[-5:]))
            sampling.set()
            sampler.join()
            # It was cut off: reading now, it gets what the buffers held, then the close.
            with contextlib.suppress(Exception):
                async for _ in sink:
                    pass
        grown = max(peak) - before
        print(f"hub RSS before {before / MiB:.0f} MiB, grew {grown / MiB:.1f} MiB "
              f"(snapshot {snapshot / 1000:.0f} KB × 1000 requests)")
        assert sink.close_code == 4008, sink.close_code
        assert grown < 24 * MiB
    finally:
        hub.stop()


@pytest.mark.slow
async def test_a_websocket_peer_that_reads_nothing_is_aborted(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase
) -> None:
    hub = start_hub(limits=ClientLimits(ws_stall_s=1.0), heartbeat_timeout=60.0)
    await _fill_queue(hubdb, hub.ws, sites=1, calls=5)
    token = hubdb.staff("nina", "nurse").token
    state = hub.server.server_state

    def sockets() -> int:
        return sum(isinstance(c, LimitedWebSocket) for c in state.connections)

    open_before = sockets()
    # A small receive buffer, as a phone on a bad link has: the kernel takes little of what
    # the hub sends, so its writes stall long before its outbox (8 MiB) is full.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    raw.connect(("127.0.0.1", hub.port))
    async with connect(hub.ws, sock=raw, max_queue=1, ping_interval=None, close_timeout=1,
                       max_size=p.MAX_SERVER_FRAME_BYTES) as sink:
        await sink.send(p.Hello(protocol=p.PROTOCOL_VERSION, token=token).to_json())
        await wait_until_async(lambda: sockets() == open_before + 1, 5, "the sink to connect")
        started = time.monotonic()
        for _ in range(200):  # 200 snapshots of 25 KB: over the buffers, under the outbox
            await sink.send(p.QueueSync().to_json())
        await wait_until_async(lambda: sockets() == open_before, 10,
                               "the hub to abort the connection that reads nothing")
        # the abort, not the close handshake's 10 s timeout, freed it
        assert time.monotonic() - started < 8
