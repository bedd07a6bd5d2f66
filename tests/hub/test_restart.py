"""Waiting calls survive a hub killed with SIGKILL; callers that reconnect keep their place,
and a cancel that died with the hub is sent again."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from calls.engine import CallEngine
from calls.session import CallState
from hub.client import Backoff
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from hub.models import Call
from tests.e2e.test_caller_page import invite, visible
from tests.helpers.chromium import Chromium
from tests.helpers.hubserver import HubDatabase, ProcessHub, free_port
from tests.helpers.waiting import wait_until_async
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


# A grace long enough that a call the clients do not cancel again would still be waiting
# when the test looks; a heartbeat timeout long enough that a stopped hub is not given up
# on before the cancels have been written into its sockets.
LONG_GRACE = 30.0
KEEP_WAITING = ("--heartbeat-interval", "0.5", "--heartbeat-timeout", "5",
                "--reconnect-grace", str(LONG_GRACE))


def stopped(proc: subprocess.Popen[str]) -> bool:
    """The process is stopped (SIGSTOP has taken effect): it reads nothing more."""
    return Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_cancel_lost_with_its_hub_is_sent_again_and_the_call_ends_abandoned(
    hubdb: HubDatabase, browser: Chromium,
) -> None:
    """The station's and the caller page's cancels of their waiting calls are written into
    the sockets of a hub that is stopped (SIGSTOP: it reads nothing) and then killed: neither
    reaches it. Started again, the hub takes both calls back as waiting; each client
    reconnects, resumes its call, is told it still waits, and cancels it again: both end
    `abandoned` (not `caller_lost` when the grace runs out), long before the grace, and
    leave the desk's queue. Then the page's caller gives up before its call is queued."""
    nurse, site = hubdb.staff("nina", "nurse"), hubdb.site("Alder")
    port = free_port()
    hub = ProcessHub(hubdb.url, *KEEP_WAITING, port=port)
    quick = Backoff(initial=0.1, maximum=0.5)
    station = CallEngine(hub.ws, site.token, CallRole.CALLER, backoff=quick)
    desk = CallEngine(hub.ws, nurse.token, CallRole.NURSE, backoff=quick)
    try:
        await station.start()
        await desk.start()
        waiting = await station.request_call("a fall")
        await browser.goto(hub.http + invite(hub, nurse)["link"])
        await browser.wait_for(visible("prepare"))
        await browser.evaluate("document.getElementById('reason').value = 'Breathless';"
                               "document.getElementById('call-button').click()")
        await browser.wait_for("TelehubCaller.state.callId !== null")
        page_call = await browser.evaluate("TelehubCaller.state.callId")
        await wait_until_async(lambda: waiting.call_id is not None
                               and set(desk.queue) == {waiting.call_id, page_call},
                               10, "both calls in the desk's queue")
        assert waiting.call_id is not None
        calls = {waiting.call_id, page_call}

        hub.proc.send_signal(signal.SIGSTOP)
        await wait_until_async(lambda: stopped(hub.proc), 5, "the hub to stop")
        await station.hang_up(waiting.call_id)
        await browser.evaluate("document.getElementById('cancel-button').click()")
        await browser.wait_for(visible("ended"))
        await browser.wait_for("TelehubCaller.state.ws.bufferedAmount === 0")  # written
        assert waiting.state is CallState.ENDED
        hub.kill()  # the cancels die unread in its sockets
        hub.stop()
        with hubdb.sessions() as s:
            assert {c.state for c in s.scalars(select(Call))} == {"waiting"}

        hub = ProcessHub(hubdb.url, *KEEP_WAITING, port=port)
        started = time.monotonic()

        def ended() -> dict[str, str | None]:
            with hubdb.sessions() as s:
                return {c.id: c.end_reason for c in s.scalars(select(Call))
                        if c.state == "ended"}

        await wait_until_async(lambda: ended().keys() == calls, LONG_GRACE / 2,
                               "both calls to end, cancelled again")
        assert ended() == dict.fromkeys(calls, "abandoned")
        assert time.monotonic() - started < LONG_GRACE / 2
        await wait_until_async(lambda: desk.signaling.connections >= 2 and not desk.queue,
                               10, "the desk's queue to be empty again")
        # Each client sent its cancel twice, and keeps nothing once the hub said it ended.
        assert await browser.evaluate("TelehubCaller.state.sent.filter(m => m.type === "
                                      "'call_cancel').length") == 2
        await browser.wait_for("Object.keys(TelehubCaller.state.hangUps).length === 0")
        await wait_until_async(lambda: not station.sessions, 5, "the station to forget it")

        # The page's caller gives up before the hub has queued the call: its call_queued
        # is answered with the cancel.
        await browser.evaluate("document.getElementById('again-button').click()")
        await browser.wait_for(visible("prepare"))
        await browser.evaluate("document.getElementById('reason').value = 'Dizzy';"
                               "document.getElementById('call-button').click();"
                               "document.getElementById('cancel-button').click()")
        await browser.wait_for("Object.keys(TelehubCaller.state.unqueued).length === 0 && "
                               "Object.keys(TelehubCaller.state.hangUps).length === 0")

        def hasty() -> tuple[str, str | None]:
            with hubdb.sessions() as s:
                call = s.scalars(select(Call).where(Call.reason == "Dizzy")).one()
                return call.state, call.end_reason

        await wait_until_async(lambda: hasty()[0] == "ended", 10, "its end logged")
        assert hasty() == ("ended", "abandoned")
    finally:
        await station.close()
        await desk.close()
        hub.stop()
