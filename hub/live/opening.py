"""Whether a caller can expect a nurse now: the hub's opening as an administrator set it (one
row, shared by every hub on the database), the nurses signed in, and what a caller is told
(``hub_status``) when nobody can answer, so that nobody waits in silence."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.signaling import HubState
from hub.db import unit_of_work, utcnow
from hub.errors import where
from hub.live.presence import Presence
from hub.models import HubOpening

log = logging.getLogger("telehub.hub")
T = TypeVar("T")
# What an administrator may set; "unstaffed" is the hub's own finding, never set.
SETTABLE = (HubState.OPEN, HubState.CLOSED, HubState.SUSPENDED)


def read_opening(s: Session) -> tuple[HubState, datetime | None, str | None]:
    """The administrator's setting: its state, when and by whom (open, never set: Nones)."""
    row = s.get(HubOpening, 1)
    if row is None:
        return HubState.OPEN, None, None
    return HubState(row.state), row.changed_at, row.changed_by


def set_opening(s: Session, state: HubState, by: str) -> None:
    """Set the hub open, closed or suspended (in the caller's transaction)."""
    if state not in SETTABLE:
        raise ValueError(f"the hub can be set {', '.join(SETTABLE)}, not {state}")
    row = s.get(HubOpening, 1)
    if row is None:
        s.add(HubOpening(id=1, state=state.value, changed_at=utcnow(), changed_by=by))
    else:
        row.state, row.changed_at, row.changed_by = state.value, utcnow(), by


class Opening:
    """The hub's status as callers see it, told to every site connection when it changes."""

    def __init__(self, config: HubConfig, sessions: sessionmaker[Session], presence: Presence,
                 read: Callable[..., Awaitable[Any]]) -> None:
        self.config = config
        self._sessions = sessions
        self._presence = presence
        self._read = read
        self.set_state = HubState.OPEN  # the administrator's setting, as last read
        self._told: p.HubStatus | None = None

    def status(self) -> p.HubStatus:
        """Open only when the hub is set open and a nurse is signed in; otherwise the state,
        with the hub's advice and phone number."""
        state = self.set_state
        if state is HubState.OPEN and not self._presence.nurse_ids():
            state = HubState.UNSTAFFED
        if state is HubState.OPEN:
            return p.HubStatus(state=state)
        return p.HubStatus(state=state, advice=self.config.closed_advice,
                           phone=self.config.closed_phone or None)

    def is_open(self) -> bool:
        return self.status().state is HubState.OPEN

    def changed(self) -> bool:
        """Tell every site connection if the status differs from what they were last told;
        True if it did."""
        now = self.status()
        if now == self._told:
            return False
        self._told = now
        text = now.to_json()
        for conn in list(self._presence.connections):
            if conn.principal.kind == "site":
                conn.send_text(text)
        return True

    async def reload(self) -> None:
        """Read the administrator's setting again (after a change through the REST API, the
        command line or another hub)."""
        def read() -> HubState:
            with unit_of_work(self._sessions) as s:
                return read_opening(s)[0]

        self.set_state = await self._read(read)

    async def watch(self, on_change: Callable[[], None]) -> None:
        """Re-read the setting every ``session_check_s``: the command line changes the row
        with no hub to tell."""
        while True:
            await asyncio.sleep(self.config.session_check_s)
            try:
                await self.reload()
            except Exception as exc:  # the database is away: keep the last setting
                log.warning("could not read the hub's opening (%s); will try again", where(exc))
                continue
            on_change()
