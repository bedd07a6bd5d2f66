"""The call-log writer: the live side's database work, off the event loop and in order.

Reads run on one thread; call-log writes are grouped on another (:class:`hub.db.GroupCommit`),
so database work never blocks the loop, writes stay in the order they were asked for, and
a burst of calls shares one durable commit. Each write returns once it is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from hub.calllog import CallLog, StoredCall
from hub.contract.signaling import ChatMessage, EndReason, Participant
from hub.db import GroupCommit
from hub.models import Call

T = TypeVar("T")


class CallLogWriter:
    def __init__(self, sessions: sessionmaker[Session],
                 on_write: Callable[[float], None] | None = None) -> None:
        self.calllog = CallLog(sessions)
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-db")
        self.writes = GroupCommit(sessions, observe=on_write)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking read on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._reads, fn, *args)

    async def open_calls(self) -> list[StoredCall]:
        return await self.read(self.calllog.open_calls)

    async def recent_durations(self) -> tuple[list[float], list[float]]:
        return await self.read(self.calllog.recent_durations)

    async def ended_requests(self, since: datetime) -> list[tuple[int, str, str]]:
        return await self.read(self.calllog.ended_requests, since)

    async def request(self, row: Call) -> None:
        await self.writes.run(CallLog.record_request, row)

    async def answer(
        self, call_id: str, desk_staff_id: int, desk: Participant, caller: Participant,
        at: datetime, first_answer: bool,
    ) -> bool:
        """False if the log did not hold the call as waiting (see CallLog.record_answer)."""
        return await self.writes.run(CallLog.record_answer, call_id, desk_staff_id, desk,
                                     caller, at, first_answer)

    async def join(self, call_id: str, who: Participant, at: datetime) -> None:
        await self.writes.run(CallLog.record_join, call_id, who, at)

    async def leave(self, call_id: str, participant_id: str, at: datetime, reason: str) -> None:
        await self.writes.run(CallLog.record_leave, call_id, participant_id, at, reason)

    async def requeue(self, call_id: str, desk_participant_id: str, at: datetime,
                      reason: str = "desk_lost") -> None:
        await self.writes.run(CallLog.record_requeue, call_id, desk_participant_id, at, reason)

    async def chat(self, said: ChatMessage) -> None:
        await self.writes.run(CallLog.record_chat, said)

    async def hold(self, call_id: str, by: str, at: datetime) -> None:
        await self.writes.run(CallLog.record_hold, call_id, by, at)

    async def resume(self, call_id: str, at: datetime) -> None:
        await self.writes.run(CallLog.record_resume, call_id, at)

    async def end(self, call_id: str, reason: EndReason, by: str | None, at: datetime) -> None:
        await self.writes.run(CallLog.record_end, call_id, reason, by, at)

    def close(self) -> None:
        self._reads.shutdown(wait=True)
        self.writes.close()
