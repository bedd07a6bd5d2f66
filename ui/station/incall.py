"""The station's call page: the nurse large, the station's own camera small, the call's
text chat, hold as the nurse set it (and for how long), quality (and plainly when no
picture arrives), the camera to use, and mute, camera off and end call."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from calls.cameras import Camera
from calls.liveness import MediaResumed, MediaStalled
from calls.session import QualityReport
from hub.contract import signaling as p
from ui import theme
from ui.announce import announce
from ui.engine.quality import QualityIndicator
from ui.engine.video import VideoView
from ui.station.page import Page, landing, title
from ui.station.talk import TalkPanel


class CallPage(Page):
    """A call in progress.

    Signals:
        muteToggled(bool): the microphone muted (True) or not.
        cameraToggled(bool): the camera off (True) or on.
        endRequested(): "End call" was pressed.
        cameraChosen(Camera): another camera was chosen (during the call or before it).
    """

    muteToggled = Signal(bool)
    cameraChosen = Signal(Camera)
    cameraToggled = Signal(bool)
    endRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(16, 16, 16, 16)
        self.call_title = landing(title("In a call with the hub"))
        self.landing = self.call_title  # never End call, which a repeated key would press
        head = QHBoxLayout()
        head.addWidget(self.call_title, 1)
        self.quality = QualityIndicator()
        head.addWidget(self.quality)
        col.addLayout(head)
        stage = QHBoxLayout()
        self.remote_view = VideoView("The nurse", "Connecting to the nurse…")
        self.self_view = VideoView("Your camera", "Your camera")
        # Smaller at a large system font: the message box beside it still fits the screen.
        large = QApplication.font().pointSizeF() >= theme.LARGE_TEXT_PT
        self.self_view.setFixedSize(QSize(160, 120) if large else QSize(240, 180))
        stage.addWidget(self.remote_view, 1)
        side = QVBoxLayout()
        side.addWidget(QLabel("You"))
        side.addWidget(self.self_view)
        self.talk = TalkPanel(compact=True)
        self.talk.setMaximumWidth(420)
        side.addWidget(self.talk)
        camera_label = QLabel("Camera")
        self.camera_choice = QComboBox()
        self.camera_choice.setAccessibleName("Camera to use")
        camera_label.setBuddy(self.camera_choice)
        self.camera_choice.activated.connect(self.on_camera_chosen)
        side.addWidget(camera_label)
        side.addWidget(self.camera_choice)
        side.addStretch(1)
        stage.addLayout(side)
        col.addLayout(stage, 1)
        controls = QHBoxLayout()
        self.mute_button = QPushButton("Mute")
        self.mute_button.setCheckable(True)
        self.mute_button.toggled.connect(self.on_mute)
        self.camera_button = QPushButton("Camera off")
        self.camera_button.setCheckable(True)
        self.camera_button.toggled.connect(self.on_camera)
        self.end_button = QPushButton("End call")
        self.end_button.setObjectName("danger")
        self.end_button.clicked.connect(self.endRequested)
        for b in (self.mute_button, self.camera_button, self.end_button):
            b.setMinimumWidth(200)
            controls.addWidget(b)
        col.addLayout(controls)
        # Tab: the call's own controls first, then the message box (it joined this page).
        QWidget.setTabOrder(self.end_button, self.talk.reply)
        QWidget.setTabOrder(self.talk.reply, self.talk.send_button)
        self.held_since: float | None = None  # monotonic, while the nurse holds the call
        self._placeholder = ""
        self._hold_clock = QTimer(self, interval=1000)
        self._hold_clock.timeout.connect(self.on_hold_tick)

    def set_cameras(self, cameras: list[Camera], chosen: Camera | None) -> None:
        self.camera_choice.clear()
        for cam in cameras:
            self.camera_choice.addItem(cam.name, cam)
        if chosen is not None:
            self.camera_choice.setCurrentIndex(max(0, self.camera_choice.findText(chosen.name)))
        self.camera_choice.setEnabled(len(cameras) > 1)

    @Slot(int)
    def on_camera_chosen(self, index: int) -> None:
        camera = self.camera_choice.itemData(index)
        if isinstance(camera, Camera):
            self.cameraChosen.emit(camera)

    def on_quality(self, report: QualityReport) -> None:
        self.quality.on_report(report)

    def on_liveness(self, event: MediaStalled | MediaResumed) -> None:
        """Nothing arrives from the nurse: said on the indicator and across the last picture."""
        self.quality.on_liveness(event)
        if isinstance(event, MediaStalled):
            self.remote_view.set_stale(
                f"No picture from the nurse for {max(1, round(event.silent_for))} s — "
                "reconnecting. This picture is old.")
        else:
            self.remote_view.set_stale("")

    def begin(self) -> None:
        """A call connecting: no picture yet, the microphone and the camera on."""
        self.set_held(None)
        self.remote_view.clear()
        self.remote_view.set_stale("")
        self.self_view.clear()
        self.quality.reset()
        self.mute_button.setChecked(False)
        self.camera_button.setChecked(False)

    @Slot(bool)
    def on_mute(self, muted: bool) -> None:
        self.mute_button.setText("Unmute" if muted else "Mute")
        self.muteToggled.emit(muted)

    @Slot(bool)
    def on_camera(self, off: bool) -> None:
        self.camera_button.setText("Camera on" if off else "Camera off")
        self.cameraToggled.emit(off)

    def set_held(self, held: p.CallHeld | None) -> None:
        """The nurse put the call on hold (shown over the nurse's picture with how long, and
        said) or took it off."""
        on = held is not None and held.held and held.since is not None
        was = self.held_since is not None
        if on and held is not None and held.since is not None:
            age = max(0.0, (time.time() - held.since.timestamp()))
            self.held_since = time.monotonic() - age
            if not was:
                self._placeholder = self.remote_view.placeholder
                self.remote_view.placeholder = ""  # the hold's words instead
            self._hold_clock.start()
            self.on_hold_tick()
            if not was:
                announce(self.remote_view, f"{held.by} has put the call on hold. Please "
                         "stay with the resident; the nurse will be back.", assertive=True)
        else:
            self.held_since = None
            self._hold_clock.stop()
            if was:
                self.remote_view.placeholder = self._placeholder
            self.remote_view.set_overlay("")
            self.remote_view.setAccessibleDescription("")
            if was:
                announce(self.remote_view, "The nurse is back: the call goes on.")

    @Slot()
    def on_hold_tick(self) -> None:
        if self.held_since is None:
            return
        seconds = int(time.monotonic() - self.held_since)
        text = f"On hold for {seconds // 60}:{seconds % 60:02d} – the nurse will be back"
        self.remote_view.set_overlay(text)
        self.remote_view.setAccessibleDescription(text)
