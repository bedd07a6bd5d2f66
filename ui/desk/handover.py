"""Hand-over at the desk: the dialog that passes the call on (to a free nurse, or back to the
queue, with a note), the ring at the receiving desk (who hands it over, the note), and the
draft record opened there as the receiving nurse's own.

``HandOverDesk`` wires these to one desk window; the window gives it its parts and nothing
else changes there. Who is free comes from the hub at a glance (``free_nurses``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from calls.session import CallState, HandOverAnswered, HandOverReceived, StateChanged
from hub.contract import signaling as p
from records.schema import TriageRecord, utc_now
from ui.announce import announce
from ui.desk.queue import KIND_LABELS
from ui.desk.triage import TriageContext
from ui.heading import heading
from ui.labels import status_label

if TYPE_CHECKING:
    from ui.desk.window import DeskWindow

NOTE_LIMIT = 500  # the contract's (hub.contract.signaling.HandOverNote)
OUTCOME_WORDS = {"declined": "declined the hand-over", "not_answered":
                 "did not answer the hand-over"}  # fmt: skip


def _buddy(text: str, field: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(field)
    return label


class HandOverDialog(QDialog):
    """Choose a free nurse or the queue, and write a note."""

    def __init__(self, free: list[p.Participant], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hand the call over")
        self.setAccessibleName("Hand the call over")
        title = heading(QLabel("Hand the call over"))
        title.setProperty("role", "heading")
        self.to_nurse = QRadioButton("To a &free nurse:")
        self.to_nurse.setAccessibleName("Hand over to a free nurse")
        self.nurses = QListWidget()
        self.nurses.setAccessibleName("Free nurses")
        for who in free:
            item = QListWidgetItem(who.name)
            item.setData(256, who.participant_id)
            self.nurses.addItem(item)
        self.to_queue = QRadioButton("Back to the front of the &queue, for the next nurse")
        self.to_queue.setAccessibleName("Hand back to the front of the queue")
        self.note = QPlainTextEdit()
        self.note.setAccessibleName("Note for the nurse who takes the call")
        self.note.setPlaceholderText("What the next nurse needs to know (up to 500 characters)")
        self.note.setTabChangesFocus(True)
        self.problem = status_label("Hand-over problem")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("&Hand over")
        ok.setAccessibleName("Hand over the call")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName(
            "Keep the call")
        self.buttons.accepted.connect(self.on_accept)
        self.buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addWidget(title)
        col.addWidget(self.to_nurse)
        col.addWidget(self.nurses)
        col.addWidget(self.to_queue)
        col.addWidget(_buddy("&Note:", self.note))
        col.addWidget(self.note)
        col.addWidget(self.problem)
        col.addWidget(self.buttons)
        if free:
            self.to_nurse.setChecked(True)
            self.nurses.setCurrentRow(0)
        else:
            self.to_nurse.setEnabled(False)
            self.nurses.setEnabled(False)
            self.to_nurse.setText("To a free nurse: no other nurse is free right now")
            self.to_queue.setChecked(True)
        self.nurses.itemSelectionChanged.connect(lambda: self.to_nurse.setChecked(True))

    def target(self) -> str | None:
        """The chosen nurse's participant id, or None for the queue."""
        item = self.nurses.currentItem()
        if self.to_nurse.isChecked() and item is not None:
            return str(item.data(256))
        return None

    def note_text(self) -> str | None:
        return self.note.toPlainText().strip() or None

    @Slot()
    def on_accept(self) -> None:
        if len(self.note.toPlainText()) > NOTE_LIMIT:
            self.problem.setText(f"The note is over {NOTE_LIMIT} characters: shorten it.")
            announce(self.problem, self.problem.text(), assertive=True)
            return
        if self.to_nurse.isChecked() and self.nurses.currentItem() is None:
            self.problem.setText("Choose the nurse to hand the call to.")
            announce(self.problem, self.problem.text(), assertive=True)
            return
        self.accept()


class HandOverRing(QDialog):
    """The receiving desk's ring: who hands over which call, with the note."""

    def __init__(self, offer: p.HandOverOffer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.offer = offer
        e = offer.entry
        self.setWindowTitle("A call is handed to you")
        title = heading(QLabel(f"{offer.from_name} hands you a call"))
        title.setProperty("role", "heading")
        self.what = QLabel(f"{e.site_name} · {KIND_LABELS[e.site_kind]} · "
                           f"{e.urgency.value}: {e.reason}")
        self.what.setWordWrap(True)
        self.note = QLabel(f"Note: {offer.note}" if offer.note else "No note.")
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Hand-over note")
        self.draft = QLabel("Their draft record opens with the call." if offer.record
                            else "No draft record comes with it.")
        self.buttons = QDialogButtonBox()
        self.take = self.buttons.addButton("&Take the call", QDialogButtonBox.ButtonRole.AcceptRole)
        self.take.setAccessibleName("Take the handed-over call")
        self.decline = self.buttons.addButton("&Decline",
                                              QDialogButtonBox.ButtonRole.RejectRole)
        self.decline.setAccessibleName("Decline the hand-over")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        for w in (title, self.what, self.note, self.draft, self.buttons):
            col.addWidget(w)
        self.take.setDefault(True)


class HandOverDesk(QObject):
    """Hand-over for one desk window (a nurse's)."""

    def __init__(self, window: DeskWindow) -> None:
        super().__init__(window)
        self.w = window
        self.dialog: HandOverDialog | None = None
        self.ring: HandOverRing | None = None
        self.taken_note: tuple[str, str] | None = None  # call id, what to show once in call
        bridge = window.bridge
        assert bridge is not None
        bridge.handOverOffered.connect(self.on_offered)
        bridge.handOverAnswered.connect(self.on_answered)
        bridge.stateChanged.connect(self.on_state)
        window.call.hand_over.clicked.connect(self.open_dialog)

    # --- handing over ---------------------------------------------------------------------

    @Slot()
    def open_dialog(self) -> None:
        w = self.w
        if w.current is None or w.session is None:
            return
        me = w.session.principal.participant_id
        glance = w.glance.glance
        free = [x for x in (glance.free_nurses if glance else []) if x.participant_id != me]
        self.dialog = HandOverDialog(free, w)
        self.dialog.accepted.connect(self.send)
        self.dialog.open()
        self.dialog.note.setFocus()

    @Slot()
    def send(self) -> None:
        w, dialog = self.w, self.dialog
        if dialog is None or w.current is None or w.bridge is None:
            return
        record: TriageRecord | None = None
        if w.triage.context is not None and not w.triage.closed:
            try:
                record = w.triage.record()
            except ValueError:  # a half-typed value: the note still goes, the draft not
                record = None
        to = dialog.target()
        w.bridge.hand_over(w.current, to, dialog.note_text(), record)
        name = dialog.nurses.currentItem().text() if to and dialog.nurses.currentItem() else ""
        text = (f"Offered to {name}: the call is yours until they take it." if to
                else "Handing the call back to the front of the queue…")
        w.call.notice.setText(text)
        announce(w.call.notice, text)

    @Slot(object)
    def on_answered(self, event: HandOverAnswered) -> None:
        w = self.w
        if event.call_id != w.current:
            return
        if event.outcome in OUTCOME_WORDS:
            text = f"{event.by} {OUTCOME_WORDS[event.outcome]}: the call is still yours."
            w.call.notice.setText(text)
            announce(w.call.notice, text, assertive=True)
        elif event.outcome in ("accepted", "queued"):
            # The draft went with the call: it is the next nurse's to finish and sign.
            w.triage.flush()
            w.triage.closed = True

    # --- being handed a call --------------------------------------------------------------

    @Slot(object)
    def on_offered(self, event: HandOverReceived) -> None:
        w, offer = self.w, event.offer
        if offer.ring_s is None:  # handed back to the queue, and this desk answered it
            if event.call_id == w.current:
                self._open_draft(offer, replace_only_untouched=True)
                text = (f"Handed back to the queue by {offer.from_name}"
                        + (f". Note: {offer.note}" if offer.note else "."))
                w.call.notice.setText(text)
                announce(w.call.notice, text, assertive=True)
            return
        if w.busy:
            return  # the hub offers only to a free nurse; a race with an answer elsewhere
        self.ring = HandOverRing(offer, w)
        self.ring.accepted.connect(self.take)
        self.ring.rejected.connect(self.decline)
        w.ringer.ring(f"HAND-OVER from {offer.from_name}: {offer.entry.site_name} — "
                      f"{offer.entry.reason}")
        self.ring.open()
        self.ring.take.setFocus()
        announce(self.ring.note, f"{offer.from_name} hands you a call from "
                 f"{offer.entry.site_name}. {self.ring.note.text()}", assertive=True)

    @Slot()
    def take(self) -> None:
        w, ring = self.w, self.ring
        if ring is None or w.bridge is None or w.session is None:
            return
        w.ringer.stop()
        offer = ring.offer
        e = offer.entry
        w.current = offer.call_id
        w.bridge.take_hand_over(offer.call_id)
        w.call.begin(offer.call_id, f"{e.site_name} · {KIND_LABELS[e.site_kind]} · "
                     f"{e.urgency.value}")
        self._open_draft(offer, replace_only_untouched=False)
        note = f"Handed over by {offer.from_name}" + (f". Note: {offer.note}" if offer.note
                                                      else ".")
        self.taken_note = (offer.call_id, note)
        w.call.notice.setText(note)
        w.tabs.setCurrentWidget(w.call)
        w.call.end.setFocus()

    @Slot()
    def decline(self) -> None:
        w, ring = self.w, self.ring
        w.ringer.stop()
        if ring is not None and w.bridge is not None:
            w.bridge.decline(ring.offer.call_id)
        self.ring = None

    @Slot(object)
    def on_state(self, event: StateChanged) -> None:
        if (self.taken_note is not None and event.call_id == self.taken_note[0]
                and event.new is CallState.IN_CALL):
            # After the window cleared "Connecting…": the note stays on the call screen.
            self.w.call.notice.setText(self.taken_note[1])
            announce(self.w.call.notice, self.taken_note[1])
            self.taken_note = None
        ring = self.ring
        if (ring is not None and event.call_id == ring.offer.call_id
                and event.new is CallState.ENDED and event.call_id != self.w.current):
            self.w.ringer.stop()
            ring.done(0)  # withdrawn or not answered in time: the ring stops
            self.ring = None
            announce(self.w.queue, "The hand-over was withdrawn.")

    def _open_draft(self, offer: p.HandOverOffer, *, replace_only_untouched: bool) -> None:
        """The draft that came with the call, as this nurse's own record of it."""
        w = self.w
        assert w.session is not None
        triage = w.triage
        record, e = offer.record, offer.entry
        if record is None:
            if not replace_only_untouched:
                obs = e.observations.model_dump() if e.observations else {}
                triage.start(TriageContext(
                    site_id=e.site_name, setting=e.site_kind.value, nurse=w.session.username,
                    call_id=offer.call_id, site_name=e.site_name, requested_at=e.requested_at,
                    answered_at=utc_now(), presenting_problem=e.reason, observations=obs,
                    soft_signs=tuple(e.soft_signs)))
            return
        if replace_only_untouched and not triage.untouched:
            return
        triage.load(record)
        # Not an amendment: the draft is this nurse's to finish and sign off.
        triage.base = None
        assert triage.context is not None
        triage.context.nurse = w.session.username
        triage.context.site_name = e.site_name
        triage.reason.setVisible(False)
        triage.sign_button.setText("&Sign off  (Ctrl+Shift+S)")
        triage.sign_button.setAccessibleName("Sign off the triage record")
        triage.save_status.setText(f"Draft handed over by {offer.from_name}: yours now, "
                                   "saved as you type")
