"""A cap on request bodies, enforced before any route reads one (413)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    """Refuses request bodies over the cap with 413 before any route reads them; a path
    that matches one of ``wider`` (a regular expression) has that cap instead (a photo)."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 wider: Mapping[str, int] | None = None) -> None:
        self.app, self.max_bytes = app, max_bytes
        self._wider = [(re.compile(path), cap) for path, cap in (wider or {}).items()]

    def _cap(self, path: str) -> int:
        return next((cap for pattern, cap in self._wider if pattern.match(path)),
                    self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope.get("path", "")) if self._wider else self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > cap:
                await self._refuse(send, cap)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send, cap)

    async def _refuse(self, send: Send, cap: int) -> None:
        response = JSONResponse(
            {"detail": f"request body is over the {cap}-byte limit"}, status_code=413
        )
        await response({"type": "http"}, _nothing, send)


class _TooLarge(Exception):
    pass


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
