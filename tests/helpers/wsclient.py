"""A plain test client for the hub's WebSocket protocol, built on the contract's messages."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from calls.signaling import Received, SignalingClient
from hub.client import Backoff
from hub.contract import signaling as p

M = TypeVar("M")


class HubClient:
    """One connection to the hub. A reader task answers pings at once (as a real client does)
    and keeps every other message; ``expect`` waits for one of a type, keeping the rest."""

    # Every client opened during a test; the hub tests' autouse fixture closes them all.
    opened: ClassVar[list[HubClient]] = []

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.inbox: list[Any] = []
        self.welcome: p.Welcome | None = None
        self.auto_pong = True
        self.pings: list[float] = []  # the loop's time of each ping from the hub
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = p.parse_server_message(raw)
                if isinstance(msg, p.Ping):
                    self.pings.append(asyncio.get_running_loop().time())
                    if self.auto_pong:
                        await self.send(p.Pong(t=msg.t))
                    continue
                self._queue.put_nowait(msg)
        except ConnectionClosed:
            pass
        finally:
            self._queue.put_nowait(None)  # end of stream

    @classmethod
    async def connect(cls, url: str, token: str | None = None, **hello: Any) -> HubClient:
        ws = await connect(url, max_size=2**22, ping_interval=None)
        client = cls(ws)
        cls.opened.append(client)
        if token is not None:
            await client.send(p.Hello(protocol=hello.pop("protocol", p.PROTOCOL_VERSION),
                                      token=token, **hello))
            first = await client.next()
            if isinstance(first, p.Error):
                raise PermissionError(first.message)
            assert isinstance(first, p.Welcome), first
            client.welcome = first
        return client

    async def send(self, msg: p._Message) -> None:
        await self.ws.send(msg.to_json())

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def next(self, timeout: float = 5.0) -> Any:
        msg = await asyncio.wait_for(self._queue.get(), timeout)
        if msg is None:
            self._queue.put_nowait(None)
            raise ConnectionError(f"the hub closed the connection ({self.ws.close_code})")
        return msg

    async def expect(self, kind: type[M], timeout: float = 5.0, **match: Any) -> M:
        """The first message of ``kind`` (whose fields equal ``match``), seen or to come."""
        def fits(m: Any) -> bool:
            return isinstance(m, kind) and all(getattr(m, k) == v for k, v in match.items())

        for i, m in enumerate(self.inbox):
            if fits(m):
                return self.inbox.pop(i)  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.next(max(0.0, deadline - loop.time()))
            if fits(msg):
                return msg  # type: ignore[no-any-return]
            self.inbox.append(msg)

    async def nothing_of(self, kind: type[Any], within: float = 0.3) -> None:
        """Assert no message of ``kind`` arrives within ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            msg = await self.expect(kind, timeout=within)
            raise AssertionError(f"unexpected {msg!r}")

    async def close(self) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the hub to close this connection; returns the close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.ws.close_code


class KeptClient:
    """The programs' own reconnecting client (calls.signaling.SignalingClient: back-off,
    ``call_resume`` of held calls after every reconnect) with ``expect`` over everything it
    receives, across reconnects: for tests where a hub dies or drains under the clients."""

    def __init__(self, url: str, token: str) -> None:
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.inbox: list[Any] = []
        self.signaling = SignalingClient(url, token, self.events, client_name="test-kept",
                                         backoff=Backoff(initial=0.05, maximum=0.3))

    async def start(self) -> KeptClient:
        await asyncio.wait_for(self.signaling.start(), 20)
        return self

    async def send(self, msg: p._Message) -> None:
        await self.signaling.send(msg)

    async def expect(self, kind: type[M], timeout: float = 10.0, **match: Any) -> M:
        """The first message (or connection event) of ``kind`` whose fields equal ``match``."""
        def fits(m: Any) -> bool:
            return isinstance(m, kind) and all(getattr(m, k) == v for k, v in match.items())

        for i, m in enumerate(self.inbox):
            if fits(m):
                return self.inbox.pop(i)  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await asyncio.wait_for(self.events.get(), max(0.0, deadline - loop.time()))
            msg = event.message if isinstance(event, Received) else event
            if fits(msg):
                return msg  # type: ignore[no-any-return]
            self.inbox.append(msg)

    async def close(self) -> None:
        await self.signaling.close()
