"""A hand-over through a real hub with real engines: the call, its note and draft record pass to
another nurse, and media is re-established with her without the caller doing anything; then
back to the queue, with its note, for whoever answers next. And a booked clinic's call, rung
at its specialist's engine and answered there with media."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from calls.engine import CallEngine, QueueChanged
from calls.media import read_pattern
from calls.session import (
    CallState,
    HandOverAnswered,
    HandOverReceived,
    LinkChanged,
    StateChanged,
)
from hub.client import HubClient as RestClient
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from hub.db import utcnow
from records.schema import TriageRecord
from tests.calls.test_call import answered_call
from tests.helpers.engines import EventLog, frame_where
from tests.helpers.fixtures import People
from tests.helpers.hubserver import HubDatabase, ThreadedHub

pytestmark = pytest.mark.slow


async def test_a_call_handed_to_a_free_nurse_then_back_to_the_queue(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine]) -> None:
    _site, desk, caller, _answerer, site_log, desk_log = await answered_call(
        hub, people, engines)
    second = engines(hub.ws, people.nurse2.token, CallRole.NURSE)
    second_log = EventLog(second)
    await second.start()
    call_id = caller.call_id
    assert call_id is not None
    nora = people.nurse2.principal
    nina_pid = people.nurse.principal.participant_id
    draft = TriageRecord(site_id="beech", setting="care_home", nurse="someone else",
                         presenting_problem="short of breath since this morning")

    # Declined first: the call stays with the nurse who offered it.
    await desk.hand_over(call_id, nora.participant_id, "please take over: I am called away",
                         draft)
    offered = await second_log.wait(lambda e: isinstance(e, HandOverReceived))
    assert isinstance(offered, HandOverReceived)
    assert offered.offer.note == "please take over: I am called away"
    assert offered.offer.record is not None
    # Who wrote the draft comes from the hub's principal, not from the body.
    assert offered.offer.record.nurse == people.nurse.principal.name
    assert offered.offer.record.presenting_problem == draft.presenting_problem
    assert offered.offer.from_name == people.nurse.principal.name
    await second_log.state(CallState.RINGING)
    await second.sessions[call_id].decline()
    said = await desk_log.wait(lambda e: isinstance(e, HandOverAnswered))
    assert isinstance(said, HandOverAnswered) and said.outcome == "declined"
    assert desk.sessions[call_id].state is CallState.IN_CALL

    # Offered again and taken: the caller's media now comes from the second nurse.
    mark, site_mark = second_log.mark(), site_log.mark()
    await desk.hand_over(call_id, nora.participant_id, "second try", draft)
    await second_log.wait(lambda e: isinstance(e, HandOverReceived), since=mark)
    taken = await second.take_hand_over(call_id)
    await desk_log.wait(lambda e: isinstance(e, StateChanged) and e.new is CallState.ENDED
                        and "handed over to" in e.reason)
    await second_log.state(CallState.IN_CALL, since=mark)
    await site_log.wait(lambda e: isinstance(e, LinkChanged) and e.state == "connected"
                        and e.participant_id == nora.participant_id, since=site_mark)
    assert caller.state is CallState.IN_CALL  # the caller did nothing and never left the call
    assert set(caller.participants) == {people.site.principal.participant_id,
                                        nora.participant_id}
    assert nina_pid not in caller.links
    from_nora = caller.links[nora.participant_id].video
    assert from_nora is not None
    await frame_where(from_nora, lambda f: read_pattern(f) is not None)
    at_nora = taken.links[people.site.principal.participant_id].video
    assert at_nora is not None
    await frame_where(at_nora, lambda f: read_pattern(f) is not None)

    # Back to the queue with a note: the first nurse answers it and gets the note.
    mark, site_mark = desk_log.mark(), site_log.mark()
    await second.hand_over(call_id, None, "back to you, Nina: needs a GP visit")
    await site_log.state(CallState.QUEUED, since=site_mark)
    await desk_log.wait(lambda e: isinstance(e, QueueChanged) and any(
        x.call_id == call_id and x.requeued for x in e.entries), since=mark)
    await desk.claim(call_id)
    got = await desk_log.wait(lambda e: isinstance(e, HandOverReceived), since=mark)
    assert isinstance(got, HandOverReceived) and got.offer.ring_s is None
    assert got.offer.note == "back to you, Nina: needs a GP visit"
    assert got.offer.from_name == nora.name
    await site_log.wait(lambda e: isinstance(e, LinkChanged) and e.state == "connected"
                        and e.participant_id == nina_pid, since=site_mark)
    back = caller.links[nina_pid].video
    assert back is not None
    await frame_where(back, lambda f: read_pattern(f) is not None)


async def test_a_booked_clinic_call_rings_its_specialist_who_answers_with_media(
        hub: ThreadedHub, hubdb: HubDatabase, people: People,
        engines: Callable[..., CallEngine]) -> None:
    prison = hubdb.site("HMP Oakwood", "prison")
    with httpx.Client() as http:
        booking = RestClient(http, hub.http, people.nurse.token).book_clinic(
            site_id=prison.principal.id, specialist_id=people.specialist.principal.id,
            starts_at=utcnow(), title="Dermatology review")
    spec = engines(hub.ws, people.specialist.token, CallRole.SPECIALIST)
    site = engines(hub.ws, prison.token, CallRole.CALLER)
    spec_log, site_log = EventLog(spec), EventLog(site)
    await spec.start()
    await site.start()
    caller = await site.request_call("Dermatology clinic", urgency=p.Urgency.ROUTINE,
                                     clinic_id=booking.id)
    await spec_log.state(CallState.RINGING)
    assert caller.call_id is not None
    ringing = spec.sessions[caller.call_id]
    assert ringing.clinic is not None and ringing.clinic.booking_id == booking.id
    assert ringing.invite is not None and "Dermatology review" in ringing.invite.reason
    joined = await spec.accept_invite(caller.call_id)  # the desk answers it as an invitation
    await spec_log.state(CallState.IN_CALL, within=20)
    await site_log.state(CallState.IN_CALL, within=20)
    link = caller.links[people.specialist.principal.participant_id]
    assert link.video is not None and joined.links[prison.principal.participant_id].offerer
    await frame_where(link.video, lambda f: read_pattern(f) is not None)
    await spec.hang_up(caller.call_id)  # no nurse in it: the specialist's end ends it
    await site_log.state(CallState.ENDED)
