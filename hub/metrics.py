"""Prometheus metrics of one hub process (the queue, desks, connections, time to answer,
database write latency), served on a listener of their own that sites never reach.

Why a listener of its own rather than a route: the load balancer forwards the hub's port to
every site, so anything on it is one misconfiguration away from the internet. The metrics
port is bound to loopback by default (Prometheus on the hub's host, or an SSH tunnel); an
operator who binds it elsewhere can require a bearer token (``TELEHUB_METRICS_TOKEN``).

The live figures (calls waiting, longest wait, desks, connections) are read from the live
side when Prometheus scrapes, on the hub's event loop: the queue as the live side shows it
to desks (on a hub of several, the one shared queue), this hub's own connections. The
histograms are observed where the event happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from hub.contract.identity import Principal, StaffRole
from hub.contract.signaling import QueueEntry, QueueSnapshot, Urgency
from hub.db import utcnow

# Seconds from a call's request to its first answer: the service's promise is minutes.
ANSWER_BUCKETS = (5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)
# Seconds one transaction of database writes takes, commit included.
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DESK_ROLES = (StaffRole.NURSE, StaffRole.SPECIALIST, StaffRole.MANAGER)
MAX_REQUEST_BYTES = 8 * 1024  # a scrape is one short GET


class LiveConnection(Protocol):
    @property
    def principal(self) -> Principal: ...


class LiveView(Protocol):
    """What the metrics read of the live side when scraped."""

    async def queue_snapshot(self) -> QueueSnapshot:
        """The waiting calls, as desks are shown them."""
        ...

    def live_connections(self) -> Iterable[LiveConnection]:
        """This hub's own signaling connections."""
        ...

    def dispatching(self) -> bool:
        """Whether this hub runs the live side (always, for a hub alone)."""
        ...


class HubMetrics:
    """The registry of one hub process (its own, so several hubs in one test process do not
    mix their figures) and the observations the live side makes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.time_to_answer = Histogram(
            "telehub_time_to_answer_seconds",
            "Seconds from a call's request to its first answer, as this hub dispatched it.",
            ["urgency"], buckets=ANSWER_BUCKETS, registry=self.registry)
        self.db_write = Histogram(
            "telehub_db_write_seconds",
            "Seconds one transaction of the hub's writes took, commit included.",
            ["writer"], buckets=WRITE_BUCKETS, registry=self.registry)
        for urgency in Urgency:  # every series exists from the start, at zero
            self.time_to_answer.labels(urgency.value)
        self._live: _LiveCollector | None = None
        self._view: LiveView | None = None

    def answered(self, urgency: Urgency, seconds: float) -> None:
        self.time_to_answer.labels(urgency.value).observe(max(0.0, seconds))

    def write_timer(self, writer: str) -> Callable[[float], None]:
        """What a writer calls with each transaction's duration in seconds."""
        child = self.db_write.labels(writer)
        return child.observe

    def watch(self, live: LiveView | None) -> None:
        """Read the live figures from ``live`` from now on (None: the hub has stopped)."""
        if self._live is not None:
            self.registry.unregister(self._live)
            self._live = None
        self._view = live
        if live is not None:
            self._live = _LiveCollector(live)
            self.registry.register(self._live)

    async def exposition(self) -> bytes:
        """The metrics as Prometheus reads them, the live figures as of now."""
        live, view = self._live, self._view
        if live is not None and view is not None:
            live.waiting = (await view.queue_snapshot()).entries
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    def __init__(self, live: LiveView) -> None:
        self._live = live
        self.waiting: list[QueueEntry] = []  # read just before each collection

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "telehub_dispatching", "1 if this hub runs the live side (dispatch), else 0.",
            value=1 if self._live.dispatching() else 0)
        waiting = GaugeMetricFamily(
            "telehub_calls_waiting", "Calls waiting to be answered, by urgency.",
            labels=["urgency"])
        counts = dict.fromkeys(Urgency, 0)
        oldest: datetime | None = None
        for call in self.waiting:
            counts[call.urgency] += 1
            if oldest is None or call.requested_at < oldest:
                oldest = call.requested_at
        for urgency, n in counts.items():
            waiting.add_metric([urgency.value], n)
        yield waiting
        longest = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "telehub_longest_wait_seconds",
            "Seconds the longest-waiting call has waited since its request (0: none waits).",
            value=max(0.0, longest))
        desks = GaugeMetricFamily(
            "telehub_desks_signed_in",
            "Staff signed in at a desk connected to this hub, by role (one person counts "
            "once however many desks they have open).", labels=["role"])
        connections = GaugeMetricFamily(
            "telehub_connections", "Open signaling connections to this hub, by kind.",
            labels=["kind"])
        people: dict[StaffRole, set[int]] = {role: set() for role in DESK_ROLES}
        kinds = {"site": 0, "staff": 0}
        for conn in self._live.live_connections():
            who = conn.principal
            kinds[who.kind] = kinds.get(who.kind, 0) + 1
            if who.kind == "staff" and who.role in people:
                people[StaffRole(who.role)].add(who.id)
        for role, ids in people.items():
            desks.add_metric([role.value], len(ids))
        for kind, n in kinds.items():
            connections.add_metric([kind], n)
        yield desks
        yield connections


class MetricsListener:
    """``GET /metrics`` on its own socket, served on the hub's event loop (so reading the
    live side needs no lock). Anything else gets a 404; a missing or wrong token a 401."""

    def __init__(self, metrics: HubMetrics, sock: socket.socket, token: str | None) -> None:
        self.metrics = metrics
        self.sock = sock  # bound by the caller, so a port in use is its clear error
        self.port = int(sock.getsockname()[1])
        self._token = f"Bearer {token}".encode() if token else None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=self.sock,
                                                  limit=MAX_REQUEST_BYTES)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status, body, ctype = await self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            writer.close()
            return
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _answer(self, head: bytes) -> tuple[str, bytes, str]:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        text = "text/plain; charset=utf-8"
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return "400 Bad Request", b"not an HTTP request\n", text
        method, target = parts[0], parts[1]
        if target.split(b"?", 1)[0] != b"/metrics":
            return "404 Not Found", b"only /metrics is served here\n", text
        if method != b"GET":
            return "405 Method Not Allowed", b"only GET\n", text
        if self._token is not None:
            given = next((line.split(b":", 1)[1].strip() for line in lines[1:]
                          if line.lower().startswith(b"authorization:")), b"")
            if not hmac.compare_digest(given, self._token):
                return "401 Unauthorized", b"a bearer token is required\n", text
        return "200 OK", await self.metrics.exposition(), CONTENT_TYPE_LATEST
