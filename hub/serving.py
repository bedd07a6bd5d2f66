"""How the hub is served: uvicorn's settings, and the HTTP and WebSocket protocols that hold
every client to the client limits (hub.config.ClientLimits), used by ``telehub-hub serve``
and by the tests' hubs alike.

uvicorn's own limits leave gaps an unauthenticated client can use to slow the hub for
everyone (its event loop is the switchboard's): the httptools parser buffers a request head
of any size (128 MiB were taken whole), nothing bounds how long a head may take to arrive
(slowloris: a byte every few seconds holds a connection for ever), and a WebSocket whose
peer reads nothing keeps its send buffer for as long as the peer keeps the TCP connection.
The two protocol classes below close those gaps; a refusal costs the hub one small answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from hub.config import ClientLimits, HubConfig

__all__ = ["LimitedHttp", "LimitedWebSocket", "server_config"]

log = logging.getLogger("telehub.hub")

WS_MAX_BYTES = 1024 * 1024  # frames above the protocol cap but below this get a clear error


class _HeadRefused(Exception):
    """The request head broke a limit: answer ``status`` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class LimitedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on the request head (bytes and header count)
    and deadlines: the head must arrive within ``header_timeout_s`` of its first byte (or of
    the connection), the body within ``body_timeout_s`` of the head."""

    limits: ClientLimits = ClientLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between a message's first byte and its complete head
        self._head_bytes = 0
        self._header_count = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._refused: _HeadRefused | None = None  # raised inside a parser callback

    # --- deadlines ------------------------------------------------------------------------

    def _arm(self, seconds: float, status: int, reason: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, status, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, status: int, reason: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self._refuse(status, reason)
        else:  # an answer is on its way: no status line can follow, only the cut
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        # A connection that sends nothing at all is held to the same deadline as a slow head.
        self._arm(self.limits.header_timeout_s, 408, "the request head took too long")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- the head -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        try:
            self._feed(data)
        except _HeadRefused as refused:
            self._refuse(refused.status, refused.reason)

    def _feed(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except httptools.HttpParserError:  # uvicorn lets an upgrade's error through
            if self._refused is not None:
                raise self._refused from None
            raise
        if self._in_head and not self.transport.is_closing():
            # Still inside a head after this chunk: httptools keeps it all in memory.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                raise _HeadRefused(431, "the request head is over the limit")

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the WebSocket has its own rules from here
        super().handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._header_count = True, 0, 0
        if self._deadline is None:
            self._arm(self.limits.header_timeout_s, 408, "the request head took too long")

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            raise self._refusing(431, "too many request headers")
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        # A head that arrived in one chunk is parsed before data_received can count it.
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            raise self._refusing(431, "the request head is over the limit")

    def _refusing(self, status: int, reason: str) -> _HeadRefused:
        # httptools turns a callback's exception into its own parser error, which uvicorn
        # answers 400: noted here, so the answer says which limit it was.
        self._refused = _HeadRefused(status, reason)
        return self._refused

    def send_400_response(self, msg: str) -> None:
        if self._refused is not None:
            self._refuse(self._refused.status, self._refused.reason)
        else:
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        if self.parser is not None and self.parser.should_upgrade():
            self._disarm()
        else:
            self._arm(self.limits.body_timeout_s, 408, "the request body took too long")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _refuse(self, status: int, reason: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        peer = self.client[0] if self.client else "?"
        log.info("HTTP %d to %s: %s", status, peer, reason)
        body = f'{{"detail":"{reason}"}}'.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"cache-control: no-store\r\nx-content-type-options: nosniff\r\n"
            b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body))
        self.transport.close()
        self.parser = None  # type: ignore[assignment]


class LimitedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, aborting a connection whose peer has read nothing for
    ``ws_stall_s``: the send buffer stays full (the transport paused writing) for that long.

    The hub's per-connection outbox (hub.live.presence) bounds what waits for a slow reader;
    this bounds how long the socket itself is kept for one that never reads, since a close
    frame cannot reach it and asyncio holds a closing transport until its buffer drains."""

    limits: ClientLimits = ClientLimits()
    _stall: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall is None:
            self._stall = self.loop.call_later(self.limits.ws_stall_s, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        super().connection_lost(exc)

    def _stalled(self) -> None:
        self._stall = None
        log.info("WebSocket peer read nothing for %.0f s: connection aborted",
                 self.limits.ws_stall_s)
        self.transport.abort()


def server_config(app: Any, config: HubConfig, **settings: Any) -> uvicorn.Config:
    """uvicorn's settings for serving ``app``: the protocols above with ``config.limits``,
    the hub's WebSocket choices, and ``settings`` (TLS files, log level) on top."""
    limits = config.limits
    http = type("HubHttp", (LimitedHttp,), {"limits": limits})
    ws = type("HubWebSocket", (LimitedWebSocket,), {"limits": limits})
    return uvicorn.Config(
        app, http=http, ws=ws, ws_max_size=WS_MAX_BYTES, access_log=False,
        timeout_keep_alive=limits.keep_alive_s,
        ws_ping_interval=None,  # the protocol has its own heartbeat
        # Frames are small JSON; compressing each one for 300 sites costs more than it saves.
        ws_per_message_deflate=False,
        server_header=False,  # no banner telling an attacker what to look up
        **settings,
    )
