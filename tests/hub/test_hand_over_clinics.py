"""Issue 14 on a real hub with plain clients: a booked clinic call rings its specialist and falls
back to the nurses; hand-over refusals and a hand-over nobody answers; the hub at a glance
against a known queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hub.client import HubClient as RestClient
from hub.contract import signaling as p
from hub.contract.rest import ClinicDayQuery
from hub.db import unit_of_work, utcnow
from hub.models import Call
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    return {"heartbeat_interval": 0.5, "heartbeat_timeout": 3.0, "reconnect_grace": 1.5,
            "clinic_ring_s": 1.0, "hand_over_ring_s": 1.0}


def ask(reason: str, urgency: str = "routine", **extra: Any) -> p.CallRequest:
    return p.CallRequest(request_id=uuid.uuid4().hex, reason=reason,
                         urgency=p.Urgency(urgency), **extra)


async def test_a_clinic_call_rings_its_specialist_then_falls_back_to_the_nurses(
        hub: ThreadedHub, hubdb: HubDatabase) -> None:
    prison = hubdb.site("HMP Oakwood", "prison")
    other = hubdb.site("HMP Elsewhere", "prison")
    sam = hubdb.staff("sam", "specialist")
    nurse = hubdb.staff("nina", "nurse")
    with httpx.Client() as http:
        rest = RestClient(http, hub.http, nurse.token)
        choices = rest.clinic_choices()
        assert {x.name for x in choices.prisons} == {"HMP Oakwood", "HMP Elsewhere"}
        assert [x.id for x in choices.specialists] == [sam.principal.id]
        book = {"site_id": prison.principal.id, "specialist_id": sam.principal.id,
                "starts_at": utcnow(), "title": "Dermatology review"}
        first, second = rest.book_clinic(**book), rest.book_clinic(**book)
        theirs = rest.book_clinic(**{**book, "site_id": other.principal.id})

        desk = await HubClient.connect(hub.ws, nurse.token)
        await desk.expect(p.QueueSnapshot)
        site = await HubClient.connect(hub.ws, prison.token)
        # Another prison's booking, or no booking at all, is refused naming the field.
        await site.send(ask("clinic", clinic_id=theirs.id))
        refused = await site.expect(p.Error)
        assert refused.code is p.ErrorCode.INVALID and "clinic_id" in refused.message

        # Not signed in: straight to the nurses, and the caller is told.
        await site.send(ask("dermatology clinic", clinic_id=first.id))
        queued = await site.expect(p.CallQueued)
        fell = await site.expect(p.ClinicFallback, call_id=queued.call_id)
        assert fell.reason == "not_signed_in" and fell.position == 1
        await desk.expect(p.QueueUpdate, op="added", call_id=queued.call_id)
        await site.send(p.CallCancel(call_id=queued.call_id))
        await desk.expect(p.QueueUpdate, op="removed", call_id=queued.call_id)

        # Signed in: it rings the specialist only; unanswered, it falls back after 1 s.
        spec = await HubClient.connect(hub.ws, sam.token)
        await site.send(ask("dermatology clinic", clinic_id=second.id))
        queued = await site.expect(p.CallQueued)
        ring = await spec.expect(p.ClinicRing, call_id=queued.call_id)
        assert ring.booking_id == second.id and ring.title == "Dermatology review"
        assert ring.site_name == "HMP Oakwood"
        await desk.nothing_of(p.QueueUpdate, within=0.3)  # the nurses are not shown it
        await desk.send(p.CallClaim(call_id=queued.call_id))  # nor can they take it
        assert (await desk.expect(p.Error)).code is p.ErrorCode.ALREADY_CLAIMED
        fell = await site.expect(p.ClinicFallback, call_id=queued.call_id, timeout=5)
        assert fell.reason == "not_answered"
        gone = await spec.expect(p.InviteWithdrawn, call_id=queued.call_id)
        assert gone.reason == "not_answered"
        await desk.expect(p.QueueUpdate, op="added", call_id=queued.call_id)
        await spec.send(p.InviteAccept(call_id=queued.call_id))  # too late: a nurse's now
        assert (await spec.expect(p.Error)).code is p.ErrorCode.ALREADY_CLAIMED
        await site.send(p.CallCancel(call_id=queued.call_id))
        await desk.expect(p.QueueUpdate, op="removed", call_id=queued.call_id)

        # Answered in time: the specialist has the call, and the booking has its call id.
        third = rest.book_clinic(**book)
        await site.send(ask("dermatology clinic", clinic_id=third.id))
        queued = await site.expect(p.CallQueued)
        await spec.expect(p.ClinicRing, call_id=queued.call_id)
        await spec.send(p.InviteAccept(call_id=queued.call_id))
        connected = await spec.expect(p.CallConnected, call_id=queued.call_id)
        assert {x.role for x in connected.participants} == {"caller", "specialist"}
        await site.expect(p.CallConnected, call_id=queued.call_id)
        booked = {b.id: b for b in rest.clinic_day(ClinicDayQuery())}
        assert booked[third.id].call_id == queued.call_id
        assert booked[first.id].call_id is not None
        # The specialist's hang-up ends a call no nurse is in.
        await spec.send(p.CallEnd(call_id=queued.call_id))
        ended = await site.expect(p.CallEnded, call_id=queued.call_id)
        assert ended.reason is p.EndReason.COMPLETED
        await desk.nothing_of(p.QueueUpdate, within=0.2)


async def test_hand_over_refusals_and_an_offer_nobody_answers(
        start_hub: Any, hubdb: HubDatabase) -> None:
    hub: ThreadedHub = start_hub(stun_urls=["stun:stun.example.nhs.uk:3478"])
    nina, nora, tom = (hubdb.staff(n, "nurse") for n in ("nina", "nora", "tom"))
    sam = hubdb.staff("sam", "specialist")
    home = hubdb.site("Beech House")
    desk, other, third = [await HubClient.connect(hub.ws, s.token) for s in (nina, nora, tom)]
    spec = await HubClient.connect(hub.ws, sam.token)
    site = await HubClient.connect(hub.ws, home.token)
    await site.send(ask("fall"))
    call_id = (await site.expect(p.CallQueued)).call_id
    # An offer on a waiting call: not_participant (there is no one to send it to yet).
    await site.send(p.Offer(call_id=call_id, to=nina.principal.participant_id, sdp="v=0"))
    assert (await site.expect(p.Error, ref="offer")).code is p.ErrorCode.NOT_PARTICIPANT
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected, call_id=call_id)

    async def refused(client: HubClient, msg: p._Message) -> p.Error:
        await client.send(msg)
        return await client.expect(p.Error, ref=msg.type)  # type: ignore[attr-defined]

    err = await refused(spec, p.HandOver(call_id=call_id, to=nora.principal.participant_id))
    assert err.code is p.ErrorCode.FORBIDDEN
    err = await refused(other, p.HandOver(call_id=call_id, to=tom.principal.participant_id))
    assert err.code is p.ErrorCode.NOT_PARTICIPANT
    for bad in ("nora", "site:1", desk.welcome.principal.participant_id):  # type: ignore[union-attr]
        err = await refused(desk, p.HandOver(call_id=call_id, to=bad))
        assert err.code is p.ErrorCode.INVALID and err.message.startswith("to:")
    err = await refused(desk, p.HandOver(call_id=call_id, to="staff:999999"))
    assert err.code is p.ErrorCode.NOT_FOUND and "to:" in err.message
    err = await refused(other, p.HandOverAccept(call_id=call_id))
    assert err.code is p.ErrorCode.WRONG_STATE
    # A frame-level refusal of a bad field names the field (the contract's limits).
    await desk.send_raw(json.dumps({"type": "hand_over", "call_id": call_id, "note": "x" * 501}))
    err = await desk.expect(p.Error, ref="hand_over")
    assert err.code is p.ErrorCode.INVALID and "note" in err.message

    # Offered, not answered within hand_over_ring_s: back to the nurse, withdrawn there.
    await desk.send(p.HandOver(call_id=call_id, to=nora.principal.participant_id,
                               note="can you take this?"))
    offer = await other.expect(p.HandOverOffer, call_id=call_id)
    assert offer.note == "can you take this?" and offer.ring_s == 1.0
    assert offer.entry.reason == "fall" and offer.from_name == nina.principal.name
    # While it rings, Nora is not free for another.
    err = await refused(third, p.HandOver(call_id=call_id, to=nora.principal.participant_id))
    assert err.code is p.ErrorCode.NOT_PARTICIPANT
    status = await desk.expect(p.HandOverStatus, call_id=call_id, timeout=5)
    assert status.outcome == "not_answered" and status.by == nora.principal.name
    assert (await other.expect(p.HandOverStatus, call_id=call_id)).outcome == "withdrawn"
    err = await refused(other, p.HandOverAccept(call_id=call_id))
    assert err.code is p.ErrorCode.WRONG_STATE
    # A specialist joins; Nina hands the call back to the queue. The specialist's part ends
    # with call_ended without a "by" (the hub ended it), the caller is requeued.
    await desk.send(p.InviteSpecialist(call_id=call_id))
    await spec.expect(p.SpecialistInvite, call_id=call_id)
    await spec.send(p.InviteAccept(call_id=call_id))
    await spec.expect(p.CallConnected, call_id=call_id)
    await desk.send(p.HandOver(call_id=call_id, note="back you go"))
    assert (await desk.expect(p.HandOverStatus, call_id=call_id)).outcome == "queued"
    ended = await spec.expect(p.CallEnded, call_id=call_id)
    assert ended.reason is p.EndReason.COMPLETED and ended.by is None
    left = await site.expect(p.ParticipantLeft, participant_id=sam.principal.participant_id)
    assert left.reason == "handed_over"
    await site.expect(p.CallRequeued, call_id=call_id)
    await third.send(p.CallClaim(call_id=call_id))
    back = await third.expect(p.HandOverOffer, call_id=call_id)
    assert back.note == "back you go" and back.ring_s is None
    await third.send(p.CallEnd(call_id=call_id))
    await site.expect(p.CallEnded, call_id=call_id)

    # A refused frame carries the request's own id back, and the type it refused as ref.
    await site.send_raw(json.dumps({"type": "call_request", "request_id": "r-9",
                                    "reason": "x", "urgency": "soon"}))
    err = await site.expect(p.Error, ref="call_request")
    assert err.code is p.ErrorCode.INVALID and err.request_id == "r-9"
    assert "urgency" in err.message and "soon" not in err.message
    # /ice-servers leaves out what a server does not have, as call_connected does.
    with httpx.Client() as http:
        answer = http.get(f"{hub.http}/api/v1/ice-servers",
                          headers={"Authorization": f"Bearer {home.token}"})
    assert answer.status_code == 200 and "null" not in answer.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # counted from memory and rows
async def test_the_hub_at_a_glance_against_a_known_queue(
        start_hub: Any, hubdb: HubDatabase) -> None:
    home = hubdb.site("Beech House")
    now = utcnow()
    with unit_of_work(hubdb.sessions) as s:
        # Answered today: one within its standard, one outside; and one emergency waiting
        # for two minutes already (the hub takes it back from the log when it starts).
        for urgency, waited, state in (("urgent", 100, "ended"), ("emergency", 90, "ended"),
                                       ("emergency", None, "waiting")):
            requested = now - timedelta(seconds=waited or 120)
            s.add(Call(id=str(uuid.uuid4()), site_id=home.principal.id,
                       request_id=uuid.uuid4().hex, reason="seeded", urgency=urgency,
                       state=state, requeued=False, requested_at=requested,
                       answered_at=now if waited else None))
    hub: ThreadedHub = start_hub(reconnect_grace=60.0)  # the seeded caller is away
    nina, nora = hubdb.staff("nina", "nurse"), hubdb.staff("nora", "nurse")
    manager = hubdb.staff("max", "manager")
    desk = await HubClient.connect(hub.ws, nina.token)
    first = await desk.expect(p.HubGlance)
    waits = {w.urgency: w for w in first.waiting}
    assert waits[p.Urgency.EMERGENCY].waiting == 1
    assert waits[p.Urgency.EMERGENCY].longest_wait_s >= 120
    assert waits[p.Urgency.EMERGENCY].standard_s == 60
    assert waits[p.Urgency.EMERGENCY].breached
    assert waits[p.Urgency.URGENT].waiting == 0 and not waits[p.Urgency.URGENT].breached
    assert waits[p.Urgency.URGENT].standard_s == 300
    assert (first.answered_today, first.answered_in_standard_today) == (2, 1)
    assert (first.nurses_signed_in, first.nurses_free, first.nurses_in_call) == (1, 1, 0)

    other = await HubClient.connect(hub.ws, nora.token)
    boss = await HubClient.connect(hub.ws, manager.token)
    site = await HubClient.connect(hub.ws, home.token)
    for urgency in ("urgent", "urgent", "routine"):
        await site.send(ask("new call", urgency))
        await site.expect(p.CallQueued)

    async def glance_where(client: HubClient, fits: Any) -> p.HubGlance:
        """The first glance pushed to ``client`` that fits (each push is a change)."""
        async with asyncio.timeout(10):
            while not fits(glance := await client.expect(p.HubGlance)):
                pass
        return glance

    def counts(g: p.HubGlance) -> dict[str, int]:
        return {w.urgency.value: w.waiting for w in g.waiting}

    g = await glance_where(boss, lambda g: counts(g) == {
        "emergency": 1, "urgent": 2, "routine": 1} and g.nurses_signed_in == 2)
    assert g.nurses_free == 2
    assert [x.participant_id for x in g.free_nurses] == [
        nina.principal.participant_id, nora.principal.participant_id]
    # Nora answers the emergency: a free nurse fewer, an answer outside the standard.
    snap = await other.expect(p.QueueSnapshot)
    emergency = next(e for e in snap.entries if e.urgency is p.Urgency.EMERGENCY)
    await other.send(p.CallClaim(call_id=emergency.call_id))
    g = await glance_where(desk, lambda g: g.nurses_in_call == 1)
    assert (g.nurses_signed_in, g.nurses_free) == (2, 1)
    assert [x.name for x in g.free_nurses] == [nina.principal.name]
    assert counts(g)["emergency"] == 0
    assert (g.answered_today, g.answered_in_standard_today) == (3, 1)
    # A new urgent call answered at once counts within its standard.
    await desk.expect(p.QueueSnapshot)  # the one it was shown when it connected
    await desk.send(p.QueueSync())
    queue = await desk.expect(p.QueueSnapshot)
    urgent = next(e for e in queue.entries if e.urgency is p.Urgency.URGENT)
    await desk.send(p.CallClaim(call_id=urgent.call_id))
    g = await glance_where(boss, lambda g: g.answered_today == 4)
    assert g.answered_in_standard_today == 2 and g.nurses_free == 0
