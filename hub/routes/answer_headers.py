"""Headers every HTTP answer of the hub carries: nothing kept in a cache, no type sniffing.

Answers hold patients' data and tokens, so no browser, proxy or disk cache may keep one
(``Cache-Control: no-store``); a browser must take each answer as the type it says it is
(``X-Content-Type-Options: nosniff``). Set here, around the whole application (see
``hub.app.HubApp``), so error answers and the caller page carry them as the routes do; the
``Server`` banner is turned off in uvicorn (``hub.cli.server_options``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ANSWER_HEADERS", "AnswerHeaders"]

ANSWER_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)
_NAMES = {name for name, _ in ANSWER_HEADERS}


class AnswerHeaders:
    """Puts :data:`ANSWER_HEADERS` on every HTTP answer, in place of any a route set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", ()) if n.lower() not in _NAMES]
                message = {**message, "headers": [*kept, *ANSWER_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)
