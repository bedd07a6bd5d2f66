"""The browser caller page at ``/call``: static files from resources/caller, no sign-in needed.

The page itself is public (a patient opens it before signing in with an invitation code);
it does nothing until the code is exchanged for a token at
``POST /api/v1/auth/invitation-login``. Plain ES2017 and CSS, served from the hub itself:
no build step, no CDN, and a content security policy that allows nothing else.
``GET /call/hubs`` tells the page the other hubs of the service (``serve --peer-url``): with
no load balancer in front, the page moves its WebSocket to the next when its own is lost,
and sends its requests (a photo, the plan) to the hub it has moved to (:func:`allow_peers`).
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, RedirectResponse

import resources
from hub.config import HubConfig
from hub.contract.rest import CallerHubsOut
from hub.routes.deps import ConfigDep

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@lru_cache(maxsize=4)
def _headers(peers: tuple[str, ...]) -> dict[str, str]:
    # connect-src: its own hub, any WebSocket (the other hubs' too), and the other hubs'
    # REST (a photo, the plan) once the page has moved to one of them.
    others = "".join(f" {origin}" for origin in peers)
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:{others}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(self), microphone=(self)",
    }  # and, as on every answer, no-store and nosniff (hub/routes/answer_headers.py)


router = APIRouter(include_in_schema=False)


def allow_peers(app: FastAPI, config: HubConfig) -> None:
    """The page served by another hub of the service may send its requests here once its
    own hub is lost (CORS for the ``--peer-url`` origins only, nothing when there are none).
    Its requests carry a bearer token and no cookie: a browser sends nothing on its own, and
    every route checks the token's role as for any client."""
    if config.peer_urls:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.peer_urls),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)


def _file(name: str, config: HubConfig) -> FileResponse:
    path = resources.path("caller") / name
    # Only plain file names in the directory itself: no sub-paths, no dot files.
    if ("/" in name or name.startswith(".") or path.suffix not in _TYPES
            or not path.is_file()):
        raise HTTPException(404, "no such file")
    return FileResponse(path, media_type=_TYPES[path.suffix],
                        headers=_headers(config.peer_urls))


@router.get("/call")
def page(config: ConfigDep) -> FileResponse:
    return _file("index.html", config)


@router.get("/call/")
def page_slash() -> RedirectResponse:
    return RedirectResponse("/call", status_code=308)


@router.get("/call/hubs")
async def hubs(config: ConfigDep) -> CallerHubsOut:
    # Public like the page: the addresses are the ones patients' links point at anyway.
    return CallerHubsOut(hubs=list(config.peer_urls))


@router.get("/call/{name}")
def asset(name: str, config: ConfigDep) -> FileResponse:
    return _file(name, config)
