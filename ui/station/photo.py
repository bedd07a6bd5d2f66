"""The station's side of a photo into the record (issue 17): consent first, then the still.

When the nurse asks (``photo_requested``), :class:`ConsentPanel` shows on the call page and
asks the care-home worker whether the resident agreed. "They agree" takes the camera's next
frame at its full resolution (:class:`calls.photos.StillCamera`, never a frame of the call's
video), encodes it as JPEG and sends it to the hub with the consent
(``HubClient.upload_photo``); "They do not agree" tells the nurse (``photo_decline``).
:class:`StationPhotos` does that work off the UI thread, on the engine's loop.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from calls.photos import NoPicture, encode_still
from hub.client import HubClient, HubError
from hub.contract import signaling as p
from hub.contract.photos import PhotoConsent, PhotoOut
from ui.announce import announce
from ui.station.bridge import StationBridge
from ui.station.page import landing


class ConsentPanel(QFrame):
    """The nurse's request, the consent question and its two answers.

    Signals:
        agreed(str): the worker confirmed the resident agreed (the request's id).
        declined(str): the resident did not agree (the request's id).
    """

    agreed = Signal(str)
    declined = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("photoConsent")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.request: p.PhotoRequested | None = None
        self.question = landing(QLabel(""))
        self.question.setWordWrap(True)
        self.question.setTextFormat(Qt.TextFormat.PlainText)
        self.question.setAccessibleDescription("The nurse's request for a photo")
        self.agree_button = QPushButton("They agree — take the photo")
        self.agree_button.setAccessibleName("The resident agrees: take the photo")
        self.decline_button = QPushButton("They do not agree")
        self.decline_button.setAccessibleName("The resident does not agree: no photo")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleDescription("What happened to the photo")
        buttons = QHBoxLayout()
        for b in (self.agree_button, self.decline_button):
            b.setMinimumWidth(260)
            buttons.addWidget(b)
        buttons.addStretch(1)
        col = QVBoxLayout(self)
        col.addWidget(self.question)
        col.addLayout(buttons)
        col.addWidget(self.status)
        self.agree_button.clicked.connect(self.on_agree)
        self.decline_button.clicked.connect(self.on_decline)
        self.setVisible(False)

    def ask(self, request: p.PhotoRequested) -> None:
        self.request = request
        self.question.setText(
            f"{request.by} asks for a photo, to see the skin or wound closely. Ask the "
            "resident first: do they agree to a photo being taken and kept in their record? "
            "If they agree, hold the camera still on the place the nurse asks about.")
        self.status.setText("")
        self._answering(True)
        self.setVisible(True)
        self.question.setFocus(Qt.FocusReason.OtherFocusReason)
        announce(self.question, self.question.text(), assertive=True)

    def _answering(self, on: bool) -> None:
        for b in (self.agree_button, self.decline_button):
            b.setEnabled(on)
            b.setVisible(on)

    def say(self, text: str, done: bool = True) -> None:
        self.status.setText(text)
        if done:
            self._answering(False)
        announce(self.status, text)

    @Slot()
    def on_agree(self) -> None:
        if self.request is not None:
            self._answering(False)
            self.say("Taking the photo…", done=False)
            self.agreed.emit(self.request.request_id)

    @Slot()
    def on_decline(self) -> None:
        if self.request is not None:
            self.say("You said no: no photo was taken. The nurse has been told.")
            self.declined.emit(self.request.request_id)

    def reset(self) -> None:
        self.request = None
        self.setVisible(False)


class StationPhotos(QObject):
    """Takes and sends the photo, or the decline, for one station.

    Signals:
        sent(PhotoOut): the hub kept the photo (its size is the camera's).
        failed(str): it could not be taken or sent; plain words.
    """

    sent = Signal(PhotoOut)
    failed = Signal(str)

    def __init__(self, bridge: StationBridge, hub: HubClient, panel: ConsentPanel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.hub, self.panel = bridge, hub, panel
        bridge.photoRequested.connect(self.on_requested)
        panel.agreed.connect(self.on_agreed)
        panel.declined.connect(self.on_declined)
        self.sent.connect(self.on_sent)
        self.failed.connect(self.on_failed)

    @Slot(p.PhotoRequested)
    def on_requested(self, request: p.PhotoRequested) -> None:
        if request.call_id == self.bridge.call_id:
            self.panel.ask(request)

    @Slot(str)
    def on_agreed(self, request_id: str) -> None:
        call_id = self.bridge.call_id
        if call_id is None:
            return
        if self.bridge.switches.camera_off:
            self.failed.emit("The camera is off: turn it on, then ask the nurse to ask again.")
            return

        async def take_and_send() -> None:
            try:
                frame = await self.bridge.still.take()
                still = await asyncio.to_thread(encode_still, frame)
                out = await asyncio.to_thread(self.hub.upload_photo, call_id, request_id,
                                              still.content_type, still.data,
                                              PhotoConsent.GIVEN)
            except NoPicture:
                self.failed.emit("The camera gave no picture; no photo was sent.")
            except HubError as exc:
                self.failed.emit(f"The photo could not be sent: {exc}")
            else:
                self.sent.emit(out)

        self.bridge.submit(take_and_send(), report=False)

    @Slot(str)
    def on_declined(self, request_id: str) -> None:
        call_id = self.bridge.call_id
        if call_id is not None:
            self.bridge.submit(self.bridge.engine.decline_photo(call_id, request_id))

    @Slot(PhotoOut)
    def on_sent(self, out: PhotoOut) -> None:
        self.panel.say(f"Photo sent to the nurse ({out.width} × {out.height}).")

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.panel.say(message)
