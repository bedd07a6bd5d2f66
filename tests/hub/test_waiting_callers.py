"""Nobody waits in silence: messages to waiting callers and chat in a call, the hold the hub
knows about, and the hub's status for callers, through the real hub. On SQLite here (test
time): tests/hub/test_cluster.py runs chat, hold and the opening across two hubs on
PostgreSQL, where every message goes through the dispatching hub's box."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from hub.calllog import CallLog
from hub.contract import signaling as p
from hub.contract.signaling import ErrorCode, HubState
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.waiting import wait_until_async
from tests.helpers.wsclient import HubClient

CALM = "A nurse will be with you in a few minutes."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_nurses_message_a_waiting_caller_who_answers_and_bad_messages_change_nothing(
    hub: ThreadedHub, hubdb: HubDatabase,
) -> None:
    ada, bob = hubdb.staff("ada", "nurse"), hubdb.staff("bob", "nurse")
    spec = hubdb.staff("sam", "specialist")
    home, other = hubdb.site("Beech House"), hubdb.site("Oak Lodge")
    desk_a = await HubClient.connect(hub.ws, ada.token)
    desk_b = await HubClient.connect(hub.ws, bob.token)
    specialist = await HubClient.connect(hub.ws, spec.token)
    site = await HubClient.connect(hub.ws, home.token)
    stranger = await HubClient.connect(hub.ws, other.token)
    await site.send(p.CallRequest(request_id="r1", reason="Fall, new confusion"))
    call_id = (await site.expect(p.CallQueued)).call_id

    # A nurse writes to the waiting caller: the caller and every nurse desk see it, with
    # who wrote it as the hub knows them.
    await desk_a.send(p.ChatSend(call_id=call_id, text=CALM))
    told = await site.expect(p.ChatMessage)
    assert (told.text, told.sender, told.name, told.role) == (
        CALM, ada.principal.participant_id, "Ada", "nurse")
    assert abs((datetime.now(UTC) - told.sent_at).total_seconds()) < 30
    assert (await desk_b.expect(p.ChatMessage)).text == CALM
    assert (await desk_a.expect(p.ChatMessage)).text == CALM  # the writer's copy
    # The caller answers in text: the nurses see it.
    await site.send(p.ChatSend(call_id=call_id, text="She is breathing, eyes open"))
    reply = await desk_b.expect(p.ChatMessage, sender=home.principal.participant_id)
    assert reply.role == "caller" and reply.name == "Beech House"
    await site.expect(p.ChatMessage, sender=home.principal.participant_id)  # its own copy

    # Who may not write to a waiting call: a specialist, another site.
    for client in (specialist, stranger):
        await client.send(p.ChatSend(call_id=call_id, text="hello"))
        err = await client.expect(p.Error)
        assert err.code is ErrorCode.NOT_PARTICIPANT and err.call_id == call_id
    # Bad input: a protocol error naming the field, never echoing it; nothing changed.
    bad = [
        json.dumps({"type": "chat_send", "call_id": call_id, "text": "x" * 501}),
        json.dumps({"type": "chat_send", "call_id": call_id, "text": "a\u0000b"}),
        json.dumps({"type": "chat_send", "call_id": call_id, "text": "?"}).replace(
            '"?"', '"\\ud800"'),  # a lone surrogate: valid JSON, not Unicode
        json.dumps({"type": "chat_send", "call_id": call_id, "text": ""}),
        json.dumps({"type": "chat_send", "call_id": call_id, "text": "hi",
                    "from": "staff:999"}),
    ]
    for frame in bad:
        await desk_a.send_raw(frame)
        err = await desk_a.expect(p.Error)
        assert err.code is ErrorCode.INVALID and err.ref == "chat_send", frame
        assert "text" in err.message or "from" in err.message, err.message
        assert "xxxxx" not in err.message and "staff:999" not in err.message
    await desk_a.send(p.ChatSend(call_id="no-such-call", text="hi"))
    err = await desk_a.expect(p.Error)
    assert err.code is ErrorCode.NOT_FOUND and err.call_id == "no-such-call"
    await site.nothing_of(p.ChatMessage, within=0.3)

    # The call log keeps exactly what was said, by whom.
    log = CallLog(hubdb.sessions)
    stored = log.get(call_id)
    assert stored is not None
    assert [(m["sender"], m["text"]) for m in stored.messages] == [
        (ada.principal.participant_id, CALM),
        (home.principal.participant_id, "She is breathing, eyes open")]

    # Answered: in the call only its participants write, and read.
    await desk_a.send(p.CallClaim(call_id=call_id))
    await site.expect(p.CallConnected)
    await desk_a.expect(p.CallConnected)
    await desk_b.send(p.ChatSend(call_id=call_id, text="me too"))
    assert (await desk_b.expect(p.Error)).code is ErrorCode.NOT_PARTICIPANT
    await site.send(p.ChatSend(call_id=call_id, text="Spelling: PARACETAMOL"))
    said = await desk_a.expect(p.ChatMessage, text="Spelling: PARACETAMOL")
    await site.expect(p.ChatMessage, text="Spelling: PARACETAMOL")
    assert said.role == "caller"
    await desk_b.nothing_of(p.ChatMessage, within=0.3)
    r = httpx.get(f"{hub.http}/api/v1/calls/{call_id}", headers=bearer(ada.token))
    assert r.status_code == 200
    assert [m["text"] for m in r.json()["messages"]][-1] == "Spelling: PARACETAMOL"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_held_call_is_told_to_the_caller_shown_to_every_nurse_and_counted(
    hub: ThreadedHub, hubdb: HubDatabase,
) -> None:
    ada, bob = hubdb.staff("ada", "nurse"), hubdb.staff("bob", "nurse")
    boss = hubdb.staff("meg", "manager")
    home = hubdb.site("Beech House")
    desk = await HubClient.connect(hub.ws, ada.token)
    other = await HubClient.connect(hub.ws, bob.token)
    assert (await other.expect(p.HeldCalls)).calls == []  # after its snapshot
    site = await HubClient.connect(hub.ws, home.token)
    await site.send(p.CallRequest(request_id="r1", reason="Catheter blocked"))
    call_id = (await site.expect(p.CallQueued)).call_id
    await desk.send(p.CallClaim(call_id=call_id))
    await site.expect(p.CallConnected)

    # Only the call's nurse holds it.
    for client in (site, other):
        await client.send(p.CallHold(call_id=call_id, held=True))
        assert (await client.expect(p.Error)).code is ErrorCode.NOT_PARTICIPANT
    await desk.send(p.CallHold(call_id=call_id, held=True))
    held = await site.expect(p.CallHeld)
    assert held.held and held.since is not None and held.by == "Ada" and held.held_s == 0
    shown = await other.expect(p.HeldCalls, timeout=5)
    assert [(c.call_id, c.nurse, c.site_name) for c in shown.calls] == [
        (call_id, "Ada", "Beech House")]
    # A desk that signs in now sees it too.
    late = await HubClient.connect(hub.ws, boss.token)
    assert [c.call_id for c in (await late.expect(p.HeldCalls)).calls] == [call_id]
    # Holding a held call changes nothing: said again to the nurse alone.
    await desk.send(p.CallHold(call_id=call_id, held=True))
    again = await desk.expect(p.CallHeld)
    assert again.since == held.since
    await desk.send(p.CallHold(call_id=call_id, held=False))
    resumed = await site.expect(p.CallHeld, held=False)
    assert resumed.since is None and resumed.held_s >= 0
    assert (await other.expect(p.HeldCalls)).calls == []
    # Held again, then ended while held: the log closes the hold with the call.
    await desk.send(p.CallHold(call_id=call_id, held=True))
    await site.expect(p.CallHeld, held=True)
    await desk.send(p.CallEnd(call_id=call_id))
    await site.expect(p.CallEnded)

    log = CallLog(hubdb.sessions)

    async def closed() -> bool:
        stored = await asyncio.to_thread(log.get, call_id)
        return stored is not None and stored.state == "ended" and len(stored.holds) == 2 and (
            all(h["ended_at"] is not None for h in stored.holds))

    await wait_until_async(closed, 5, "both holds closed in the call log")
    stored = log.get(call_id)
    assert stored is not None and stored.held_s > 0 and stored.held_since is None
    first, second = stored.holds
    assert first["held_by"] == ada.principal.participant_id
    assert stored.held_s >= (second["ended_at"] - second["started_at"]).total_seconds()
    today = datetime.now(UTC).date().isoformat()
    r = httpx.get(f"{hub.http}/api/v1/reports/summary", params={"from": today, "to": today},
                  headers=bearer(boss.token))
    assert r.status_code == 200, r.text
    figures = r.json()["calls"]
    assert sum(f["held"] for f in figures) == 1
    assert sum(f["held_s_total"] for f in figures) == stored.held_s


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_caller_is_told_at_once_when_nobody_can_answer_and_when_someone_can(
    hub: ThreadedHub, hubdb: HubDatabase,
) -> None:
    home = hubdb.site("Beech House")
    admin, ada = hubdb.staff("root", "admin"), hubdb.staff("ada", "nurse")
    site = await HubClient.connect(hub.ws, home.token)
    status = await site.expect(p.HubStatus)
    assert status.state is HubState.UNSTAFFED
    assert status.advice is not None and "999" in status.advice and status.phone == "111"
    await site.send(p.CallRequest(request_id="r1", reason="Chest pain"))
    queued = await site.expect(p.CallQueued)
    assert queued.estimated_wait_s is None  # no wait is promised while nobody can answer

    # A nurse signs in: the caller hears at once, with a wait.
    desk = await HubClient.connect(hub.ws, ada.token)
    assert (await site.expect(p.HubStatus)).state is HubState.OPEN
    moved = await site.expect(p.QueuePosition)
    assert moved.estimated_wait_s is not None and moved.estimated_wait_s > 0

    # An administrator closes the hub: callers told at once; nurses may not do it.
    url = f"{hub.http}/api/v1/hub/opening"
    assert httpx.put(url, json={"state": "closed"}, headers=bearer(ada.token)).status_code == 403
    bad = httpx.put(url, json={"state": "unstaffed"}, headers=bearer(admin.token))
    assert bad.status_code == 422 and "state" in bad.text
    r = httpx.put(url, json={"state": "closed"}, headers=bearer(admin.token))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed"
    assert r.json()["changed_by"] == admin.principal.participant_id
    closed = await site.expect(p.HubStatus)
    assert closed.state is HubState.CLOSED and closed.advice
    assert (await site.expect(p.QueuePosition)).estimated_wait_s is None
    # A new caller is told before it calls.
    later = await HubClient.connect(hub.ws, hubdb.site("Oak Lodge").token)
    assert (await later.expect(p.HubStatus)).state is HubState.CLOSED
    assert httpx.get(url, headers=bearer(ada.token)).json()["state"] == "closed"
    r = httpx.put(url, json={"state": "open"}, headers=bearer(admin.token))
    assert r.status_code == 200
    assert (await site.expect(p.HubStatus)).state is HubState.OPEN
    # The last nurse signs out: nobody there.
    await desk.close()
    assert (await site.expect(p.HubStatus, timeout=8)).state is HubState.UNSTAFFED
