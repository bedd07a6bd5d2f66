"""The pre-call check of the camera, the microphone and the network, in plain words."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from ui.station.media import DeviceCheck


class CheckBox(QGroupBox):
    """What the check found; a failed part never stops the call, it says what it means.

    Signals:
        checkRequested(): "Check again" was pressed.
    """

    checkRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Camera, microphone and network", parent)
        check = QVBoxLayout(self)
        self.check_camera = QLabel("Camera: not checked yet")
        self.check_mic = QLabel("Microphone: not checked yet")
        self.check_net = QLabel("Network: not checked yet")
        for line in (self.check_camera, self.check_mic, self.check_net):
            line.setWordWrap(True)
            check.addWidget(line)
        again = QPushButton("Check again")
        again.clicked.connect(self.checkRequested)
        check.addWidget(again, 0, Qt.AlignmentFlag.AlignLeft)

    def checking(self) -> None:
        for label, text in ((self.check_camera, "Camera: checking…"),
                            (self.check_mic, "Microphone: checking…"),
                            (self.check_net, "Network: checking…")):
            label.setText(text)

    def show_devices(self, check: DeviceCheck) -> None:
        self.check_camera.setText(f"✓ Camera: working ({check.camera})" if check.camera
                                  else "✗ Camera: no picture. The nurse will not see you; "
                                       "you can still call.")
        self.check_mic.setText("✓ Microphone: working" if check.microphone
                               else "✗ Microphone: no sound. The nurse will not hear you; "
                                    "you can still call.")

    def show_network(self, round_trip_ms: object) -> None:
        """The result of the hub round trip: milliseconds, or the exception it raised."""
        if isinstance(round_trip_ms, float):
            quality = "good" if round_trip_ms < 300 else "slow – the call may drop to sound only"
            self.check_net.setText(f"✓ Network: {quality} ({round_trip_ms:.0f} ms to the hub)")
        else:
            self.check_net.setText("✗ Network: the hub cannot be reached. In an emergency "
                                   "call 999.")
