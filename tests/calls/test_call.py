"""Whole calls through a real hub on loopback: real peer connections, real frames."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from calls.engine import CallEngine, QueueChanged
from calls.session import CallSession, CallState, InvalidStateError, Role
from tests.calls.conftest import EventLog, People, frame_where, stamps_of
from tests.helpers.hubserver import ThreadedHub

pytestmark = pytest.mark.slow


async def answered_call(hub: ThreadedHub, people: People,
                        engines: Callable[..., CallEngine], **kw: object,
                        ) -> tuple[CallEngine, CallEngine, CallSession, CallSession, EventLog,
                                   EventLog]:
    """A site calls, a nurse answers; returns both engines and sessions once in call."""
    site = engines(hub.ws, people.site.token, Role.CALLER, **kw)
    desk = engines(hub.ws, people.nurse.token, Role.NURSE, **kw)
    site_log, desk_log = EventLog(site), EventLog(desk)
    await site.start()
    await desk.start()
    caller = await site.request_call("short of breath since this morning")
    await site_log.state(CallState.QUEUED)
    await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
    assert caller.call_id is not None
    answerer = await desk.claim(caller.call_id)
    await desk_log.state(CallState.IN_CALL)
    await site_log.state(CallState.IN_CALL)
    return site, desk, caller, answerer, site_log, desk_log


async def test_two_engines_exchange_video_in_order(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine]) -> None:
    threads_before = {t.ident for t in threading.enumerate()}
    tasks_before = asyncio.all_tasks()
    site, desk, caller, answerer, site_log, _desk_log = await answered_call(hub, people, engines)
    site_pid, desk_pid = people.site.principal.participant_id, people.nurse.principal.participant_id
    at_desk = answerer.links[site_pid]
    at_site = caller.links[desk_pid]
    assert at_desk.offerer and not at_site.offerer  # the desk offers to the caller
    for link in (at_desk, at_site):  # video both ways, decoded
        assert link.video is not None
        await frame_where(link.video, lambda f: True)
    counters = stamps_of(at_desk.video)  # type: ignore[arg-type]
    async with asyncio.timeout(10):
        while len(counters) < 30:
            await frame_where(at_desk.video, lambda f: True)  # type: ignore[arg-type]
    assert counters == sorted(counters) and len(set(counters)) == len(counters)
    assert counters[-1] - counters[0] < 2 * len(counters)  # few gaps on loopback
    assert at_desk.audio is not None and at_desk.audio.frames > 0

    # a message wrong for the state is refused and changes nothing
    with pytest.raises(InvalidStateError):
        await answerer.claim()
    await desk.hang_up(caller.call_id or "")
    await site_log.state(CallState.ENDED)
    assert caller.state is CallState.ENDED and answerer.state is CallState.ENDED
    assert not caller.links and not answerer.links and caller.media is None

    await site.close()
    await desk.close()
    # nothing of the call is left running: tasks and threads are as before it started
    leftover = {t for t in asyncio.all_tasks() - tasks_before if not t.done()}
    leftover.discard(asyncio.current_task())  # type: ignore[arg-type]
    assert not leftover, leftover
    threads = [t for t in threading.enumerate()
               if t.ident not in threads_before and not t.name.startswith("asyncio_")]
    assert not threads, threads
