"""Issue 14 at the desk, with real widgets and a real hub: the hub at a glance across the desk;
a call handed to this desk rings with its note, is taken, opens the draft as this nurse's own,
and the caller's media now comes from this desk; then handed back to the queue through the
hand-over dialog, with a note the next nurse gets. And the Hub menu: Gold Line invitations and
prison clinics, issued, booked and cancelled from the desk."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from calls.engine import CallEngine, QueueChanged
from calls.media import read_pattern
from calls.session import CallState, HandOverReceived
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from records.schema import TriageRecord
from tests.helpers.contrast import contrast
from tests.helpers.engines import LoopThread, frame_where
from tests.helpers.fixtures import SHOTS, People
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.ui.conftest import SiteCaller, signed_in
from ui.desk import glance
from ui.desk.clinics import ClinicsView
from ui.desk.invitations import InvitationsView

pytestmark = pytest.mark.slow


def shot(widget: QWidget, name: str) -> None:
    QApplication.processEvents()
    assert widget.grab().save(str(SHOTS / f"{name}.png"))


def test_a_call_handed_to_this_desk_then_back_to_the_queue_and_the_hub_menu(
        qtbot: Any, hub: ThreadedHub, hubdb: HubDatabase, people: People,
        site_caller: SiteCaller, make_engine: Any, engine_loop: LoopThread,
        desk_factory: Any) -> None:
    prison = hubdb.site("HMP Oakwood", "prison")
    nina: CallEngine = make_engine(people.nurse, CallRole.NURSE)
    received: list[Any] = []
    nina.listen(received.append)
    desk = desk_factory()
    signed_in(qtbot, desk, hub, "nora")
    nora_pid = people.nurse2.principal.participant_id

    # The glance: two nurses free, nothing waiting.
    qtbot.waitUntil(lambda: desk.glance.glance is not None
                    and desk.glance.glance.nurses_signed_in == 2, timeout=10_000)
    assert desk.glance.nurses.text() == "Nurses: 2 signed in · 2 free · 0 in a call"
    session = site_caller.request("Fall in the lounge, now confused",
                                  urgency=p.Urgency.EMERGENCY)
    qtbot.waitUntil(lambda: "Emergency: 1 waiting" in desk.glance.waits[
        p.Urgency.EMERGENCY].text(), timeout=10_000)
    # (the desks may hear of the call before its caller hears call_queued)
    qtbot.waitUntil(lambda: session.call_id is not None, timeout=10_000)
    call_id = session.call_id
    assert call_id is not None
    engine_loop.run(nina.claim(call_id))
    qtbot.waitUntil(lambda: desk.glance.nurses.text().endswith("1 in a call"), timeout=10_000)
    assert "none waiting" in desk.glance.waits[p.Urgency.EMERGENCY].text()
    qtbot.waitUntil(lambda: desk.glance.answered.text()
                    == "Answered within the standard today: 1 of 1 (100%)", timeout=5_000)
    shot(desk, "desk-glance-strip")
    shot(desk.glance, "desk-glance-strip-close")
    # A broken standard: colour and words, white on red at 6.5:1 (the calm one 9.6:1).
    assert contrast(*glance.BROKEN) >= 4.5 and contrast(*glance.CALM) >= 4.5
    late = desk.glance.glance.model_copy(update={"waiting": [
        p.UrgencyWait(urgency=p.Urgency.EMERGENCY, waiting=1, longest_wait_s=75,
                      standard_s=60, breached=True), *desk.glance.glance.waiting[1:]]})
    desk.glance.show_glance(late)
    broken = desk.glance.waits[p.Urgency.EMERGENCY]
    assert "OVER the 60 s standard" in broken.text() and broken.property("broken")
    shot(desk.glance, "desk-glance-strip-broken")

    # Nina hands the call to Nora, with a note and her draft.
    engine_loop.run(asyncio.wait_for(_in_call(nina, call_id), 15))
    draft = TriageRecord(site_id="Beech House", setting="care_home", nurse="nina",
                         call_id=call_id, presenting_problem="Fall; hip pain on the left")
    engine_loop.run(nina.hand_over(call_id, nora_pid, "Daughter on her way; GP informed",
                                   draft))
    qtbot.waitUntil(lambda: desk.hand_overs is not None and desk.hand_overs.ring is not None
                    and desk.hand_overs.ring.isVisible(), timeout=10_000)
    assert desk.hand_overs is not None and desk.hand_overs.ring is not None
    ring = desk.hand_overs.ring
    assert ring.note.text() == "Note: Daughter on her way; GP informed"
    assert "Nina hands you a call" in ring.findChildren(type(ring.note))[0].text()
    assert desk.ringer.ringing
    shot(ring, "desk-hand-over-ring")
    ring.take.click()
    qtbot.waitUntil(lambda: desk.current == call_id and desk.call.started_at is not None,
                    timeout=15_000)
    assert not desk.ringer.ringing
    # The draft is Nora's to finish now.
    assert desk.triage.problem.text() == "Fall; hip pain on the left"
    assert desk.triage.context is not None and desk.triage.context.nurse == "nora"
    assert desk.triage.base is None and "handed over by Nina" in desk.triage.save_status.text()
    # The caller did nothing: its media comes from Nora's desk now, and Nora sees it.
    qtbot.waitUntil(lambda: desk.call.remote.painted >= 5, timeout=15_000)
    qtbot.waitUntil(lambda: "Daughter on her way" in desk.call.notice.text(), timeout=5_000)
    caller = site_caller.session
    assert caller is not None and caller.state is CallState.IN_CALL
    link = caller.links.get(nora_pid)
    assert link is not None and link.video is not None
    engine_loop.run(frame_where(link.video, lambda f: read_pattern(f) is not None))
    qtbot.waitUntil(lambda: not any(s.state is CallState.IN_CALL  # on the engine's thread
                                    for s in list(nina.sessions.values())), timeout=5_000)

    # Nora hands it back to the queue through the dialog; Nina answers it and gets the note.
    qtbot.waitUntil(lambda: desk.glance.glance is not None and any(
        x.name == "Nina" for x in desk.glance.glance.free_nurses), timeout=10_000)
    desk.call.hand_over.click()
    dialog = desk.hand_overs.dialog
    assert dialog is not None and dialog.isVisible()
    assert [dialog.nurses.item(i).text() for i in range(dialog.nurses.count())] == ["Nina"]
    qtbot.keyClicks(dialog.note, "Back to the queue: needs an X-ray referral")
    shot(dialog, "desk-hand-over-dialog")
    dialog.to_queue.setChecked(True)
    assert dialog.target() is None
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: desk.current is None, timeout=10_000)
    assert desk.triage.closed

    def queued_again() -> bool:
        return any(isinstance(e, QueueChanged) and any(
            x.call_id == call_id and x.requeued for x in e.entries) for e in received)

    qtbot.waitUntil(queued_again, timeout=10_000)
    engine_loop.run(nina.claim(call_id))
    qtbot.waitUntil(lambda: any(isinstance(e, HandOverReceived) for e in received),
                    timeout=10_000)
    got = next(e for e in received if isinstance(e, HandOverReceived))
    assert got.offer.note == "Back to the queue: needs an X-ray referral"
    assert got.offer.record is not None and got.offer.record.nurse == "Nora"

    # The Hub menu: a Gold Line invitation issued, a prison clinic booked and cancelled.
    menu = next(a.menu() for a in desk.menuBar().actions() if a.text() == "Hu&b")
    actions = {a.text(): a for a in menu.actions()}
    actions["&Gold Line invitations…"].trigger()
    view = desk.hub_windows["invitations"].findChildren(InvitationsView)[0]
    qtbot.keyClicks(view.name, "Edith Brown")
    view.nhs.setText("943 476 5919")
    view.issue_button.click()
    qtbot.waitUntil(lambda: view.code.isVisible() and view.table.rowCount() == 1,
                    timeout=10_000)
    assert view.code.text().startswith("Code ") and "/call#code=" in view.code.text()
    assert view.table.item(0, 4).text() == "active"
    shot(desk.hub_windows["invitations"], "desk-invitations")
    view.table.selectRow(0)
    view.revoke_button.click()
    qtbot.waitUntil(lambda: view.table.item(0, 4) is not None
                    and view.table.item(0, 4).text() == "revoked", timeout=10_000)

    actions["Prison &clinics…"].trigger()
    clinics = desk.hub_windows["clinics"].findChildren(ClinicsView)[0]
    qtbot.waitUntil(lambda: clinics.prison.count() == 1 and clinics.specialist.count() == 1,
                    timeout=10_000)
    assert clinics.prison.currentData() == prison.principal.id
    qtbot.keyClicks(clinics.what, "Dermatology review")
    clinics.patient.setText("John Smith")
    clinics.book_button.click()
    qtbot.waitUntil(lambda: clinics.table.rowCount() == 1, timeout=10_000)
    assert [clinics.table.item(0, c).text() for c in (1, 2, 3, 4, 6)] == [
        "HMP Oakwood", "Sam", "Dermatology review", "John Smith", "booked"]
    shot(desk.hub_windows["clinics"], "desk-clinics")
    clinics.table.selectRow(0)
    clinics.cancel_button.click()
    qtbot.waitUntil(lambda: clinics.table.item(0, 6) is not None
                    and clinics.table.item(0, 6).text() == "cancelled", timeout=10_000)


async def _in_call(engine: CallEngine, call_id: str) -> None:
    while (s := engine.sessions.get(call_id)) is None or s.state is not CallState.IN_CALL:
        await asyncio.sleep(0.05)
