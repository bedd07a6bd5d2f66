"""What the signaling route and the REST routes ask of the live side, on one hub or many.

A single hub answers with its ``Switchboard``; a hub of several on one PostgreSQL database
with its ``ClusterNode`` (hub/live/cluster.py), which passes each message to the hub that
dispatches. The routes see only this.
"""

from __future__ import annotations

from typing import Protocol

from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.live.presence import Connection


class LiveFront(Protocol):
    async def authenticate(self, token: str) -> Principal | None:
        """The principal of a ``hello``'s token; None if it is unknown, expired or revoked."""
        ...

    def attach(self, conn: Connection) -> None:
        """A signed-in connection starts (it is welcomed, shown the queue if it watches it)."""
        ...

    async def handle(self, conn: Connection, msg: p.ClientMessage) -> None:
        """One message from ``conn``; raises Refusal for what it will not do."""
        ...

    async def detach(self, conn: Connection) -> None:
        """The connection closed or went silent."""
        ...

    def tell_site(self, site_id: int, msg: p._Message) -> object:
        """Push ``msg`` to every live connection of a site (after a commit)."""
        ...

    def tell_staff(self, staff_id: int, msg: p._Message) -> object:
        """Push ``msg`` to every live connection of a member of staff (after a commit)."""
        ...

    def disconnect(self, kind: str, principal_id: int, reason: str,
                   keep_token: str | None = None) -> object:
        """Close every live connection of an account whose access was revoked (but those
        signed in with ``keep_token``, a token hash)."""
        ...

    def disconnect_tokens(self, token_hashes: set[str], reason: str) -> object:
        """Close every live connection signed in with one of these token hashes."""
        ...

    def ice_servers(self, pid: str) -> list[p.IceServer]: ...

    async def queue_snapshot(self) -> p.QueueSnapshot: ...

    async def hand_over(self) -> None:
        """SIGTERM, before the sockets close: take no new clients, pass on what only this
        hub does (hub/draining.py)."""
        ...

    def not_ready(self) -> str | None:
        """Why this hub should get no new clients now (draining, database lost); None if
        it should (for the readiness route)."""
        ...
