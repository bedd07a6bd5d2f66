"""The browser caller page at ``/call``: static files from resources/caller, no sign-in needed.

The page itself is public (a patient opens it before signing in with an invitation code);
it does nothing until the code is exchanged for a token at
``POST /api/v1/auth/invitation-login``. Plain ES2017 and CSS, served from the hub itself:
no build step, no CDN, and a content security policy that allows nothing else.
``GET /call/hubs`` tells the page the other hubs of the service (``serve --peer-url``): with
no load balancer in front, the page moves its WebSocket to the next when its own is lost.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

import resources
from hub.contract.rest import CallerHubsOut
from hub.routes.deps import ConfigDep

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self)",
}  # and, as on every answer, no-store and nosniff (hub/routes/answer_headers.py)

router = APIRouter(include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = resources.path("caller") / name
    # Only plain file names in the directory itself: no sub-paths, no dot files.
    if ("/" in name or name.startswith(".") or path.suffix not in _TYPES
            or not path.is_file()):
        raise HTTPException(404, "no such file")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)


@router.get("/call")
def page() -> FileResponse:
    return _file("index.html")


@router.get("/call/")
def page_slash() -> RedirectResponse:
    return RedirectResponse("/call", status_code=308)


@router.get("/call/hubs")
async def hubs(config: ConfigDep) -> CallerHubsOut:
    # Public like the page: the addresses are the ones patients' links point at anyway.
    return CallerHubsOut(hubs=list(config.peer_urls))


@router.get("/call/{name}")
def asset(name: str) -> FileResponse:
    return _file(name)
