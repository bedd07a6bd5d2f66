"""The station and the hub's nurses: told at once when nobody can answer, a nurse's message
shown large with a sound and said, the station's typed answer, and the hold the nurse sets."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from calls.conversation import ChatReceived
from calls.engine import EngineEvent
from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.ui.station.conftest import Desk
from ui.announce import announcements
from ui.station.window import StationWindow

Station = Callable[..., StationWindow]
URGENT = "If she stops breathing or does not respond, call 999 now."


@pytest.mark.slow
def test_a_waiting_station_is_told_who_is_there_reads_the_nurse_and_answers_then_is_held(
    make_station: Station, hub: ThreadedHub, hubdb: HubDatabase, qtbot: QtBot,
) -> None:
    said: list[tuple[str, bool]] = []
    announcements().said.connect(lambda text, loud: said.append((text, loud)))
    w = make_station(hubdb.site("Beech House"))
    # No nurse signed in: the station says so before anyone calls, with what to do instead.
    qtbot.waitUntil(lambda: w.home_page.nobody.isVisible(), timeout=5000)
    assert "999" in w.home_page.nobody.text() and "111" in w.home_page.nobody.text()
    desk = Desk(hub, hubdb.staff("nina", "nurse"))
    heard: list[EngineEvent] = []
    desk.engine.listen(heard.append)
    try:
        qtbot.waitUntil(lambda: not w.home_page.nobody.isVisible(), timeout=5000)
        qtbot.mouseClick(w.home_page.call_button, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(w.details_page.reason.reason, "Fall in the lounge, new confusion")
        qtbot.mouseClick(w.details_page.go_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(desk.queue) == 1 and w.call_id is not None, timeout=10_000)
        call_id = desk.queue[0].call_id
        assert w.call_id == call_id

        # The nurse's message: large on the waiting page, with a sound, said at once.
        desk.run(desk.engine.conversation.say(call_id, URGENT))
        talk = w.waiting_page.talk
        qtbot.waitUntil(lambda: talk.latest.text() == URGENT, timeout=5000)
        assert talk.chimes == 1 and talk.latest.isVisible()
        assert "Nina (nurse)" in talk.from_line.text()
        assert (f"Message from Nina: {URGENT}", True) in said
        assert talk.latest.font().pointSizeF() > w.waiting_page.waiting_note.font().pointSizeF()
        w.grab().save(str(SHOTS / "station-waiting-message.png"))

        # The station answers in text (Tab reaches the box and its button, both named).
        assert talk.reply.accessibleName() and talk.send_button.accessibleName()
        qtbot.keyClicks(talk.reply, "She is breathing and talking")
        qtbot.keyClick(talk.reply, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: any(isinstance(e, ChatReceived) and e.message.role == "caller"
                                    for e in heard), timeout=5000)
        qtbot.waitUntil(lambda: "You" in talk.earlier.text(), timeout=5000)
        assert talk.chimes == 1  # its own message makes no sound

        # Answered: the conversation carries on in the call; the nurse holds the call.
        desk.run(desk.engine.claim(call_id))
        qtbot.waitUntil(lambda: w.pages.currentWidget() is w.call_page, timeout=10_000)
        assert w.call_page.talk.latest.text() == URGENT
        desk.run(desk.engine.conversation.hold(call_id, True))
        view = w.call_page.remote_view
        qtbot.waitUntil(lambda: view.overlay.startswith("On hold for 0:0"), timeout=5000)
        assert any("put the call on hold" in text and loud for text, loud in said)
        w.grab().save(str(SHOTS / "station-on-hold.png"))
        desk.run(desk.engine.conversation.hold(call_id, False))
        qtbot.waitUntil(lambda: view.overlay == "", timeout=5000)
    finally:
        desk.close()
