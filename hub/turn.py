"""ICE servers for calls, with short-lived TURN credentials in coturn's use-auth-secret scheme."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from hub.contract.signaling import IceServer


def turn_credentials(
    secret: str, user: str, ttl_s: int, now: float | None = None
) -> tuple[str, str]:
    """The REST-API TURN credential coturn's ``--use-auth-secret`` accepts.

    username = "<unix expiry>:<user>", credential = base64(HMAC-SHA1(secret, username)).
    """
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(
    stun_urls: list[str], turn_urls: list[str], turn_secret: str | None, user: str, ttl_s: int
) -> list[IceServer]:
    servers: list[IceServer] = []
    if stun_urls:
        servers.append(IceServer(urls=list(stun_urls)))
    if turn_urls and turn_secret:
        username, credential = turn_credentials(turn_secret, user, ttl_s)
        servers.append(IceServer(urls=list(turn_urls), username=username, credential=credential))
    return servers
