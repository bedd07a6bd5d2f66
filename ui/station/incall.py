"""The station's call page: the nurse large, the station's own camera small, and mute,
camera off and end call."""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ui.engine.video import VideoView
from ui.station.page import Page, landing, title


class CallPage(Page):
    """A call in progress.

    Signals:
        muteToggled(bool): the microphone muted (True) or not.
        cameraToggled(bool): the camera off (True) or on.
        endRequested(): "End call" was pressed.
    """

    muteToggled = Signal(bool)
    cameraToggled = Signal(bool)
    endRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(16, 16, 16, 16)
        self.call_title = landing(title("In a call with the hub"))
        self.landing = self.call_title  # never End call, which a repeated key would press
        col.addWidget(self.call_title)
        stage = QHBoxLayout()
        self.remote_view = VideoView("The nurse", "Connecting to the nurse…")
        self.self_view = VideoView("Your camera", "Your camera")
        self.self_view.setFixedSize(QSize(240, 180))
        stage.addWidget(self.remote_view, 1)
        side = QVBoxLayout()
        side.addWidget(QLabel("You"))
        side.addWidget(self.self_view)
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

    def begin(self) -> None:
        """A call connecting: no picture yet, the microphone and the camera on."""
        self.remote_view.clear()
        self.self_view.clear()
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
