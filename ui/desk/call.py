"""The call screen: the caller large, a self view, call controls, quality and the timer, and
beside the triage form the patient's context (ui/desk/context.py)."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from calls.liveness import MediaResumed, MediaStalled
from calls.modes import MODE_LABELS
from calls.session import ModeChanged, QualityReport
from ui import theme
from ui.announce import announce
from ui.desk.photos import CallPhotos
from ui.desk.triage import TriageForm
from ui.engine.quality import QualityIndicator, no_picture_words
from ui.engine.quality import quality_words as quality_words
from ui.engine.video import VideoView
from ui.heading import heading
from ui.labels import ValueLabel, status_label


class CallScreen(QWidget):
    """One call in progress.

    Signals:
        endRequested(): the nurse ends the call (button or Ctrl+E).
        modeRequested(str): "hd" (the best the line allows), "low" or "audio_only" chosen
            by hand.
        inviteRequested(str): invite a specialist, with a note.
        muteRequested(bool): the microphone muted (True) or not.
        cameraOffRequested(bool): the camera off (True) or on.
        holdRequested(bool): the call held (True) or resumed.
    """

    endRequested = Signal()
    modeRequested = Signal(str)
    inviteRequested = Signal(str)
    muteRequested = Signal(bool)
    cameraOffRequested = Signal(bool)
    holdRequested = Signal(bool)

    def __init__(self, triage: TriageForm, specialist: bool = False,
                 parent: QWidget | None = None, context: QWidget | None = None) -> None:
        super().__init__(parent)
        self.triage = triage
        self.context = context  # the patient's context, beside the triage form (nurses)
        self.started_at: float | None = None
        self.call_id: str | None = None

        self.title = heading(status_label("Caller", "No call"))
        self.title.setProperty("role", "heading")
        self.title.setWordWrap(True)
        self.timer_label = ValueLabel("Call time", "00:00")
        self.timer_label.setProperty("role", "big")
        self.quality = QualityIndicator()
        self.people = status_label("People in the call")
        self.people.setProperty("role", "muted")
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.quality)
        head.addSpacing(16)
        head.addWidget(self.timer_label)

        self.remote = VideoView("Caller video", "Waiting for the caller's video…")
        self.guest = VideoView("Specialist video", "")
        self.guest.setFixedSize(240, 180)
        self.guest.setVisible(False)
        self.selfview = VideoView("Your camera", "Your camera")
        self.selfview.setFixedSize(240, 180)
        side = QVBoxLayout()
        side.addWidget(self.guest)
        side.addStretch(1)
        side.addWidget(self.selfview)
        videos = QHBoxLayout()
        videos.addWidget(self.remote, 1)
        videos.addLayout(side)

        self.call_keys: set[str] = set()

        def button(text: str, name: str, keys: str, checkable: bool = False) -> QPushButton:
            self.call_keys.add(QKeySequence(keys).toString())
            b = QPushButton(text)
            b.setToolTip(f"{name} ({keys})")
            b.setAccessibleName(name)
            b.setShortcut(QKeySequence(keys))
            b.setCheckable(checkable)
            return b

        self.mute = button("Mute", "Mute microphone", "Ctrl+M", True)
        self.camera = button("Camera off", "Turn camera off", "Ctrl+K", True)
        self.hold = button("Hold", "Hold the call", "Ctrl+H", True)
        self.low = button("Low bandwidth", "Low-bandwidth video", "Ctrl+L", True)
        self.audio_only = button("Audio only", "Audio only", "Ctrl+U", True)
        self.invite = button("Invite specialist", "Invite a specialist", "Ctrl+I")
        self.hand_over = button("Hand over…", "Hand the call over", "Ctrl+O")
        self.end = button("Leave call" if specialist else "End call",
                          "Leave the call" if specialist else "End the call", "Ctrl+E")
        self.keys = QLabel("Keys: Ctrl+M mute · Ctrl+K camera · Ctrl+H hold · Ctrl+L low "
                           "bandwidth · Ctrl+U audio only · Ctrl+I invite · Ctrl+O hand "
                           "over · Ctrl+E end · Ctrl+Shift+S sign off")
        self.keys.setProperty("role", "muted")
        self.keys.setWordWrap(True)
        self.end.setProperty("kind", "danger")
        # One row at an everyday font; rows of three at a large one (the window stays on
        # the screen), End last on its own at the right.
        controls = QVBoxLayout()
        buttons = (self.mute, self.camera, self.hold, self.low, self.audio_only, self.invite,
                   self.hand_over)
        per_row = 3 if theme.large_text(self) else len(buttons) + 1
        rows = [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
        rows[-1] += (self.end,) if len(rows) == 1 else ()
        rows += [] if len(rows) == 1 else [(self.end,)]
        for row in rows:
            line = QHBoxLayout()
            for b in row:
                if b is self.end:
                    line.addStretch(1)
                line.addWidget(b)
            controls.addLayout(line)
        self.notice = status_label("Call notices")
        self.notice.setWordWrap(True)
        self.photos = CallPhotos()  # the nurse asks for a still (issue 17)
        self.call_keys.add(QKeySequence(self.photos.ask.shortcut()).toString())

        call_part = QWidget()
        col = QVBoxLayout(call_part)
        col.addLayout(head)
        col.addWidget(self.people)
        col.addLayout(videos, 1)
        col.addWidget(self.notice)
        col.addWidget(self.photos)
        self.extra = QVBoxLayout()  # the window puts the call's text chat here
        col.addLayout(self.extra)
        col.addLayout(controls)
        col.addWidget(self.keys)
        shown: QWidget = call_part
        if theme.large_text(self):
            # At a large system font the call with its photo and chat is taller than a 1000 px
            # screen gives it under the hub's strip: it scrolls (as the triage form beside it
            # and the patient's context under it do) rather than push the window off the
            # screen. Its layout's height for its width is honoured there (the title wraps).
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setFrameShape(QScrollArea.Shape.NoFrame)
            area.setAccessibleName("The call")
            area.setMinimumHeight(1)
            area.setWidget(call_part)
            shown = area
        left = shown
        if context is not None:
            # Under the call, beside the triage form: as wide as the video, so its lists
            # are readable, and the video keeps its width.
            left = QSplitter(Qt.Orientation.Vertical)
            left.addWidget(shown)
            left.addWidget(context)
            left.setStretchFactor(0, 3)
            left.setStretchFactor(1, 2)
            left.setSizes([500, 400])  # the context's notes readable without scrolling
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(triage)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self.mute.toggled.connect(self.on_mute_toggled)
        self.camera.toggled.connect(self.on_camera_toggled)
        self.hold.toggled.connect(self.on_hold_toggled)
        self.low.toggled.connect(self.on_low_toggled)
        self.audio_only.toggled.connect(self.on_audio_only_toggled)
        self.invite.clicked.connect(self.on_invite_clicked)
        self.end.clicked.connect(self.endRequested)
        self._clock = QTimer(self)
        self._clock.setInterval(500)
        self._clock.timeout.connect(self.on_clock)
        self.invite.setVisible(not specialist)  # after layout: a parentless widget would pop up
        self.hand_over.setVisible(not specialist)
        self.photos.setVisible(not specialist)  # only the nurse asks for a photo
        self.set_live(False)
        # On Linux a text field takes Ctrl+E, Ctrl+K, Ctrl+H and Ctrl+U for itself (end of
        # line, delete...): while typing in the triage form, the call's keys must still work.
        self._keys_first = _CallKeysFirst(self)
        for edit in triage.findChildren(QLineEdit) + triage.findChildren(QPlainTextEdit):
            edit.installEventFilter(self._keys_first)

    # --- lifecycle ----------------------------------------------------------------------------

    def begin(self, call_id: str, title: str) -> None:
        self.call_id = call_id
        self.title.setText(title)
        self.started_at = None
        self.timer_label.setText("00:00")
        self.notice.setText("Connecting…")
        self.remote.clear("Waiting for the caller's video…")
        self.selfview.clear("Your camera")
        self.guest.setVisible(False)
        for b in (self.mute, self.camera, self.hold, self.low, self.audio_only):
            b.blockSignals(True)
            b.setChecked(False)
            b.blockSignals(False)
        self.mute.setText("Mute")
        self.camera.setText("Camera off")
        self.hold.setText("Hold")
        self.quality.reset()
        self.photos.reset()
        self.set_live(True)
        self._clock.start()

    def connected(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()
        self.notice.setText("")

    def finish(self, reason: str) -> None:
        self._clock.stop()
        self.set_live(False)
        self.notice.setText(f"Call ended ({reason}). Finish and sign off the triage record.")
        self.remote.set_overlay("")
        self.remote.clear("Call ended")
        self.selfview.clear("")
        self.remote.set_stale("")
        self.quality.reset()
        self.quality.setText("●  ended")

    def set_live(self, live: bool) -> None:
        for b in (self.mute, self.camera, self.hold, self.low, self.audio_only, self.invite,
                  self.hand_over, self.end):
            b.setEnabled(live)
        self.photos.set_live(live)

    # --- engine events ------------------------------------------------------------------------

    def on_quality(self, report: QualityReport) -> None:
        self.quality.on_report(report)

    def on_liveness(self, event: MediaStalled | MediaResumed) -> None:
        """Nothing arrives from someone: said on the indicator and across their last picture
        (at once, then each second), until media flows again."""
        self.quality.on_liveness(event)
        if isinstance(event, MediaStalled):
            self.remote.set_stale(f"No picture for {max(1, round(event.silent_for))} s — "
                                  "reconnecting. This picture is old.")
            if not self.notice.text().startswith("No picture"):
                self.notice.setText(f"{no_picture_words(event.silent_for).capitalize()}.")
                announce(self.notice, self.notice.text())
        else:
            self.remote.set_stale("")
            if self.notice.text().startswith("No picture"):
                self.notice.setText("The picture is back.")

    def on_mode(self, event: ModeChanged) -> None:
        for b, mode in ((self.low, "low"), (self.audio_only, "audio_only")):
            b.blockSignals(True)
            b.setChecked(event.mode == mode)
            b.blockSignals(False)
        if event.automatic:
            words = MODE_LABELS.get(event.mode, event.mode)
            self.notice.setText(f"Switched to {words} automatically ({event.reason}).")
            announce(self.notice, self.notice.text())

    # --- controls -----------------------------------------------------------------------------

    @Slot()
    def on_clock(self) -> None:
        if self.started_at is None:
            return
        seconds = int(time.monotonic() - self.started_at)
        self.timer_label.setText(f"{seconds // 60:02d}:{seconds % 60:02d}")

    @Slot(bool)
    def on_mute_toggled(self, on: bool) -> None:
        self.muteRequested.emit(on)
        self.mute.setText("Unmute" if on else "Mute")

    @Slot(bool)
    def on_camera_toggled(self, on: bool) -> None:
        self.cameraOffRequested.emit(on)
        self.camera.setText("Camera on" if on else "Camera off")

    @Slot(bool)
    def on_hold_toggled(self, on: bool) -> None:
        # The session holds (silence and black to the others); the desk covers the caller.
        self.holdRequested.emit(on)
        self.remote.set_overlay("On hold — the caller is told so and sees for how long; "
                                "they see a black picture and hear nothing" if on else "")
        self.hold.setText("Resume" if on else "Hold")

    @Slot(bool)
    def on_low_toggled(self, on: bool) -> None:
        if on:
            self.audio_only.blockSignals(True)
            self.audio_only.setChecked(False)
            self.audio_only.blockSignals(False)
        self.modeRequested.emit("low" if on else "hd")

    @Slot(bool)
    def on_audio_only_toggled(self, on: bool) -> None:
        if on:
            self.low.blockSignals(True)
            self.low.setChecked(False)
            self.low.blockSignals(False)
        self.modeRequested.emit("audio_only" if on else "hd")

    @Slot()
    def on_invite_clicked(self) -> None:
        note, ok = QInputDialog.getText(self, "Invite a specialist",
                                        "Note for the specialist (optional):")
        if ok:
            self.inviteRequested.emit(note)


class _CallKeysFirst(QObject):
    """Lets the call's shortcuts win over a text field's own use of the same keys while a
    call is live (a field that accepts the shortcut-override event keeps the key)."""

    def __init__(self, screen: CallScreen) -> None:
        super().__init__(screen)
        self.screen = screen

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and self.screen.end.isEnabled()):
            keys = QKeySequence(event.keyCombination()).toString()
            if keys in self.screen.call_keys:
                return True  # not offered to the field: the shortcut fires
        return False
