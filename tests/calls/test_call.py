"""Whole calls through a real hub on loopback: real peer connections, real frames."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import av
import pytest
from sqlalchemy import select

from calls.engine import CallEngine, QueueChanged, SignalingChanged
from calls.media import read_pattern
from calls.session import (
    CallSession,
    CallState,
    InvalidStateError,
    LinkChanged,
    LocalMediaChanged,
    ParticipantsChanged,
    RemoteMediaAdded,
)
from hub.client import Backoff
from hub.contract.identity import CallRole
from hub.models import Call, CallParticipant
from tests.helpers.engines import EventLog, frame_where, stamps_of
from tests.helpers.fixtures import People
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.tcprelay import TcpRelay
from tests.helpers.waiting import holds_for_async, wait_until_async

pytestmark = pytest.mark.slow


async def answered_call(hub: ThreadedHub, people: People,
                        engines: Callable[..., CallEngine], **kw: object,
                        ) -> tuple[CallEngine, CallEngine, CallSession, CallSession, EventLog,
                                   EventLog]:
    """A site calls, a nurse answers; returns both engines and sessions once in call."""
    site = engines(hub.ws, people.site.token, CallRole.CALLER, **kw)
    desk = engines(hub.ws, people.nurse.token, CallRole.NURSE, **kw)
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
    # The hub serving this test lives in the same process; its threads are not the call's,
    # nor are the loop's idle executor workers.
    threads = [t for t in threading.enumerate()
               if t.ident not in threads_before
               and not t.name.startswith(("asyncio_", "hub-", "test-hub"))]
    assert not threads, threads


async def test_specialist_joins_as_third_party_in_a_mesh(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine]) -> None:
    _site, _desk, caller, answerer, site_log, desk_log = await answered_call(hub, people, engines)
    spec = engines(hub.ws, people.specialist.token, CallRole.SPECIALIST)
    spec_log = EventLog(spec)
    await spec.start()
    assert caller.call_id is not None
    await answerer.invite_specialist("query sepsis")
    await spec_log.state(CallState.RINGING)
    joined = await spec.accept_invite(caller.call_id)
    await spec_log.state(CallState.IN_CALL)
    site_pid = people.site.principal.participant_id
    desk_pid = people.nurse.principal.participant_id
    spec_pid = people.specialist.principal.participant_id
    # a mesh: the specialist offered to both; everyone receives everyone's pattern
    assert set(joined.links) == {site_pid, desk_pid}
    assert all(link.offerer for link in joined.links.values())
    for session, log, others in ((joined, spec_log, (site_pid, desk_pid)),
                                 (caller, site_log, (desk_pid, spec_pid)),
                                 (answerer, desk_log, (site_pid, spec_pid))):
        for pid in others:
            await log.wait(lambda e, pid=pid: isinstance(e, LinkChanged)  # type: ignore[misc]
                           and e.participant_id == pid and e.state == "connected")
            sink = session.links[pid].video
            assert sink is not None
            first = read_counter(await frame_where(sink, lambda f: read_pattern(f) is not None))
            later = read_counter(await frame_where(
                sink, lambda f, n=first + 10: (s := read_pattern(f)) is not None and s.counter > n))
            assert later > first
    # the specialist leaves; the nurse and the caller go on
    mark = site_log.mark()
    await joined.hang_up()
    await site_log.wait(lambda e: isinstance(e, ParticipantsChanged) and spec_pid not in {
        x.participant_id for x in e.participants}, since=mark)
    assert spec_pid not in caller.links and caller.state is CallState.IN_CALL
    at_site = caller.links[desk_pid].video
    assert at_site is not None
    await frame_where(at_site, lambda f: True)
    assert desk_log is not None


def read_counter(frame: av.VideoFrame) -> int:
    stamp = read_pattern(frame)
    assert stamp is not None
    return stamp.counter


async def test_caller_drop_resumes_and_media_recovers(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine]) -> None:
    """The site's hub connection drops mid-call: it reconnects, resumes the same call, and
    video flows again (over a new peer connection if the old one had stopped)."""
    site, _desk, caller, answerer, site_log, desk_log = await answered_call(hub, people, engines)
    call_id = caller.call_id
    site_mark, desk_mark = site_log.mark(), desk_log.mark()
    await site.signaling.drop()
    await site_log.wait(lambda e: isinstance(e, SignalingChanged) and e.connected
                        and e.reason == "reconnected", since=site_mark)
    # the desk hears the caller leave and come back (the hub's participant_left/joined)
    await desk_log.wait(lambda e: isinstance(e, ParticipantsChanged) and len(
        e.participants) == 2, since=desk_mark + 1)
    assert caller.call_id == call_id and caller.state is CallState.IN_CALL
    link = answerer.links[people.site.principal.participant_id]
    assert link.video is not None
    await frame_where(link.video, lambda f: True)


async def test_desk_lost_requeues_the_caller_and_another_nurse_takes_it(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine]) -> None:
    _site, desk, caller, answerer, site_log, _desk_log = await answered_call(hub, people, engines)
    # The desk vanishes for good (its machine died): no hang-up reaches the hub.
    mark = site_log.mark()
    await desk.signaling.close()
    for link in list(answerer.links.values()):
        await link.close()
    moved = await site_log.state(CallState.QUEUED, within=15, since=mark)
    assert "back at the front" in moved.reason
    assert caller.links == {}
    second = engines(hub.ws, people.nurse2.token, CallRole.NURSE)
    second_log = EventLog(second)
    await second.start()
    await second_log.wait(lambda e: isinstance(e, QueueChanged) and any(
        x.call_id == caller.call_id and x.requeued for x in e.entries))
    assert caller.call_id is not None
    taken = await second.claim(caller.call_id)
    await site_log.state(CallState.IN_CALL, since=mark)
    link = taken.links[people.site.principal.participant_id]
    assert link.video is not None
    await frame_where(link.video, lambda f: True)
    await desk.close()


def _is_black(frame: av.VideoFrame) -> bool:
    luma = bytes(frame.planes[0])
    return read_pattern(frame) is None and max(luma[:: 97]) <= 40


def _is_silent(frame: av.AudioFrame) -> bool:
    return not any(bytes(frame.planes[0]))


async def audio_where(session: CallSession, pid: str, fits: Callable[[av.AudioFrame], bool],
                      within: float = 5.0) -> None:
    sink = session.remote_audio(pid)
    assert sink is not None
    found = asyncio.get_running_loop().create_future()

    def listen(frame: av.AudioFrame) -> None:
        if not found.done() and fits(frame):
            found.set_result(None)

    sink.listeners.append(listen)
    try:
        await asyncio.wait_for(found, within)
    finally:
        sink.listeners.remove(listen)


async def test_mute_camera_off_and_hold_reach_the_other_end(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine]) -> None:
    """The desk's switches change what the caller receives (silence, black), and the
    caller's link keeps carrying media throughout (never taken for a dead link)."""
    _site, _desk, caller, answerer, site_log, desk_log = await answered_call(
        hub, people, engines)
    desk_pid = people.nurse.principal.participant_id
    # the UI learns of each remote sink by an event, and gets it through the session
    added = await site_log.wait(lambda e: isinstance(e, RemoteMediaAdded) and e.kind == "video")
    assert isinstance(added, RemoteMediaAdded) and added.role == "nurse"
    video = caller.remote_video(added.participant_id)
    assert added.participant_id == desk_pid and video is caller.links[desk_pid].video
    assert video is not None
    await frame_where(video, lambda f: read_pattern(f) is not None)
    await audio_where(caller, desk_pid, lambda f: not _is_silent(f))

    answerer.set_camera_off(True)
    await frame_where(video, _is_black)
    answerer.set_muted(True)
    await audio_where(caller, desk_pid, _is_silent)
    changed = await desk_log.wait(lambda e: isinstance(e, LocalMediaChanged) and e.muted)
    assert isinstance(changed, LocalMediaChanged) and changed.camera_off and changed.ready

    # hold overrides both; resuming restores what the switches say (unmuted, camera on)
    answerer.set_camera_off(False)
    answerer.set_muted(False)
    await frame_where(video, lambda f: read_pattern(f) is not None)
    answerer.set_hold(True)
    await frame_where(video, _is_black)
    await audio_where(caller, desk_pid, _is_silent)
    site_pid = people.site.principal.participant_id
    # Held for longer than a dead link would last: neither end takes the silence for one.
    await holds_for_async(
        lambda: caller.links[desk_pid] is not None and caller.links[desk_pid].generation == 1
        and answerer.links[site_pid].generation == 1,
        answerer.ctx.options.media_timeout + 0.5, "a held call keeps its first link")
    answerer.set_hold(False)
    await frame_where(video, lambda f: read_pattern(f) is not None)
    await audio_where(caller, desk_pid, lambda f: not _is_silent(f))

    # the self view is our outgoing video, black while the camera is off
    own = answerer.self_view()
    assert own is not None
    try:
        answerer.set_camera_off(True)
        async with asyncio.timeout(5):
            while not _is_black(await own.recv()):  # type: ignore[arg-type]
                pass
    finally:
        own.stop()
    await answerer.hang_up()
    with pytest.raises(InvalidStateError):
        answerer.set_muted(True)


async def test_a_cancel_that_never_left_is_sent_after_the_reconnect_unless_the_call_ended(
        start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase, people: People,
        engines: Callable[..., CallEngine]) -> None:
    """The station's line is down (a relay cut) when the caller gives up waiting: the cancel
    cannot be sent. Back on line, the station resumes the call, hears it still waits and
    cancels it: it ends `abandoned` at once, not `caller_lost` when the 30 s grace ends.
    A second call is answered and ended by the nurse while the station, its caller gone, is
    away: the resume is answered with that end, and the station lets the call go. A third
    is given up on before the hub has queued it: cancelled once its call_queued comes."""
    hub = start_hub(reconnect_grace=30.0)
    relay = TcpRelay(hub.port)
    try:
        site = engines(f"ws://127.0.0.1:{relay.port}/ws", people.site.token, CallRole.CALLER)
        desk = engines(hub.ws, people.nurse.token, CallRole.NURSE)
        site_log = EventLog(site)
        await site.start()
        await desk.start()

        def row(call_id: str) -> tuple[str, str | None, str | None]:
            with hubdb.sessions() as s:
                call = s.get(Call, call_id)
                assert call is not None
                return call.state, call.end_reason, call.ended_by

        for nurse_ends_it in (False, True):
            mark = site_log.mark()
            caller = await site.request_call("a fall")
            await site_log.state(CallState.QUEUED, since=mark)
            call_id = caller.call_id
            assert call_id is not None
            await wait_until_async(lambda c=call_id: c in desk.queue, 10, "the desk to see it")
            mark = site_log.mark()
            relay.cut()
            await site_log.wait(lambda e: isinstance(e, SignalingChanged) and not e.connected,
                                since=mark)
            await caller.hang_up()  # not sent: the line is down
            assert caller.state is CallState.ENDED and call_id in site.sessions
            if nurse_ends_it:
                await desk.claim(call_id)
                await desk.hang_up(call_id)
                await wait_until_async(lambda c=call_id: row(c)[0] == "ended", 10,
                                       "the nurse's end to be logged")
            relay.restore()
            await wait_until_async(lambda c=call_id: c not in site.sessions, 10,
                                   "the station to hear the call ended")
            await wait_until_async(lambda c=call_id: c not in desk.queue, 10,
                                   "the call to leave the desk's queue")
            await wait_until_async(lambda c=call_id: row(c)[0] == "ended", 10, "its end logged")
            assert row(call_id) == (("ended", "completed", people.nurse.principal.participant_id)
                                    if nurse_ends_it else
                                    ("ended", "abandoned", people.site.principal.participant_id))

        # Given up on before the hub has queued it: cancelled as soon as call_queued names it.
        hasty = await site.request_call("a fall")
        await hasty.hang_up()
        await wait_until_async(lambda: hasty.call_id is not None
                               and hasty.call_id not in site.sessions, 10,
                               "the station to cancel it once queued")
        assert hasty.call_id is not None
        await wait_until_async(lambda: row(str(hasty.call_id))[0] == "ended", 10, "its end")
        assert row(hasty.call_id)[:2] == ("ended", "abandoned")
    finally:
        relay.close()


async def test_a_call_asked_for_between_connections_goes_when_the_station_is_back(
        hub: ThreadedHub, hubdb: HubDatabase, people: People,
        engines: Callable[..., CallEngine]) -> None:
    """A hub died and this care home waits its turn to sign in again (a long back-off):
    pressing "Call the hub" then neither fails nor waits out the back-off. The station
    connects at once and the request goes with the welcome. One given up on before it was
    ever sent is never sent: the hub logs no call for it."""
    slow = Backoff(initial=30.0, maximum=30.0, jitter=0)
    site = engines(hub.ws, people.site.token, CallRole.CALLER, backoff=slow)
    desk = engines(hub.ws, people.nurse.token, CallRole.NURSE)
    site_log = EventLog(site)
    await site.start()
    await desk.start()

    async def dropped() -> None:
        mark = site_log.mark()
        await site.signaling.drop()
        await site_log.wait(lambda e: isinstance(e, SignalingChanged) and not e.connected,
                            since=mark)

    def calls_logged() -> int:
        with hubdb.sessions() as s:
            return len(s.scalars(select(Call)).all())

    # Given up on before it left: nothing reaches the hub, even once the station is back.
    await dropped()
    hasty = await site.request_call("a fall")
    assert hasty.state is CallState.REQUESTING
    await hasty.hang_up()
    await wait_until_async(lambda: site.signaling.connected, 10, "the station to reconnect")
    await holds_for_async(lambda: calls_logged() == 0 and not desk.queue, 0.5,
                          "no call logged for a request never sent")

    # Asked for while away: sent once the station is back, at once rather than in 30 s.
    await dropped()
    mark = site_log.mark()
    caller = await site.request_call("short of breath since this morning")
    await site_log.state(CallState.QUEUED, since=mark)
    assert site.signaling.connections == 3
    await wait_until_async(lambda: caller.call_id in desk.queue, 10, "the desk to see it")
    assert calls_logged() == 1


async def claimed_call(site: CallEngine, desk: CallEngine, site_log: EventLog
                       ) -> tuple[str, CallSession]:
    """A call from ``site`` answered by ``desk`` (both started); its id and the desk's session
    once the caller is in it."""
    caller = await site.request_call("a fall")
    await site_log.state(CallState.QUEUED)
    call_id = caller.call_id
    assert call_id is not None
    await wait_until_async(lambda: call_id in desk.queue, 10, "the desk to see it")
    answerer = await desk.claim(call_id)
    await site_log.state(CallState.IN_CALL)
    return call_id, answerer


async def test_a_nurses_end_that_never_left_is_sent_after_the_reconnect(
        start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase, people: People,
        engines: Callable[..., CallEngine]) -> None:
    """The desk's line is down (a relay cut, or its hub died) when the nurse ends the call:
    the end cannot be sent. Back on line, the desk resumes the call, hears it is still
    connected and ends it again: it ends `completed` by the nurse at once, not put back at
    the front of the queue when the desk's 30 s grace runs out, for a second nurse to answer
    a finished call."""
    hub = start_hub(reconnect_grace=30.0)
    relay = TcpRelay(hub.port)
    try:
        site = engines(hub.ws, people.site.token, CallRole.CALLER)
        desk = engines(f"ws://127.0.0.1:{relay.port}/ws", people.nurse.token, CallRole.NURSE)
        site_log, desk_log = EventLog(site), EventLog(desk)
        await site.start()
        await desk.start()
        call_id, _answerer = await claimed_call(site, desk, site_log)
        caller = site.sessions[call_id]
        mark = desk_log.mark()
        relay.cut()
        await desk_log.wait(lambda e: isinstance(e, SignalingChanged) and not e.connected,
                            since=mark)
        await desk.hang_up(call_id)  # not sent: the line is down
        assert call_id in desk.sessions  # kept until the hub says the call ended

        def row() -> tuple[str, str | None, str | None, bool]:
            with hubdb.sessions() as s:
                call = s.get(Call, call_id)
                assert call is not None
                return call.state, call.end_reason, call.ended_by, call.requeued

        assert row()[0] == "connected"
        relay.restore()
        await site_log.state(CallState.ENDED, within=10)
        await wait_until_async(lambda: row()[0] == "ended", 10, "the end to be logged")
        assert row() == ("ended", "completed", people.nurse.principal.participant_id, False)
        await wait_until_async(lambda: call_id not in desk.sessions, 10,
                               "the desk to hear the call ended")
        assert caller.state is CallState.ENDED and not desk.queue
    finally:
        relay.close()


async def test_a_specialists_leave_that_never_left_is_sent_after_the_reconnect(
        start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase, people: People,
        engines: Callable[..., CallEngine]) -> None:
    """The same for a specialist who leaves while their line is down: back on line, the
    leave goes again, and the call log has them leaving (``left``) at once, not lost until
    their grace runs out; the nurse and the caller go on."""
    hub = start_hub(reconnect_grace=30.0)
    relay = TcpRelay(hub.port)
    try:
        site = engines(hub.ws, people.site.token, CallRole.CALLER)
        desk = engines(hub.ws, people.nurse.token, CallRole.NURSE)
        spec = engines(f"ws://127.0.0.1:{relay.port}/ws", people.specialist.token,
                       CallRole.SPECIALIST)
        site_log, spec_log = EventLog(site), EventLog(spec)
        for engine in (site, desk, spec):
            await engine.start()
        call_id, answerer = await claimed_call(site, desk, site_log)
        caller = site.sessions[call_id]
        await answerer.invite_specialist("query sepsis")
        await spec_log.state(CallState.RINGING)
        await spec.accept_invite(call_id)
        await spec_log.state(CallState.IN_CALL)
        spec_pid = people.specialist.principal.participant_id

        def left_reason() -> str | None:
            with hubdb.sessions() as s:
                row = s.scalars(select(CallParticipant).where(
                    CallParticipant.call_id == call_id,
                    CallParticipant.participant_id == spec_pid)).one()
                return row.left_reason

        mark = spec_log.mark()
        relay.cut()
        await spec_log.wait(lambda e: isinstance(e, SignalingChanged) and not e.connected,
                            since=mark)
        await spec.hang_up(call_id)  # not sent: the line is down
        assert left_reason() is None
        relay.restore()
        await wait_until_async(lambda: left_reason() == "left", 10,
                               "the specialist's leave to be logged")
        await wait_until_async(lambda: call_id not in spec.sessions, 10,
                               "the specialist to hear it has left")
        assert caller.state is CallState.IN_CALL and answerer.state is CallState.IN_CALL
    finally:
        relay.close()
