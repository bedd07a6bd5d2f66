"""Waiting calls survive a hub killed with SIGKILL; callers that reconnect keep their place."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from hub.contract import signaling as p
from hub.models import Call
from tests.helpers.hubserver import HubDatabase, ProcessHub
from tests.helpers.wsclient import HubClient

FAST = ("--heartbeat-interval", "0.5", "--heartbeat-timeout", "2", "--reconnect-grace", "5")


@pytest.mark.slow
async def test_waiting_calls_survive_a_killed_hub_and_keep_their_places(
    hubdb: HubDatabase,
) -> None:
    nurse = hubdb.staff("nurse", "nurse")
    sites = [hubdb.site(name) for name in ("Alder", "Beech", "Cedar")]
    hub = ProcessHub(hubdb.url, *FAST)
    try:
        callers = [await HubClient.connect(hub.ws, s.token) for s in sites]
        plan = [("fall", "routine"), ("chest pain", "emergency"), ("confusion", "urgent")]
        ids = []
        for c, (reason, urgency) in zip(callers, plan, strict=True):
            await c.send(p.CallRequest(request_id=reason, reason=reason,
                                       urgency=p.Urgency(urgency)))
            ids.append((await c.expect(p.CallQueued)).call_id)
        hub.kill()  # no shutdown code runs: only what was committed survives
        for c in callers:
            await c.closed()
    finally:
        hub.stop()

    hub = ProcessHub(hubdb.url, *FAST)
    try:
        desk = await HubClient.connect(hub.ws, nurse.token)
        snap = await desk.expect(p.QueueSnapshot)
        assert [e.reason for e in snap.entries] == ["chest pain", "confusion", "fall"]
        assert not any(e.caller_connected for e in snap.entries)
        # the routine caller comes back first, and still waits behind the other two
        back = await HubClient.connect(hub.ws, sites[0].token)
        await back.send(p.CallResume(call_id=ids[0]))
        q = await back.expect(p.CallQueued)
        assert (q.call_id, q.position) == (ids[0], 3)
        upd = await desk.expect(p.QueueUpdate, call_id=ids[0])
        assert upd.entry is not None and upd.entry.caller_connected
        # the emergency caller comes back too and is answered
        em = await HubClient.connect(hub.ws, sites[1].token)
        await em.send(p.CallResume(call_id=ids[1]))
        assert (await em.expect(p.CallQueued)).position == 1
        await desk.send(p.CallClaim(call_id=ids[1]))
        await desk.expect(p.CallConnected)
        await em.expect(p.CallConnected)
        assert (await back.expect(p.QueuePosition)).position == 2
        # the caller who never came back is logged as lost once the grace period is over
        gone = await desk.expect(p.QueueUpdate, op="removed", call_id=ids[2], timeout=10)
        assert gone.reason == "caller_lost"
        mgr = hubdb.staff("mgr", "manager")
        row = httpx.get(f"{hub.http}/api/v1/calls/{ids[2]}",
                        headers={"Authorization": f"Bearer {mgr.token}"}).json()
        assert row["state"] == "ended" and row["end_reason"] == "caller_lost"
    finally:
        hub.stop()


@pytest.mark.slow
async def test_a_request_sent_again_after_its_call_ended_is_never_a_second_call(
    hubdb: HubDatabase,
) -> None:
    """A station whose call_queued died with its hub sends the same request again, on
    reconnecting, after the call was answered and ended: the hub refuses it, naming the call
    (and so does a hub started since, from the rows); no second call is made."""
    nurse, site = hubdb.staff("nurse", "nurse"), hubdb.site("Alder")
    request = p.CallRequest(request_id="r-once", reason="a fall", urgency=p.Urgency.URGENT)
    hub = ProcessHub(hubdb.url, *FAST)
    try:
        caller = await HubClient.connect(hub.ws, site.token)
        desk = await HubClient.connect(hub.ws, nurse.token)
        await caller.send(request)
        call_id = (await caller.expect(p.CallQueued)).call_id
        await desk.send(p.CallClaim(call_id=call_id))
        await caller.expect(p.CallConnected)
        await desk.send(p.CallEnd(call_id=call_id))
        await caller.expect(p.CallEnded)
        await caller.send(request)
        refused = await caller.expect(p.Error)
        assert (refused.code, refused.ref, refused.call_id, refused.request_id) == (
            p.ErrorCode.WRONG_STATE, "call_request", call_id, "r-once")
    finally:
        hub.stop()
    hub = ProcessHub(hubdb.url, *FAST)  # a new dispatcher: it knows only the rows
    try:
        again = await HubClient.connect(hub.ws, site.token)
        await again.send(request)
        assert (await again.expect(p.Error)).call_id == call_id
        await again.nothing_of(p.CallQueued)
    finally:
        hub.stop()
    with hubdb.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Call)
                        .where(Call.request_id == "r-once")) == 1
