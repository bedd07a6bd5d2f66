"""The station's pre-call page: the reason (the only thing needed), urgency, the resident,
observations with their NEWS2 as they are typed, soft signs, what the site would have done
without the hub, and the camera, microphone and network check."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from hub.contract import signaling as p
from records import codes, news2
from records.schema import Patient
from ui.station.media import DeviceCheck
from ui.station.page import Page, error_label, title
from ui.station.residents import ResidentList

# What the chart calls each observation, in the form's order, with a typical range as a hint.
OBSERVATIONS = (("respiration_rate", "Breaths / min", "12-20"), ("spo2", "SpO2 %", "96"),
                ("systolic_bp", "Systolic BP", "120"), ("pulse", "Pulse / min", "70"),
                ("temperature", "Temperature °C", "37.0"))
URGENCIES = ((p.Urgency.EMERGENCY, "Emergency"), (p.Urgency.URGENT, "Urgent"),
             (p.Urgency.ROUTINE, "Routine"))


def news2_words(result: news2.News2Score) -> str:
    if not any(v is not None for v in result.subscores.values()):
        return "NEWS2: enter observations to see the score"
    if result.complete:
        return f"NEWS2 {result.total} – {result.band.replace('-', '–')}"
    return (f"NEWS2 at least {result.total} (partial: {len(result.missing)} of 7 missing) – "
            f"{result.band.replace('-', '–')} or higher")


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
        self.residents = residents
        outer_col = QVBoxLayout(self)
        outer_col.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
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
        self._build_reason(col)
        col.addWidget(self._build_resident())
        col.addWidget(self._build_observations())
        col.addWidget(self._build_signs())
        without = QFormLayout()
        self.intended = QComboBox()
        self.intended.addItem("Not said", None)
        for code in codes.intended_actions().codes:
            self.intended.addItem(codes.intended_actions()[code].label, code)
        without.addRow(QLabel("Without the hub we would have:"), self.intended)
        col.addLayout(without)
        col.addWidget(self._build_check())

        buttons = QHBoxLayout()
        buttons.setContentsMargins(30, 10, 30, 20)
        back = QPushButton("Back")
        back.clicked.connect(self.backRequested)
        self.go_button = QPushButton("Call now")
        self.go_button.setObjectName("go")
        self.go_button.clicked.connect(self.on_go)
        buttons.addWidget(back)
        buttons.addWidget(self.go_button, 1)
        outer_col.addLayout(buttons)
        self.on_observations_changed()
        self.reload_residents()

    # --- building -------------------------------------------------------------------------

    def _build_reason(self, col: QVBoxLayout) -> None:
        col.addWidget(QLabel("<b>Reason for the call</b> (needed)"))
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("For example: fall in the lounge, new confusion")
        self.reason.setFixedHeight(110)
        col.addWidget(self.reason)
        self.reason_error = QLabel("")
        self.reason_error.setObjectName("error")
        col.addWidget(self.reason_error)
        self.reason.textChanged.connect(self.reason_error.clear)

        urgency_row = QHBoxLayout()
        urgency_row.addWidget(QLabel("<b>How urgent?</b>"))
        self.urgency = QButtonGroup(self)
        self.urgency_buttons: dict[p.Urgency, QPushButton] = {}
        for value, text in URGENCIES:
            button = QPushButton(text)
            button.setCheckable(True)
            button.setChecked(value is p.Urgency.URGENT)
            self.urgency.addButton(button)
            self.urgency_buttons[value] = button
            urgency_row.addWidget(button, 1)
        col.addLayout(urgency_row)

    def _build_resident(self) -> QGroupBox:
        resident_box = QGroupBox("Resident")
        grid = QGridLayout(resident_box)
        self.resident = QComboBox()
        grid.addWidget(self.resident, 0, 0, 1, 3)
        self.new_name = QLineEdit(placeholderText="New resident's name")
        self.new_nhs = QLineEdit(placeholderText="NHS number (if known)")
        self.new_dob = QLineEdit(placeholderText="Date of birth YYYY-MM-DD")
        add = QPushButton("Add resident")
        add.clicked.connect(self.on_add_resident)
        grid.addWidget(self.new_name, 1, 0)
        grid.addWidget(self.new_nhs, 1, 1)
        grid.addWidget(self.new_dob, 1, 2)
        grid.addWidget(add, 2, 2)
        self.resident_error = error_label()
        grid.addWidget(self.resident_error, 2, 0, 1, 2)
        return resident_box

    def _build_observations(self) -> QGroupBox:
        obs_box = QGroupBox("Observations (optional)")
        form = QGridLayout(obs_box)
        self.obs: dict[str, QLineEdit] = {}
        for i, (name, label, hint_text) in enumerate(OBSERVATIONS):
            edit = QLineEdit(placeholderText=hint_text)
            edit.textChanged.connect(self.on_observations_changed)
            self.obs[name] = edit
            form.addWidget(QLabel(label), i // 2, (i % 2) * 2)
            form.addWidget(edit, i // 2, (i % 2) * 2 + 1)
        self.oxygen = QComboBox()
        for text, data in (("Air or oxygen?", None), ("Air", False), ("Oxygen", True)):
            self.oxygen.addItem(text, data)
        self.acvpu = QComboBox()
        for level_text, level in (("Alert / confused?", None), ("Alert", "A"),
                                  ("New confusion", "C"), ("Responds to voice", "V"),
                                  ("Responds to pain", "P"), ("Unresponsive", "U")):
            self.acvpu.addItem(level_text, level)
        self.scale = QComboBox()
        self.scale.addItem("SpO2 scale 1", 1)
        self.scale.addItem("SpO2 scale 2 (only if a clinician chose it)", 2)
        for i, combo in enumerate((self.oxygen, self.acvpu, self.scale)):
            combo.currentIndexChanged.connect(self.on_observations_changed)
            form.addWidget(combo, 3 + i // 2, (i % 2) * 2, 1, 2)
        self.news2_label = QLabel("")
        self.news2_label.setObjectName("news2")
        self.news2_label.setWordWrap(True)
        form.addWidget(self.news2_label, 5, 0, 1, 4)
        return obs_box

    def _build_signs(self) -> QGroupBox:
        signs_box = QGroupBox("Soft signs (tick any that are new)")
        signs = QGridLayout(signs_box)
        self.signs: dict[str, QCheckBox] = {}
        for i, code in enumerate(codes.soft_signs().codes):
            box = QCheckBox(codes.soft_signs()[code].label)
            self.signs[code] = box
            signs.addWidget(box, i // 2, i % 2)
        return signs_box

    def _build_check(self) -> QGroupBox:
        check_box = QGroupBox("Camera, microphone and network")
        check = QVBoxLayout(check_box)
        self.check_camera = QLabel("Camera: not checked yet")
        self.check_mic = QLabel("Microphone: not checked yet")
        self.check_net = QLabel("Network: not checked yet")
        for line in (self.check_camera, self.check_mic, self.check_net):
            line.setWordWrap(True)
            check.addWidget(line)
        again = QPushButton("Check again")
        again.clicked.connect(self.checkRequested)
        check.addWidget(again, 0, Qt.AlignmentFlag.AlignLeft)
        return check_box

    # --- the form -------------------------------------------------------------------------

    def begin(self) -> None:
        """A new call: an empty reason, with the cursor in it."""
        self.reason.clear()
        self.reason_error.setText("")
        self.reason.setFocus()

    def reload_residents(self) -> None:
        self.resident.clear()
        self.resident.addItem("Not a listed resident", None)
        for person in self.residents.all():
            extra = f" ({person.date_of_birth:%d %b %Y})" if person.date_of_birth else ""
            self.resident.addItem(person.name + extra, person)

    @Slot()
    def on_add_resident(self) -> None:
        name = self.new_name.text().strip()
        if not name:
            self.resident_error.setText("Type the resident's name.")
            return
        try:
            person = Patient(name=name, nhs_number=self.new_nhs.text().strip() or None,
                             date_of_birth=self.new_dob.text().strip() or None)
            saved = self.residents.add(person)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0]).replace("_", " ")
            self.resident_error.setText(f"Check the {field}: {exc.errors()[0]['msg']}.")
            return
        except Exception:
            self.resident_error.setText("This resident is already listed (same NHS number).")
            return
        self.resident_error.setText("")
        for edit in (self.new_name, self.new_nhs, self.new_dob):
            edit.clear()
        self.reload_residents()
        self.resident.setCurrentIndex(self.resident.findText(saved.name,
                                                             Qt.MatchFlag.MatchStartsWith))

    def observation_values(self) -> dict[str, Any]:
        """The typed observations; raises ``news2.ObservationError`` naming a bad one."""
        values: dict[str, Any] = {}
        for name, edit in self.obs.items():
            text = edit.text().strip().replace(",", ".")
            if text:
                try:
                    values[name] = float(text) if name == "temperature" else int(text)
                except ValueError:
                    raise news2.ObservationError(name, "type a number") from None
        for key, combo in (("on_oxygen", self.oxygen), ("consciousness", self.acvpu)):
            if combo.currentData() is not None:
                values[key] = combo.currentData()
        values["scale"] = self.scale.currentData() or 1
        return values

    @Slot()
    def on_observations_changed(self) -> None:
        for edit in self.obs.values():
            edit.setStyleSheet("")
        try:
            result = news2.score(news2.Observations(**self.observation_values()))
        except news2.ObservationError as exc:
            if exc.field in self.obs:
                self.obs[exc.field].setStyleSheet("border-color: #c0182b;")
            label = dict((n, t) for n, t, _ in OBSERVATIONS).get(exc.field, exc.field)
            self.news2_label.setText(f"Check {label}: {str(exc).split(': ', 1)[-1]}")
            return
        self.news2_label.setText(news2_words(result))

    def build_request(self) -> dict[str, Any] | None:
        """The call_request fields from the form, or None (with the form saying why)."""
        reason = self.reason.toPlainText().strip()
        if not reason:
            self.reason_error.setText("Say in a few words why you are calling.")
            self.reason.setFocus()
            return None
        details: dict[str, Any] = {"request_id": uuid.uuid4().hex}
        checked = self.urgency.checkedButton()
        details["urgency"] = next((u for u, b in self.urgency_buttons.items() if b is checked),
                                  p.Urgency.URGENT)
        if self.intended.currentData():
            details["intended_action"] = p.IntendedAction(self.intended.currentData())
        try:
            obs = self.observation_values()
        except news2.ObservationError:
            obs = {}  # a half-typed value never holds up the call; the nurse will ask
        if set(obs) - {"scale"}:
            try:
                news2.Observations(**obs)
                details["observations"] = p.PreCallObservations(**obs)
            except (news2.ObservationError, ValidationError):
                pass
        person: Patient | None = self.resident.currentData()
        if person is not None:
            details["patient"] = p.Patient(
                name=person.name, nhs_number=person.nhs_number,
                date_of_birth=person.date_of_birth.isoformat() if person.date_of_birth
                else None)
        details["soft_signs"] = [c for c, box in self.signs.items() if box.isChecked()]
        return {"reason": reason[:500], **details}

    @Slot()
    def on_go(self) -> None:
        request = self.build_request()
        if request is not None:
            self.callRequested.emit(request)

    # --- the check ------------------------------------------------------------------------

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
