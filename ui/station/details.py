"""The station's pre-call page: the reason (the only thing needed), urgency, the resident,
observations with their NEWS2 as they are typed, soft signs, what the site would have done
without the hub, and the camera, microphone and network check."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from hub.contract import signaling as p
from records import codes, news2
from ui.station.check import CheckBox
from ui.station.observations import ObservationsBox, SoftSignsBox
from ui.station.page import Page, named, title
from ui.station.reason import ReasonBox
from ui.station.resident_box import ResidentBox
from ui.station.residents import ResidentList


class DetailsPage(Page):
    """Before the call. Collaborators are passed in: the residents list of the site.

    Signals:
        callRequested(dict): "Call now" with a reason: the call_request fields
            (``reason``, ``request_id``, ``urgency``... as :meth:`build_request` made them).
        backRequested(): "Back" was pressed.
        checkRequested(): "Check again" was pressed.
    """

    callRequested = Signal(dict)
    backRequested = Signal()
    checkRequested = Signal()

    def __init__(self, residents: ResidentList, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer_col = QVBoxLayout(self)
        outer_col.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Not a Tab stop of its own: it scrolls to whichever field takes the focus.
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        form_page = QWidget()
        scroll.setWidget(form_page)
        outer_col.addWidget(scroll, 1)
        col = QVBoxLayout(form_page)
        col.setContentsMargins(30, 20, 30, 20)
        col.addWidget(title("Before the call"))
        hint = QLabel("Only the reason is needed. Everything else helps the nurse, "
                      "but never wait for it in an emergency.")
        hint.setWordWrap(True)
        col.addWidget(hint)
        self.reason = ReasonBox()
        self.resident = ResidentBox(residents)
        self.observations = ObservationsBox()
        self.soft_signs = SoftSignsBox()
        for part in (self.reason, self.resident, self.observations, self.soft_signs):
            col.addWidget(part)
        without = QFormLayout()
        self.intended = QComboBox()
        self.intended.addItem("Not said", None)
        for code in codes.intended_actions().codes:
            self.intended.addItem(codes.intended_actions()[code].label, code)
        without_label = QLabel("Without the hub we would have:")
        without_label.setWordWrap(True)
        named(self.intended, "Without the hub we would have", without_label)
        without.addRow(without_label, self.intended)
        col.addLayout(without)
        self.check = CheckBox()
        self.check.checkRequested.connect(self.checkRequested)
        col.addWidget(self.check)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(30, 10, 30, 20)
        back = QPushButton("Back")
        back.clicked.connect(self.backRequested)
        self.go_button = QPushButton("Call now")
        self.go_button.setObjectName("go")
        self.go_button.clicked.connect(self.on_go)
        self.landing = self.reason.reason
        buttons.addWidget(back)
        buttons.addWidget(self.go_button, 1)
        outer_col.addLayout(buttons)

    def build_request(self) -> dict[str, Any] | None:
        """The call_request fields from the form, or None (with the form saying why)."""
        reason = self.reason.text()
        if reason is None:
            return None
        details: dict[str, Any] = {"request_id": uuid.uuid4().hex,
                                   "urgency": self.reason.chosen_urgency()}
        if self.intended.currentData():
            details["intended_action"] = p.IntendedAction(self.intended.currentData())
        try:
            obs = self.observations.observation_values()
        except news2.ObservationError:
            obs = {}  # a half-typed value never holds up the call; the nurse will ask
        if set(obs) - {"scale"}:
            try:
                news2.Observations(**obs)
                details["observations"] = p.PreCallObservations(**obs)
            except (news2.ObservationError, ValidationError):
                pass
        person = self.resident.chosen()
        if person is not None:
            details["patient"] = p.Patient(
                name=person.name, nhs_number=person.nhs_number,
                date_of_birth=person.date_of_birth.isoformat() if person.date_of_birth
                else None)
        details["soft_signs"] = self.soft_signs.ticked()
        return {"reason": reason[:500], **details}

    @Slot()
    def on_go(self) -> None:
        request = self.build_request()
        if request is not None:
            self.callRequested.emit(request)
