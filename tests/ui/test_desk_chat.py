"""The desk and waiting callers: a ready-made message or the nurse's own words to the selected
waiting caller, the caller's answer, the calls another nurse holds, and chat and hold in the
desk's own call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt

from calls.conversation import ChatReceived, HoldChanged
from calls.engine import CallEngine
from calls.session import CallState
from hub.contract.identity import CallRole
from tests.helpers.fixtures import SHOTS, People
from tests.helpers.hubserver import Seeded, ThreadedHub
from tests.ui.conftest import SiteCaller, signed_in
from ui.announce import announcements
from ui.desk.chat import READY_MADE

pytestmark = pytest.mark.slow


def heard(caller: SiteCaller, text: str) -> bool:
    return any(isinstance(e, ChatReceived) and e.message.text == text for e in caller.events)


def test_a_nurse_messages_a_waiting_caller_sees_held_calls_and_chats_and_holds_in_a_call(
        qtbot: Any, hub: ThreadedHub, people: People, site_caller: SiteCaller,
        desk_factory: Any, make_engine: Callable[[Seeded, CallRole], CallEngine]) -> None:
    said: list[str] = []
    announcements().said.connect(lambda text, _loud: said.append(text))
    desk = desk_factory()
    signed_in(qtbot, desk, hub, "nina")
    other = make_engine(people.nurse2, CallRole.NURSE)
    site_caller.request("Fall, now confused")
    qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 1, timeout=10_000)
    call_id = desk.queue.model.entries[0].call_id
    chat = desk.talk.waiting
    qtbot.waitUntil(lambda: chat.call_id == call_id, timeout=5_000)  # follows the selection
    assert "Beech House" in chat.title.text()

    # A ready-made message, then the nurse's own words, reach the waiting caller.
    assert chat.ready.currentText() == READY_MADE[0]
    qtbot.mouseClick(chat.send_ready, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: heard(site_caller, READY_MADE[0]), timeout=5_000)
    qtbot.keyClicks(chat.own, "Is she breathing normally?")
    qtbot.keyClick(chat.own, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: heard(site_caller, "Is she breathing normally?"), timeout=5_000)
    assert chat.own.text() == ""
    # The caller answers: shown in the desk's transcript and said.
    site_caller.loop.run(site_caller.engine.conversation.say(call_id, "Yes, and talking"))
    qtbot.waitUntil(lambda: chat.transcript.count() == 3, timeout=5_000)
    lines = [chat.transcript.item(i).text() for i in range(3)]
    assert lines[0].endswith(f"You: {READY_MADE[0]}")
    assert "Beech House (caller): Yes, and talking" in lines[2]
    assert "Message from Beech House: Yes, and talking" in said
    desk.grab().save(str(SHOTS / "desk-queue-chat.png"))
    for w in (chat.ready, chat.send_ready, chat.own, chat.send_own, chat.transcript):
        assert w.accessibleName() and w.isEnabled()

    # Another nurse answers and holds it: every desk sees the held call.
    qtbot.waitUntil(lambda: call_id in other.sessions, timeout=5_000)
    site_caller.loop.run(other.claim(call_id))
    site_caller.loop.run(other.conversation.hold(call_id, True))
    qtbot.waitUntil(lambda: desk.talk.held.list.count() == 1, timeout=5_000)
    assert "held by Nora" in desk.talk.held.list.item(0).text()
    assert desk.talk.held.title.text() == "1 call on hold"
    qtbot.waitUntil(lambda: any(isinstance(e, HoldChanged) and e.held.held
                                for e in site_caller.events), timeout=5_000)
    desk.grab().save(str(SHOTS / "desk-queue-held.png"))
    site_caller.loop.run(other.hang_up(call_id))
    qtbot.waitUntil(lambda: desk.talk.held.list.count() == 0, timeout=5_000)
    assert site_caller.session is not None
    qtbot.waitUntil(lambda: site_caller.session is not None
                    and site_caller.session.state is CallState.ENDED, timeout=10_000)

    # The desk's own call: text both ways, and Hold tells the caller.
    site_caller.request("Catheter blocked")
    qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 1, timeout=10_000)
    second = desk.queue.model.entries[0].call_id
    desk.on_answer(second)
    qtbot.waitUntil(lambda: desk.call.started_at is not None, timeout=15_000)
    talk = desk.talk.in_call
    assert talk.call_id == second and talk.isVisible()
    qtbot.keyClicks(talk.own, "Spell the drug name for me, please")
    qtbot.mouseClick(talk.send_own, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: heard(site_caller, "Spell the drug name for me, please"),
                    timeout=5_000)
    site_caller.loop.run(site_caller.engine.conversation.say(second, "F-L-U-C-L-O-X"))
    qtbot.waitUntil(lambda: talk.transcript.count() == 2, timeout=5_000)
    qtbot.mouseClick(desk.call.hold, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(isinstance(e, HoldChanged) and e.held.held
                                and e.call_id == second for e in site_caller.events),
                    timeout=5_000)
    qtbot.waitUntil(lambda: desk.talk.held.list.count() == 1, timeout=5_000)
    desk.grab().save(str(SHOTS / "desk-call-chat-held.png"))
    qtbot.mouseClick(desk.call.hold, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: desk.talk.held.list.count() == 0, timeout=5_000)
