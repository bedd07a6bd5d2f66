"""Several real hub processes on one PostgreSQL database (docs/cluster.md): claims by desks on
different hubs, a call across two hubs with real frames, a killed dispatcher, a drained hub,
and SQLite's one-process rule."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from calls.conversation import ChatReceived, HoldChanged, HubStatusChanged
from calls.engine import CallEngine, GlanceChanged, QueueChanged, SignalingChanged
from calls.media import make_pattern_frame
from calls.photos import PhotoEvent, encode_still
from calls.session import CallState, HandOverReceived, LinkChanged, ParticipantsChanged
from hub import cli
from hub.client import Backoff
from hub.client import HubClient as HubRestClient
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from hub.db import unit_of_work
from hub.models import Call, CallParticipant, HubNode
from tests.e2e.test_caller_page import invite, visible
from tests.helpers.chromium import Chromium
from tests.helpers.engines import EventLog, frame_where
from tests.helpers.hubserver import HubDatabase, ProcessHub, ThreadedHub
from tests.helpers.wsclient import HubClient

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def hub_db_url(fresh_pg_database: Callable[[], str]) -> str:
    return fresh_pg_database()


async def claim_outcome(desk: HubClient, call_id: str) -> str:
    """``connected`` if this desk got the call, else the error code it was refused with."""
    while True:
        msg = await desk.next(timeout=10)
        if isinstance(msg, p.CallConnected) and msg.call_id == call_id:
            return "connected"
        if isinstance(msg, p.Error) and msg.call_id == call_id:
            return str(msg.code)
        desk.inbox.append(msg)


def engine(urls: list[str], token: str, role: CallRole) -> CallEngine:
    return CallEngine(urls, token, role, backoff=Backoff(initial=0.1, maximum=0.5))


async def test_desks_on_different_hubs_claim_every_call_exactly_once(
    hubdb: HubDatabase, start_hubs: Callable[[int], list[ProcessHub]],
) -> None:
    hubs = start_hubs(3)
    nurses = [hubdb.staff(f"nurse{i}", "nurse") for i in range(6)]
    sites = [hubdb.site(f"Home {i}") for i in range(3)]
    desks = [await HubClient.connect(hubs[i % 3].ws, n.token) for i, n in enumerate(nurses)]
    for desk in desks:
        await desk.expect(p.QueueSnapshot)
    callers = [await HubClient.connect(hubs[i].ws, s.token) for i, s in enumerate(sites)]
    answered: list[str] = []
    for n in range(8):
        caller = callers[n % 3]  # requests from every hub in turn
        await caller.send(p.CallRequest(request_id=f"r{n}", reason="a fall",
                                        urgency=p.Urgency.URGENT))
        call_id = (await caller.expect(p.CallQueued, timeout=10)).call_id
        for desk in desks:  # every desk, on every hub, sees it
            await desk.expect(p.QueueUpdate, op="added", call_id=call_id, timeout=10)
        await asyncio.gather(*(d.send(p.CallClaim(call_id=call_id)) for d in desks))
        outcomes = await asyncio.gather(*(claim_outcome(d, call_id) for d in desks))
        assert sorted(outcomes) == ["already_claimed"] * 5 + ["connected"], outcomes
        await caller.expect(p.CallConnected, call_id=call_id, timeout=10)
        winner = desks[outcomes.index("connected")]
        await winner.send(p.CallEnd(call_id=call_id))
        await caller.expect(p.CallEnded, call_id=call_id, timeout=10)
        answered.append(call_id)
    with unit_of_work(hubdb.sessions) as s:
        nurse_rows = dict(s.execute(
            select(CallParticipant.call_id, func.count()).where(CallParticipant.role == "nurse")
            .group_by(CallParticipant.call_id)).all())
        states = dict(s.execute(select(Call.id, Call.state)).all())
    assert nurse_rows == {c: 1 for c in answered}  # answered once each, by one desk
    assert states == {c: "ended" for c in answered}


async def test_a_site_on_one_hub_and_a_desk_on_another_talk_with_real_frames(
    hubdb: HubDatabase, start_hubs: Callable[[int], list[ProcessHub]],
) -> None:
    a, b = start_hubs(2)
    site_p, nurse_p = hubdb.site("Beech House"), hubdb.staff("nina", "nurse")
    site = engine([a.ws], site_p.token, CallRole.CALLER)
    desk = engine([b.ws], nurse_p.token, CallRole.NURSE)
    try:
        site_log, desk_log = EventLog(site), EventLog(desk)
        await site.start()
        await desk.start()
        caller = await site.request_call("short of breath since this morning")
        await site_log.state(CallState.QUEUED)
        await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
        assert caller.call_id is not None
        call_id = caller.call_id
        # Chat to the waiting caller and its answer cross the two hubs (through the
        # dispatching hub's box), and so does the hub's status set on the other hub.
        await desk.conversation.say(call_id, "A nurse will be with you in a few minutes.")
        told = await site_log.wait(lambda e: isinstance(e, ChatReceived))
        assert isinstance(told, ChatReceived)
        assert told.message.sender == nurse_p.principal.participant_id
        await site.conversation.say(call_id, "Thank you")
        await desk_log.wait(lambda e: isinstance(e, ChatReceived)
                            and e.message.text == "Thank you")
        admin = hubdb.staff("root", "admin")
        for state in ("suspended", "open"):
            r = await asyncio.to_thread(
                httpx.put, f"{b.http}/api/v1/hub/opening", json={"state": state},
                headers={"Authorization": f"Bearer {admin.token}"})
            assert r.status_code == 200, r.text
            await site_log.wait(lambda e, s=state: isinstance(e, HubStatusChanged)
                                and e.status.state == s)
        answerer = await desk.claim(call_id)
        await desk_log.state(CallState.IN_CALL)
        await site_log.state(CallState.IN_CALL)
        for link in (answerer.links[site_p.principal.participant_id],
                     caller.links[nurse_p.principal.participant_id]):
            assert link.video is not None
            await frame_where(link.video, lambda f: True, within=15)  # both ways, decoded
        # A photo across the hubs: asked on b, relayed to the site on a; sent over REST to
        # b; the nurse on b is told, whichever hub dispatches.
        await desk.ask_photo(caller.call_id)
        asked = await site_log.wait(lambda e: isinstance(e, PhotoEvent))
        assert isinstance(asked, PhotoEvent) and isinstance(asked.message, p.PhotoRequested)
        still = encode_still(make_pattern_frame(320, 240, 1, 0))
        with httpx.Client(timeout=10) as http:
            sent = await asyncio.to_thread(
                HubRestClient(http, b.http, site_p.token).upload_photo,
                caller.call_id, asked.message.request_id, still.content_type, still.data)
        ready = await desk_log.wait(lambda e: isinstance(e, PhotoEvent)
                                    and isinstance(e.message, p.PhotoReady))
        assert isinstance(ready, PhotoEvent) and isinstance(ready.message, p.PhotoReady)
        assert ready.message.photo_id == str(sent.photo_id)
        await desk.conversation.hold(call_id, True)
        await site_log.wait(lambda e: isinstance(e, HoldChanged) and e.held.held)
        await desk.conversation.hold(call_id, False)
        await site_log.wait(lambda e: isinstance(e, HoldChanged) and not e.held.held)
        # A hand-over across the hubs (issue 14): Nina on hub b hands the call to Nora on
        # hub a, who sees both nurses at a glance; the caller's media comes from Nora.
        nora_p = hubdb.staff("nora", "nurse")
        second = engine([a.ws], nora_p.token, CallRole.NURSE)
        second_log = EventLog(second)
        await second.start()
        await second_log.wait(lambda e: isinstance(e, GlanceChanged)
                              and e.glance.nurses_signed_in == 2
                              and e.glance.nurses_in_call == 1, within=15)
        await desk.hand_over(caller.call_id, nora_p.principal.participant_id, "over to you")
        offered = await second_log.wait(lambda e: isinstance(e, HandOverReceived), within=15)
        assert isinstance(offered, HandOverReceived) and offered.offer.note == "over to you"
        mark = site_log.mark()
        await second.take_hand_over(caller.call_id)
        await second_log.state(CallState.IN_CALL, within=20)
        await site_log.wait(lambda e: isinstance(e, LinkChanged) and e.state == "connected"
                            and e.participant_id == nora_p.principal.participant_id,
                            since=mark, within=20)
        from_nora = caller.links[nora_p.principal.participant_id].video
        assert from_nora is not None
        await frame_where(from_nora, lambda f: True, within=15)
        await desk_log.state(CallState.ENDED)  # Nina's part of it is over
        await second.hang_up(caller.call_id)
        await site_log.state(CallState.ENDED)
        await second.close()
    finally:
        await site.close()
        await desk.close()


async def test_a_killed_dispatching_hub_loses_no_call(
    hubdb: HubDatabase, start_hubs: Callable[[int], list[ProcessHub]], browser: Chromium,
) -> None:
    """SIGKILL the hub that dispatches while three callers wait (one on each hub, and a Gold
    Line patient's page served by the killed hub) and a call is in progress across both: the
    other hub takes over; the callers keep their places (the page moves to the other hub by
    itself, from the addresses its hub gave it), the desk sees the same queue, the call keeps
    its media and its signaling resumes, and the desk answers the page at the other hub."""
    a, b = start_hubs(2)  # a dispatches
    site_p, nurse_p = hubdb.site("Beech House"), hubdb.staff("nina", "nurse")
    waiting_p = [hubdb.site("Alder"), hubdb.site("Cedar")]
    site = engine([a.ws, b.ws], site_p.token, CallRole.CALLER)
    desk = engine([b.ws, a.ws], nurse_p.token, CallRole.NURSE)
    try:
        site_log, desk_log = EventLog(site), EventLog(desk)
        await site.start()
        await desk.start()
        caller = await site.request_call("chest pain")
        await site_log.state(CallState.QUEUED)
        await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
        assert caller.call_id is not None
        answerer = await desk.claim(caller.call_id)
        await site_log.state(CallState.IN_CALL)
        video = answerer.links[site_p.principal.participant_id].video
        assert video is not None
        await frame_where(video, lambda f: True, within=15)

        # The patient's page, from hub a: it knows both hubs (serve --peer-url), its own first.
        await browser.goto(a.http + invite(a, nurse_p)["link"])
        await browser.wait_for(visible("prepare"))
        # "prepare" shows before the page's ask for the other hubs is answered: wait for it.
        assert await browser.evaluate("TelehubCaller.state.hubsLoaded"
                                      ".then(() => TelehubCaller.state.hubs)") == [a.ws, b.ws]
        await browser.evaluate("document.getElementById('reason').value = 'Breathless';"
                               "document.querySelector('input[value=emergency]').click();"
                               "document.getElementById('call-button').click()")
        await browser.wait_for("document.getElementById('position').textContent"
                               ".includes('next')")
        page_call = await browser.evaluate("TelehubCaller.state.callId")

        on_a = await HubClient.connect(a.ws, waiting_p[0].token)
        on_b = await HubClient.connect(b.ws, waiting_p[1].token)
        ids = []
        for client, (reason, urgency) in ((on_a, ("a fall", "routine")),
                                          (on_b, ("confusion", "urgent"))):
            await client.send(p.CallRequest(request_id=reason, reason=reason,
                                            urgency=p.Urgency(urgency)))
            ids.append((await client.expect(p.CallQueued, timeout=10)).call_id)
        await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 3)

        site_mark, desk_mark = site_log.mark(), desk_log.mark()
        a.kill()
        await on_a.closed()
        # b's own sockets stay open: the new dispatcher welcomes them again
        again = await on_b.expect(p.Welcome, timeout=10)
        assert again.principal.participant_id == waiting_p[1].principal.participant_id
        await frame_where(video, lambda f: True, within=5)  # media is peer to peer
        # The page (its own hub gone) is at b, signed in again, its call resumed in its place.
        await browser.wait_for(f"TelehubCaller.state.welcomed && TelehubCaller.state.signedIn"
                               f" >= 2 && TelehubCaller.state.ws.url === {json.dumps(b.ws)}",
                               within=20)
        await browser.wait_for("document.getElementById('notice').hidden && document"
                               ".getElementById('position').textContent.includes('next')")

        # the waiting callers carry on (a's caller reconnects to b) and keep their places
        positions = {}
        back = await HubClient.connect(b.ws, waiting_p[0].token)
        for client, call_id in ((back, ids[0]), (on_b, ids[1])):
            await client.send(p.CallResume(call_id=call_id))
            positions[call_id] = (await client.expect(p.CallQueued, timeout=10)).position
        assert positions == {ids[1]: 2, ids[0]: 3}
        # the call's signaling resumes at b for both ends, and the desk has the same queue
        for log, mark in ((site_log, site_mark), (desk_log, desk_mark)):
            await log.wait(lambda e: isinstance(e, SignalingChanged) and e.connected
                           and e.reason == "reconnected", within=20, since=mark)
        await desk_log.wait(lambda e: isinstance(e, ParticipantsChanged)
                            and len(e.participants) == 2, within=20, since=desk_mark)
        queue = await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries)
                                    == 3, within=20, since=desk_mark)
        assert isinstance(queue, QueueChanged)
        assert [e.call_id for e in queue.entries] == [page_call, ids[1], ids[0]]
        assert caller.state is CallState.IN_CALL and answerer.state is CallState.IN_CALL
        await frame_where(video, lambda f: True, within=5)
        await desk.hang_up(caller.call_id)
        await site_log.state(CallState.ENDED, within=15)
        # The nurse answers the patient whose page moved hubs, and asks for a photo: the page
        # sends it to b (the hub it is on now; a is gone), and the nurse has it.
        await desk.claim(page_call)
        await browser.wait_for(visible("incall"), within=15)
        assert await browser.evaluate("TelehubCaller.state.sent.filter(m => m.type === "
                                      "'call_request').length") == 1  # resumed, not again
        photo_mark = desk_log.mark()
        await desk.ask_photo(page_call)
        await browser.wait_for(visible("photo"), within=15)
        await browser.evaluate("document.getElementById('photo-agree').click()")
        await desk_log.wait(lambda e: isinstance(e, PhotoEvent)
                            and isinstance(e.message, p.PhotoReady), within=20,
                            since=photo_mark)
        await browser.wait_for("document.getElementById('photo-status').textContent"
                               ".startsWith('Photo sent')")
        assert await browser.evaluate("TelehubCaller.state.api") == b.http
    finally:
        await site.close()
        await desk.close()
    with unit_of_work(hubdb.sessions) as s:
        rows = {c.id: (c.state, c.answered_by) for c in s.scalars(select(Call))}
    assert rows[caller.call_id] == ("ended", nurse_p.principal.id)
    assert rows[ids[0]] == ("waiting", None) and rows[ids[1]] == ("waiting", None)
    assert rows[page_call][1] == nurse_p.principal.id


async def test_the_connections_of_a_killed_gateway_hub_are_lost_within_its_lease(
    hubdb: HubDatabase, start_hubs: Callable[[int], list[ProcessHub]],
) -> None:
    """A hub that only serves sockets is killed: its lease stops, and the dispatching hub
    treats its desk as lost within the heartbeat timeout (as a silent client); the desk
    comes back through the other hub and takes its call again."""
    a, b = start_hubs(2)  # a dispatches, b is a gateway
    nurse, site = hubdb.staff("nina", "nurse"), hubdb.site("Alder")
    caller = await HubClient.connect(a.ws, site.token)
    desk = await HubClient.connect(b.ws, nurse.token)
    await desk.expect(p.QueueSnapshot)
    await caller.send(p.CallRequest(request_id="r1", reason="a fall", urgency=p.Urgency.URGENT))
    call_id = (await caller.expect(p.CallQueued, timeout=10)).call_id
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected, timeout=10)
    await caller.expect(p.CallConnected, timeout=10)

    loop = asyncio.get_running_loop()
    b.kill()
    killed = loop.time()
    left = await caller.expect(p.ParticipantLeft, timeout=10)
    noticed = loop.time() - killed
    assert (left.participant_id, left.reason) == (nurse.principal.participant_id,
                                                  "connection_lost")
    assert noticed < 3 + 2 + 1.5  # the timeout, the dispatcher's check, this machine's load
    back = await HubClient.connect(a.ws, nurse.token)
    await back.send(p.CallResume(call_id=call_id))
    assert (await back.expect(p.CallConnected, timeout=10)).call_id == call_id
    assert (await caller.expect(p.ParticipantJoined, timeout=10)).participant.participant_id \
        == nurse.principal.participant_id


async def test_sigterm_drains_a_hub_and_its_clients_carry_on_at_another(
    hubdb: HubDatabase, start_hubs: Callable[[int], list[ProcessHub]],
) -> None:
    """The dispatching hub is drained (a rolling restart's hardest step): it hands the
    dispatch to the other hub before its sockets close, so every client moves once."""
    a, b = start_hubs(2)  # a dispatches
    nurse = hubdb.staff("nina", "nurse")
    site = hubdb.site("Alder")
    caller = await HubClient.connect(a.ws, site.token)
    await caller.send(p.CallRequest(request_id="r1", reason="a fall", urgency=p.Urgency.URGENT))
    call_id = (await caller.expect(p.CallQueued, timeout=10)).call_id
    desk = await HubClient.connect(b.ws, nurse.token)
    await desk.expect(p.QueueSnapshot)

    a.proc.terminate()  # SIGTERM
    assert await caller.closed(10) == 1012  # told to connect again
    await desk.expect(p.Welcome, timeout=10)  # b dispatches now: welcomed again, not moved
    # uvicorn ends the process with the signal it handled, after a clean shutdown
    assert await asyncio.to_thread(a.proc.wait, 15) in (0, -signal.SIGTERM)
    assert "Traceback" not in "".join(a.output)

    back = await HubClient.connect(b.ws, site.token)
    await back.send(p.CallResume(call_id=call_id))
    assert (await back.expect(p.CallQueued, timeout=10)).position == 1
    snap = await desk.expect(p.QueueSnapshot, timeout=10)
    assert [e.call_id for e in snap.entries] == [call_id]
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected, timeout=10)
    await back.expect(p.CallConnected, timeout=10)
    with unit_of_work(hubdb.sessions) as s:  # a gave up its lease on the way out
        assert s.scalar(select(func.count()).select_from(HubNode)) == 1


def test_a_second_hub_on_one_sqlite_file_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    HubDatabase(db).dispose()
    first = ThreadedHub(HubConfig(db_url=db)).start()  # it holds the file's lock
    try:
        assert cli.main(["serve", "--db", db, "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert "another hub process is already serving" in err and "PostgreSQL" in err
    finally:
        first.stop()
    # once the first has stopped, the lock is free again
    again = ThreadedHub(HubConfig(db_url=db)).start()
    again.stop()
