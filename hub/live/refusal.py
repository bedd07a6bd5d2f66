"""Refusal: a client message the hub will not carry out, answered with an error to that client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from hub.contract import signaling as p
from hub.contract.identity import StaffRole
from hub.contract.signaling import ErrorCode
from hub.live.presence import Connection

log = logging.getLogger("telehub.hub")


class Refusal(Exception):
    """A client message that cannot be carried out; becomes an ``error`` to that client only."""

    def __init__(self, code: ErrorCode, message: str, call_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.call_id = code, message, call_id


def require_role(conn: Connection, *roles: StaffRole) -> None:
    if conn.principal.role not in roles:
        raise Refusal(ErrorCode.FORBIDDEN, f"only {' or '.join(roles)} connections may do this")


async def carry_out(
    handle: Callable[[Connection, p.ClientMessage], Awaitable[None]],
    conn: Connection, msg: p.ClientMessage,
) -> None:
    """Handle one client message; a refusal or a bug becomes an ``error`` to that client."""
    try:
        await handle(conn, msg)
    except Refusal as r:
        conn.send(p.Error(code=r.code, message=r.message, ref=msg.type, call_id=r.call_id,
                          request_id=getattr(msg, "request_id", None)))
    except Exception:
        log.exception("bug while handling a %s message", msg.type)
        conn.send(p.Error(code=p.ErrorCode.INTERNAL, ref=msg.type,
                          message="the hub failed to handle this message; "
                          "nothing was changed on your side, try again"))
