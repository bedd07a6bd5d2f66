"""What the hub answers and logs when a request is refused or fails: the field, never its value.

A validation error names the field and the rule it broke, without pydantic's ``input`` (the
value sent: a password, a patient's name) or ``ctx``. An unhandled error is answered with a
plain 500 and logged as its type and where it was raised (file, line, function), never its
message or a traceback: the message of a database error can carry the row it failed to
write, and a traceback's lines carry whatever the code was doing with the values.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UnhandledErrors", "field_errors", "install", "where"]

log = logging.getLogger("telehub.hub")
_ROOT = Path(__file__).resolve().parent.parent


def where(exc: BaseException) -> str:
    """``exc`` as its type and the place it was raised in the telehub code (else the last
    frame): enough to find the bug, nothing of the values it was raised over."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(str(_ROOT)) and "site-packages" not in
            f.filename] or frames[-1:]  # fmt: skip
    if not ours:
        return type(exc).__name__
    frame = ours[-1]
    try:
        path = str(Path(frame.filename).resolve().relative_to(_ROOT))
    except ValueError:
        path = Path(frame.filename).name
    return f"{type(exc).__name__} at {path}:{frame.lineno} in {frame.name}"


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """pydantic's errors as the hub answers them: where, what rule, no value."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in errors]  # fmt: skip


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": field_errors(exc.errors())}, status_code=422)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body that is not text (bytes that are not UTF-8): a bad
        # value like any other, so the same 422 and the same form.
        return JSONResponse({"detail": [{"loc": ["body"], "msg": "the body is not JSON text",
                                         "type": "json_invalid"}]}, status_code=422)
    return await http_exception_handler(request, exc)


class UnhandledErrors:
    """The outermost layer of the app: an error no route handled is answered 500 and logged
    by type, route and place, and goes no further (uvicorn would log its traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept",
                                   "websocket.close"):  # fmt: skip
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            route = scope.get("route")
            path = getattr(route, "path", None) or "(no route)"
            log.error("unhandled %s on %s %s", where(exc), scope.get("method", "WS"), path)
            if started or scope["type"] != "http":
                return  # the answer is under way: the server ends the connection
            await JSONResponse({"detail": "the hub failed to handle this request; nothing "
                                          "was changed, try again"}, status_code=500,
                               )(scope, receive, send)  # fmt: skip


def install(app: FastAPI) -> None:
    """Answer validation errors without values, and catch whatever no route handled."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _refused)
    app.add_middleware(UnhandledErrors)
