"""Refusal: a client message the hub will not carry out, answered with an error to that client."""

from __future__ import annotations

from hub.contract.identity import StaffRole
from hub.contract.signaling import ErrorCode
from hub.live.presence import Connection


class Refusal(Exception):
    """A client message that cannot be carried out; becomes an ``error`` to that client only."""

    def __init__(self, code: ErrorCode, message: str, call_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.call_id = code, message, call_id


def require_role(conn: Connection, *roles: StaffRole) -> None:
    if conn.principal.role not in roles:
        raise Refusal(ErrorCode.FORBIDDEN, f"only {' or '.join(roles)} connections may do this")
