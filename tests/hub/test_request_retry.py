"""A call request sent again (its call_queued lost with a line or a hub) is answered so that the
station can tie it to what it asked: with call_queued, by its request_id, whatever became of
the call meanwhile; never a second call, never a refusal of a request the hub holds."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from calls.engine import CallEngine
from calls.session import CallState, ParticipantsChanged, Refused
from hub.calllog import CallLog
from hub.client import Backoff
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from hub.models import Call
from tests.helpers.engines import EventLog
from tests.helpers.fixtures import People
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.waiting import wait_until_async
from tests.helpers.wsclient import HubClient


def request(request_id: str = "r1") -> p.CallRequest:
    return p.CallRequest(request_id=request_id, reason="a fall", urgency=p.Urgency.URGENT)


def calls_of(hubdb: HubDatabase, request_id: str) -> int:
    with hubdb.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Call)
                            .where(Call.request_id == request_id)) or 0)


async def test_a_request_sent_again_after_a_nurse_answered_is_told_its_call_queued_first(
    hub: ThreadedHub, hubdb: HubDatabase, people: People
) -> None:
    """call_connected names no request: a caller that never had its call_queued could not
    tell which of its requests a nurse answered (the station's engine ignored it, and sat on
    its request while the nurse waited in a call with no one)."""
    desk = await HubClient.connect(hub.ws, people.nurse.token)
    await desk.expect(p.QueueSnapshot)
    first = await HubClient.connect(hub.ws, people.site.token)
    await first.send(request())
    call_id = (await first.expect(p.CallQueued)).call_id
    await first.close()  # its call_queued is lost with the line (as far as the caller knows)
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected, call_id=call_id)

    back = await HubClient.connect(hub.ws, people.site.token)
    await back.send(request())
    connected = await back.expect(p.CallConnected)
    queued = [m for m in back.inbox if isinstance(m, p.CallQueued)]  # it came before
    assert [(q.call_id, q.request_id) for q in queued] == [(call_id, "r1")]
    assert connected.call_id == call_id
    assert connected.you == people.site.principal.participant_id
    await back.nothing_of(p.Error)
    assert calls_of(hubdb, "r1") == 1


async def test_a_request_sent_again_while_it_is_being_saved_is_answered_once_it_is_safe(
    hub: ThreadedHub, hubdb: HubDatabase, people: People, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first connection is lost while the request is being written (its hub went: the
    station reconnects to another and sends it again at once). The retry waits for the write
    and is told its call_queued; it was refused (wrong_state), which a station takes as the
    end of its call, while the call waited in the queue with no caller."""
    writing, release = threading.Event(), threading.Event()
    record = CallLog.record_request

    def slow(*args: Any, **kwargs: Any) -> Any:
        writing.set()
        release.wait(10)
        return record(*args, **kwargs)

    monkeypatch.setattr(CallLog, "record_request", staticmethod(slow))
    try:
        first = await HubClient.connect(hub.ws, people.site.token)
        await first.send(request())
        await wait_until_async(writing.is_set, 5, "the request's write to start")
        await first.close()
        back = await HubClient.connect(hub.ws, people.site.token)
        await back.send(request())
        await back.nothing_of(p.Error)  # not refused while the first is being written
    finally:
        release.set()
    queued = await back.expect(p.CallQueued)
    assert queued.request_id == "r1"
    await back.nothing_of(p.Error)
    desk = await HubClient.connect(hub.ws, people.nurse.token)
    snapshot = await desk.expect(p.QueueSnapshot)
    assert [e.call_id for e in snapshot.entries] == [queued.call_id]
    assert snapshot.entries[0].caller_connected is True
    assert calls_of(hubdb, "r1") == 1


async def test_the_station_sending_its_request_again_reaches_the_nurse_who_answered(
    hub: ThreadedHub, hubdb: HubDatabase, people: People
) -> None:
    """The station's engine, whose call_queued was lost (the request went out on a line
    that dropped, here another connection of the site), sends the same request again: it is
    queued, then connected to the nurse, not left requesting."""
    desk = await HubClient.connect(hub.ws, people.nurse.token)
    await desk.expect(p.QueueSnapshot)
    lost = await HubClient.connect(hub.ws, people.site.token)
    await lost.send(request("station-1"))
    call_id = (await lost.expect(p.CallQueued)).call_id
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected, call_id=call_id)

    station = CallEngine(hub.ws, people.site.token, CallRole.CALLER,
                         backoff=Backoff(initial=0.05, maximum=0.3))
    events = EventLog(station)
    try:
        await station.start()
        session = await station.request_call("a fall", request_id="station-1")
        await events.state(CallState.CONNECTING)
        assert session.call_id == call_id
        assert station.sessions.get(call_id) is session
        # Sent again once more (a second welcome before the hub read the first): its
        # call_queued is no news to a call a nurse has answered, and no refusal to show.
        mark = events.mark()
        assert session.request_message is not None
        await station.signaling.send(session.request_message)
        await events.wait(lambda e: isinstance(e, ParticipantsChanged), since=mark)
        assert not [e for e in events.events[mark:] if isinstance(e, Refused)]
        assert session.state is CallState.CONNECTING
    finally:
        await station.close()
    assert calls_of(hubdb, "station-1") == 1
