"""The client side of the hub's signaling WebSocket: sign-in, heartbeats, reconnects, resumes.

:class:`SignalingClient` keeps one authenticated connection to the hub alive for as long as it
runs. It answers the hub's pings, declares the hub dead when nothing has arrived for the
heartbeat timeout the hub announced, and reconnects with exponential back-off and jitter.
After every reconnect it sends ``call_resume`` for each call it was told to hold, so a dropped
caller or desk takes its call back without anyone starting again. Given several hub
addresses (hubs sharing one database, docs/cluster.md), it tries the next one after each
lost or failed connection, so a killed or restarting hub's clients carry on at another.

Everything the hub says, and every change of the connection, is delivered as an event to a
consumer: an ``asyncio.Queue`` or a callback run on the client's loop. The Qt desk bridges
these to signals from its own thread; nothing here knows about Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from hub.client import Backoff  # the one back-off (hub/client/backoff.py); callers may pass one in
from hub.contract import signaling as p

log = logging.getLogger("telehub.calls.signaling")

# Until the hub's welcome says otherwise (it announces its own heartbeat timings).
DEFAULT_HEARTBEAT_TIMEOUT = 15.0


class SignalingError(Exception):
    """Base of the errors this module raises."""


class NotConnectedError(SignalingError):
    """A message was sent while the client has no live connection to the hub."""


class AuthenticationError(SignalingError):
    """The hub refused the token (unknown, expired, revoked) or the protocol version."""


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    """Signed in (again). ``reconnect`` is false for the first connection of this client."""

    welcome: p.Welcome
    reconnect: bool


@dataclass(frozen=True)
class Disconnected:
    """The connection is gone; the client is trying again after ``retry_in`` seconds."""

    reason: str
    retry_in: float


@dataclass(frozen=True)
class Closed:
    """The client stopped for good: closed by its owner, or the hub refused the sign-in."""

    reason: str
    error: SignalingError | None = None


@dataclass(frozen=True)
class Received:
    """A message from the hub (pings are answered here and never delivered)."""

    message: p.ServerMessage


SignalingEvent = Connected | Disconnected | Closed | Received
EventConsumer = (
    asyncio.Queue[SignalingEvent] | Callable[[SignalingEvent], Awaitable[None] | None]
)


class SignalingClient:
    """One hub connection kept alive: ``start()``, ``send()``, events out, ``close()``.

    ``consumer`` receives every :data:`SignalingEvent` in order (a callback may be async; it
    is awaited before the next event is delivered, so a slow consumer holds up the reader
    rather than losing events).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        token: str,
        consumer: EventConsumer,
        *,
        client_name: str = "telehub-calls",
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("at least one hub address is needed")
        self._at = 0  # the address of the current (or next) connection
        self.token = token
        self.client_name = client_name
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self._consumer = consumer
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._first: asyncio.Future[p.Welcome] | None = None
        self._closing = False
        self._held_calls: dict[str, None] = {}  # ordered set: resumed in the order taken
        self._hurry = asyncio.Event()  # something to send: cut the back-off's wait short
        self.welcome: p.Welcome | None = None
        self.connections = 0  # how many times a sign-in succeeded (tests and the desk's status)

    # --- public ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The hub address this client is connected to, or will try next."""
        return self.urls[self._at]

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def participant_id(self) -> str:
        if self.welcome is None:
            raise NotConnectedError("not signed in yet")
        return self.welcome.principal.participant_id

    async def start(self) -> p.Welcome:
        """Connect and sign in; returns the welcome. Raises :class:`AuthenticationError` if
        the hub refuses the token. If the hub is unreachable it keeps trying (with back-off)
        and this waits; wrap it in a timeout if the caller must not wait."""
        if self._runner is not None:
            raise SignalingError("already started")
        self._first = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(), name="signaling-client")
        return await asyncio.shield(self._first)

    async def send(self, message: p._Message) -> None:
        ws = self._ws
        if ws is None:
            raise NotConnectedError(f"cannot send {type(message).__name__}: not connected")
        try:
            await ws.send(message.to_json())
        except ConnectionClosed as exc:
            raise NotConnectedError(f"connection lost while sending: {exc}") from None

    def hurry(self) -> None:
        """Something is waiting to be sent (a care home pressed "Call the hub"): if the
        client is waiting out its back-off, it connects now instead. One extra attempt per
        call at most: if it fails, the back-off goes on as before."""
        if self._ws is None:
            self._hurry.set()

    def hold(self, call_id: str) -> None:
        """Resume this call after every reconnect (until :meth:`release`)."""
        self._held_calls[call_id] = None

    def release(self, call_id: str) -> None:
        self._held_calls.pop(call_id, None)

    @property
    def held_calls(self) -> list[str]:
        return list(self._held_calls)

    async def drop(self) -> None:
        """Close the current connection as if the network had dropped it (the client then
        reconnects). Used by the desk's "reconnect now" and by tests."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    async def close(self) -> None:
        """Stop for good: no reconnect; waits for the reader task to finish."""
        self._closing = True
        ws, runner = self._ws, self._runner
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self._runner = None

    # --- the connection loop --------------------------------------------------------------

    async def _emit(self, event: SignalingEvent) -> None:
        if isinstance(self._consumer, asyncio.Queue):
            self._consumer.put_nowait(event)
            return
        result = self._consumer(event)
        if inspect.isawaitable(result):
            await result

    async def _run(self) -> None:
        attempt = 0
        reason = "closed"
        error: SignalingError | None = None
        try:
            while not self._closing:
                try:
                    why = await self._session()
                    attempt = 0  # it was signed in: back-off starts again from the beginning
                except AuthenticationError as exc:
                    error, reason = exc, str(exc)
                    if self._first is not None and not self._first.done():
                        self._first.set_exception(exc)
                    return
                except (OSError, InvalidHandshake, InvalidURI, TimeoutError,
                        ConnectionClosed, p.ProtocolError) as exc:
                    why = f"{type(exc).__name__}: {exc}"
                if self._closing:
                    break
                self._at = (self._at + 1) % len(self.urls)  # the next hub, if there are more
                # A client holding a call comes back sooner than one with nothing open
                # (hub.client.site_backoff).
                delay = self.backoff.delay(attempt, busy=bool(self._held_calls))
                attempt += 1
                log.info("signaling lost (%s); reconnecting in %.2f s", why, delay)
                await self._emit(Disconnected(why, delay))
                await self._wait_out(delay)
        finally:
            self._ws = None
            if self._first is not None and not self._first.done():
                self._first.set_exception(SignalingError("closed before the hub answered"))
            with contextlib.suppress(Exception):
                await asyncio.shield(self._emit(Closed(reason, error)))

    async def _wait_out(self, delay: float) -> None:
        """The back-off's wait, unless :meth:`hurry` is called meanwhile."""
        if not self._hurry.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), delay)
        self._hurry.clear()

    async def _session(self) -> str:
        """One connection, from handshake to loss; returns why it ended."""
        async with connect(self.url, open_timeout=self.open_timeout, ping_interval=None,
                           max_size=p.MAX_SERVER_FRAME_BYTES, close_timeout=2) as ws:
            await ws.send(p.Hello(protocol=p.PROTOCOL_VERSION, token=self.token,
                                  client=self.client_name).to_json())
            first = p.parse_server_message(
                await asyncio.wait_for(ws.recv(), self.open_timeout))
            if isinstance(first, p.Error):
                raise AuthenticationError(f"the hub refused the sign-in: {first.message}")
            if not isinstance(first, p.Welcome):
                raise p.ProtocolError(p.ErrorCode.INVALID,
                                      f"expected welcome, got {first.type}")
            self._ws = ws
            self._hurry.clear()  # a hurry asked for while connecting is answered
            try:
                await self._signed_in(ws, first)
                if self._first is not None and not self._first.done():
                    self._first.set_result(first)
                return await self._read(ws, first.heartbeat_timeout)
            finally:
                self._ws = None

    async def _signed_in(self, ws: ClientConnection, welcome: p.Welcome) -> None:
        """A welcome: after a hello, or again on an open connection when the hub's side
        started again (another hub took over the dispatch, docs/cluster.md). Either way the
        consumer hears it as a reconnect and every held call is resumed."""
        self.welcome = welcome
        reconnect = self.connections > 0
        self.connections += 1
        await self._emit(Connected(welcome, reconnect))
        for call_id in list(self._held_calls):
            await ws.send(p.CallResume(call_id=call_id).to_json())

    async def _read(self, ws: ClientConnection, heartbeat_timeout: float) -> str:
        # The hub pings every interval; silence for the whole timeout means it (or the path
        # to it) is dead even if TCP has not noticed yet.
        timeout = heartbeat_timeout or DEFAULT_HEARTBEAT_TIMEOUT
        last = time.monotonic()
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                ws.transport.abort()
                return f"no word from the hub for {time.monotonic() - last:.1f} s"
            except ConnectionClosed as exc:
                return f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
            last = time.monotonic()
            try:
                msg = p.parse_server_message(raw)
            except p.ProtocolError as exc:
                log.warning("ignoring a frame from the hub that does not parse: %s", exc)
                continue
            if isinstance(msg, p.Ping):
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(p.Pong(t=msg.t).to_json())
                continue
            if isinstance(msg, p.Pong):
                continue
            if isinstance(msg, p.Welcome):
                with contextlib.suppress(ConnectionClosed):
                    await self._signed_in(ws, msg)
                continue
            await self._emit(Received(msg))
