"""The station's kiosk window: call the hub, the pre-call details and check, the queue, the
call, and the agreed plan afterwards (shown, printed, saved as PDF)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
from pydantic import ValidationError
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Slot
from PySide6.QtGui import (
    QCloseEvent,
    QImage,
    QPageSize,
    QPainter,
    QPaintEvent,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from calls.session import CallState, StateChanged
from hub.client import HubClient, HubError
from hub.contract import signaling as p
from hub.contract.identity import SiteKind
from hub.contract.rest import BookingOut as Clinic
from hub.contract.rest import PlanOut as Plan
from records import codes, news2
from records.schema import Patient
from ui.station.bridge import StationBridge
from ui.station.media import DeviceCheck
from ui.station.residents import ResidentList

STYLE = """
QWidget { font-size: 17pt; }
QMainWindow, QStackedWidget > QWidget { background: #f5f6f8; }
QLabel#title { font-size: 26pt; font-weight: bold; color: #003087; }
QLabel#status { color: #4c6272; }
QLabel#big { font-size: 30pt; font-weight: bold; }
QLabel#error { color: #c0182b; font-weight: bold; }
QLabel#news2 { font-weight: bold; padding: 6px; border-radius: 6px; background: #e8edee; }
QPushButton { min-height: 64px; padding: 6px 22px; border: 2px solid #425563;
              border-radius: 10px; background: white; }
QPushButton:checked { background: #005eb8; color: white; border-color: #005eb8; }
QPushButton:disabled { color: #8c9ba5; border-color: #c8d0d5; }
QPushButton#call { min-height: 150px; font-size: 34pt; font-weight: bold; color: white;
                   background: #007f3b; border-color: #007f3b; }
QPushButton#call:disabled { background: #9fc8ad; border-color: #9fc8ad; }
QPushButton#go { font-size: 22pt; font-weight: bold; color: white; background: #007f3b;
                 border-color: #007f3b; min-height: 84px; }
QPushButton#danger { font-weight: bold; color: white; background: #c0182b;
                     border-color: #c0182b; }
QLineEdit, QPlainTextEdit, QComboBox { padding: 8px; border: 2px solid #425563;
                                       border-radius: 6px; background: white; min-height: 40px; }
QGroupBox { font-weight: bold; border: 1px solid #aeb7bd; border-radius: 8px;
            margin-top: 18px; padding: 14px 10px 10px; background: white; }
QGroupBox::title { subcontrol-origin: margin; left: 12px; padding: 0 4px; }
QCheckBox { min-height: 40px; }
QCheckBox::indicator { width: 30px; height: 30px; }
"""

# What the chart calls each observation, in the form's order, with a typical range as a hint.
OBSERVATIONS = (("respiration_rate", "Breaths / min", "12-20"), ("spo2", "SpO2 %", "96"),
                ("systolic_bp", "Systolic BP", "120"), ("pulse", "Pulse / min", "70"),
                ("temperature", "Temperature °C", "37.0"))
URGENCIES = ((p.Urgency.EMERGENCY, "Emergency"), (p.Urgency.URGENT, "Urgent"),
             (p.Urgency.ROUTINE, "Routine"))
CLINIC_JOIN_EARLY = timedelta(minutes=10)


def wait_words(seconds: int) -> str:
    if seconds < 60:
        return "Expected wait: less than a minute"
    minutes = -(-seconds // 60)
    return f"Expected wait: about {minutes} minute{'s' if minutes != 1 else ''}"


def position_words(position: int) -> str:
    return "You are next" if position == 1 else f"You are number {position} in the queue"


def news2_words(result: news2.News2Score) -> str:
    if not any(v is not None for v in result.subscores.values()):
        return "NEWS2: enter observations to see the score"
    if result.complete:
        return f"NEWS2 {result.total} – {result.band.replace('-', '–')}"
    return (f"NEWS2 at least {result.total} (partial: {len(result.missing)} of 7 missing) – "
            f"{result.band.replace('-', '–')} or higher")


def plan_html(site: str, plan: Plan, reason: str, resident: str | None) -> str:
    from html import escape

    when = plan.written_at.astimezone().strftime("%d %b %Y %H:%M")
    about = f"<p><b>Resident:</b> {escape(resident)}</p>" if resident else ""
    again = escape(plan.call_again or "If you are worried, call the hub again.")
    return (f"<h1>Plan agreed with the hub</h1><p><b>{escape(site)}</b></p>{about}"
            f"<p><b>Reason for the call:</b> {escape(reason)}</p>"
            f"<h2>What was agreed</h2><p>{escape(plan.decision)}</p>"
            f"<h2>When to call again</h2><p>{again}</p>"
            f"<p><i>Written by {escape(plan.written_by_name)}, {when}</i></p>")


class VideoView(QWidget):
    """Paints the latest frame of one stream, scaled to fit, or a plain caption."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.image: QImage | None = None
        self.frames = 0
        self.setMinimumSize(QSize(160, 120))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_frame(self, frame: av.VideoFrame) -> None:
        w = max(2, min(self.width(), frame.width * 2) // 2 * 2)
        h = max(2, w * frame.height // frame.width // 2 * 2)
        rgb = frame.reformat(width=w, height=h, format="rgb24")
        plane = rgb.planes[0]
        self.image = QImage(bytes(plane), w, h, plane.line_size,
                            QImage.Format.Format_RGB888).copy()
        self.frames += 1
        self.update()

    def clear(self) -> None:
        self.image = None
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self.image is None:
            painter.setPen(Qt.GlobalColor.white)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.caption)
            return
        scaled = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - scaled.width()) / 2
        y = (self.height() - scaled.height()) / 2
        painter.drawImage(QRectF(x, y, scaled.width(), scaled.height()), self.image)


@dataclass
class PendingClinic:
    clinic: Clinic
    joined: bool = False


class StationWindow(QMainWindow):
    """One site's station. Collaborators are passed in, so a test hands in its own."""

    def __init__(self, hub: HubClient, bridge: StationBridge, residents: ResidentList,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert hub.principal is not None
        self.hub, self.bridge, self.residents = hub, bridge, residents
        self.site = hub.principal
        self.setWindowTitle(f"telehub – {self.site.name}")
        self.setStyleSheet(STYLE)
        self.pages = QStackedWidget()
        self.setCentralWidget(self.pages)
        self.connected = False
        self.call_id: str | None = None
        self.reason_sent = ""
        self.resident_sent: str | None = None
        self.plan: Plan | None = None
        self.plans: dict[str, Plan] = {}  # by call id, as the hub pushed them (call_plan)
        self.clinic: PendingClinic | None = None
        self.clinics: list[Clinic] = []
        self.home_page = self._build_home()
        self.details_page = self._build_details()
        self.waiting_page = self._build_waiting()
        self.call_page = self._build_call()
        self.after_page = self._build_after()
        for page in (self.home_page, self.details_page, self.waiting_page, self.call_page,
                     self.after_page):
            self.pages.addWidget(page)
        self.clinic_timer = QTimer(self, interval=30_000)
        self.clinic_timer.timeout.connect(self.refresh_clinics)
        bridge.connectionChanged.connect(self.on_connection)
        bridge.stateChanged.connect(self.on_state)
        bridge.queueMoved.connect(self.on_queue_moved)
        bridge.refused.connect(self.on_refused)
        bridge.deviceChecked.connect(self.on_device_check)
        bridge.remoteFrame.connect(self.on_remote_frame)
        bridge.selfFrame.connect(self.on_self_frame)
        bridge.fetched.connect(self.on_fetched)
        bridge.planPushed.connect(self.on_plan_pushed)
        self.reload_residents()
        if self.site.role == SiteKind.PRISON.value:
            self.refresh_clinics()
            self.clinic_timer.start()

    # --- building -------------------------------------------------------------------------

    def _title(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("title")
        label.setWordWrap(True)
        return label

    def _build_home(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(40, 30, 40, 30)
        col.addWidget(self._title(self.site.name))
        self.status = QLabel("Connecting to the hub…")
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        col.addWidget(self.status)
        col.addStretch(1)
        self.call_button = QPushButton("Call the hub")
        self.call_button.setObjectName("call")
        self.call_button.clicked.connect(self.on_call_clicked)
        col.addWidget(self.call_button)
        self.home_error = QLabel("")
        self.home_error.setObjectName("error")
        self.home_error.setWordWrap(True)
        col.addWidget(self.home_error)
        self.clinic_box = QGroupBox("Today's booked clinics")
        self.clinic_rows = QVBoxLayout(self.clinic_box)
        self.clinic_box.setVisible(self.site.role == SiteKind.PRISON.value)
        col.addWidget(self.clinic_box)
        col.addStretch(1)
        return page

    def _build_details(self) -> QWidget:
        outer = QWidget()
        outer_col = QVBoxLayout(outer)
        outer_col.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        page = QWidget()
        scroll.setWidget(page)
        outer_col.addWidget(scroll, 1)
        col = QVBoxLayout(page)
        col.setContentsMargins(30, 20, 30, 20)
        col.addWidget(self._title("Before the call"))
        hint = QLabel("Only the reason is needed. Everything else helps the nurse, "
                      "but never wait for it in an emergency.")
        hint.setWordWrap(True)
        col.addWidget(hint)

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
        self.resident_error = QLabel("")
        self.resident_error.setObjectName("error")
        self.resident_error.setWordWrap(True)
        grid.addWidget(self.resident_error, 2, 0, 1, 2)
        col.addWidget(resident_box)

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
        col.addWidget(obs_box)

        signs_box = QGroupBox("Soft signs (tick any that are new)")
        signs = QGridLayout(signs_box)
        self.signs: dict[str, QCheckBox] = {}
        for i, code in enumerate(codes.soft_signs().codes):
            box = QCheckBox(codes.soft_signs()[code].label)
            self.signs[code] = box
            signs.addWidget(box, i // 2, i % 2)
        col.addWidget(signs_box)

        without = QFormLayout()
        self.intended = QComboBox()
        self.intended.addItem("Not said", None)
        for code in codes.intended_actions().codes:
            self.intended.addItem(codes.intended_actions()[code].label, code)
        without.addRow(QLabel("Without the hub we would have:"), self.intended)
        col.addLayout(without)

        check_box = QGroupBox("Camera, microphone and network")
        check = QVBoxLayout(check_box)
        self.check_camera = QLabel("Camera: not checked yet")
        self.check_mic = QLabel("Microphone: not checked yet")
        self.check_net = QLabel("Network: not checked yet")
        for line in (self.check_camera, self.check_mic, self.check_net):
            line.setWordWrap(True)
            check.addWidget(line)
        again = QPushButton("Check again")
        again.clicked.connect(self.run_checks)
        check.addWidget(again, 0, Qt.AlignmentFlag.AlignLeft)
        col.addWidget(check_box)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(30, 10, 30, 20)
        back = QPushButton("Back")
        back.clicked.connect(lambda: self.pages.setCurrentWidget(self.home_page))
        self.go_button = QPushButton("Call now")
        self.go_button.setObjectName("go")
        self.go_button.clicked.connect(self.on_go)
        buttons.addWidget(back)
        buttons.addWidget(self.go_button, 1)
        outer_col.addLayout(buttons)
        self.on_observations_changed()
        return outer

    def _build_waiting(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(40, 40, 40, 40)
        col.addWidget(self._title("Calling the hub"))
        col.addStretch(1)
        self.position = QLabel("Asking for a nurse…")
        self.position.setObjectName("big")
        self.position.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.wait = QLabel("")
        self.wait.setStyleSheet("font-size: 22pt;")
        self.wait.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.waiting_note = QLabel("Stay with the resident. A nurse will answer as soon as "
                                   "they can.")
        self.waiting_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.waiting_note.setWordWrap(True)
        for w in (self.position, self.wait, self.waiting_note):
            col.addWidget(w)
        col.addStretch(1)
        cancel = QPushButton("Cancel the call")
        cancel.setObjectName("danger")
        cancel.setMinimumWidth(360)
        cancel.clicked.connect(self.on_hang_up)
        self.cancel_button = cancel
        col.addWidget(cancel, 0, Qt.AlignmentFlag.AlignCenter)
        return page

    def _build_call(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(16, 16, 16, 16)
        self.call_title = QLabel("In a call with the hub")
        self.call_title.setObjectName("title")
        col.addWidget(self.call_title)
        stage = QHBoxLayout()
        self.remote_view = VideoView("Connecting to the nurse…")
        self.self_view = VideoView("Your camera")
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
        self.end_button.clicked.connect(self.on_hang_up)
        for b in (self.mute_button, self.camera_button, self.end_button):
            b.setMinimumWidth(200)
            controls.addWidget(b)
        col.addLayout(controls)
        return page

    def _build_after(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(40, 30, 40, 30)
        self.after_title = self._title("The call has ended")
        col.addWidget(self.after_title)
        self.plan_view = QTextBrowser()
        self.plan_view.document().setDocumentMargin(20)
        col.addWidget(self.plan_view, 1)
        row = QHBoxLayout()
        self.print_button = QPushButton("Print")
        self.print_button.clicked.connect(self.on_print)
        self.pdf_button = QPushButton("Save as PDF")
        self.pdf_button.clicked.connect(self.on_save_pdf)
        done = QPushButton("Done")
        done.clicked.connect(self.on_done)
        for b in (self.print_button, self.pdf_button):
            b.setEnabled(False)
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(done)
        col.addLayout(row)
        return page

    # --- the details form -----------------------------------------------------------------

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

    def run_checks(self) -> None:
        for label, text in ((self.check_camera, "Camera: checking…"),
                            (self.check_mic, "Microphone: checking…"),
                            (self.check_net, "Network: checking…")):
            label.setText(text)
        self.bridge.check_devices()
        self.bridge.fetch("network", self.hub.round_trip_ms)

    @Slot(object)
    def on_device_check(self, check: DeviceCheck) -> None:
        self.check_camera.setText(f"✓ Camera: working ({check.camera})" if check.camera
                                  else "✗ Camera: no picture. The nurse will not see you; "
                                       "you can still call.")
        self.check_mic.setText("✓ Microphone: working" if check.microphone
                               else "✗ Microphone: no sound. The nurse will not hear you; "
                                    "you can still call.")

    # --- calling --------------------------------------------------------------------------

    @Slot()
    def on_call_clicked(self) -> None:
        self.clinic = None
        self.reason.clear()
        self.reason_error.setText("")
        self.pages.setCurrentWidget(self.details_page)
        self.reason.setFocus()
        self.run_checks()

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
        if request is None:
            return
        self.start_call(request)

    def start_call(self, request: dict[str, Any]) -> None:
        self.reason_sent = request["reason"]
        patient = request.get("patient")
        self.resident_sent = patient.name if patient is not None else None
        self.call_id = None
        self.plan = None
        self.position.setText("Asking for a nurse…")
        self.wait.setText("")
        self.pages.setCurrentWidget(self.waiting_page)
        reason = request.pop("reason")
        self.bridge.request_call(reason, **request)

    @Slot()
    def on_hang_up(self) -> None:
        self.bridge.hang_up()

    @Slot(bool)
    def on_mute(self, muted: bool) -> None:
        self.bridge.set_muted(muted)
        self.mute_button.setText("Unmute" if muted else "Mute")

    @Slot(bool)
    def on_camera(self, off: bool) -> None:
        self.bridge.set_camera_off(off)
        self.camera_button.setText("Camera on" if off else "Camera off")

    # --- engine events --------------------------------------------------------------------

    @Slot(bool, str)
    def on_connection(self, up: bool, why: str) -> None:
        self.connected = up
        if up:
            self.status.setText("Connected to the hub. Nurses answer day and night.")
            self.home_error.setText("")
            # The hub pushes the plan to live connections only: after a reconnect, ask once
            # for a plan written or corrected while the station was away.
            if why == "reconnected" and self.call_id and self.pages.currentWidget() in (
                    self.call_page, self.after_page):
                self.fetch_plan(self.call_id)
        else:
            self.status.setText("Not connected to the hub – trying again. In an emergency "
                                "call 999.")

    @Slot(object)
    def on_state(self, event: StateChanged) -> None:
        if event.call_id:
            self.call_id = event.call_id
        if event.new is CallState.QUEUED:
            self.pages.setCurrentWidget(self.waiting_page)
            if event.old in (CallState.CONNECTING, CallState.IN_CALL):
                self.waiting_note.setText("The nurse's connection was lost. You are at the "
                                          "front of the queue again.")
            if self.clinic is not None and not self.clinic.joined and self.call_id:
                booking, call_id = self.clinic.clinic.id, self.call_id
                self.clinic.joined = True
                self.bridge.fetch("join", lambda: self.hub.join_clinic(booking, call_id))
        elif event.new is CallState.CONNECTING:
            self.remote_view.clear()
            self.self_view.clear()
            self.mute_button.setChecked(False)
            self.camera_button.setChecked(False)
            self.pages.setCurrentWidget(self.call_page)
        elif event.new is CallState.ENDED or event.new is CallState.FAILED:
            self.on_call_over(event)

    def on_call_over(self, event: StateChanged) -> None:
        if event.new is CallState.FAILED:
            self.after_title.setText("The call could not be made")
        elif self.pages.currentWidget() is self.waiting_page:
            self.after_title.setText("The call was cancelled")
        else:
            self.after_title.setText("The call has ended")
        self.plan_view.setHtml("<p>The nurse may send the plan you agreed; it will show "
                               "here.</p>" if event.new is CallState.ENDED else
                               f"<p>{event.reason}</p>")
        self.print_button.setEnabled(False)
        self.pdf_button.setEnabled(False)
        self.pages.setCurrentWidget(self.after_page)
        if event.new is CallState.ENDED and self.call_id in self.plans:
            self.show_plan(self.plans[self.call_id])  # written during the call

    @Slot(int, int)
    def on_queue_moved(self, position: int, wait_s: int) -> None:
        self.position.setText(position_words(position))
        self.wait.setText(wait_words(wait_s))

    @Slot(str)
    def on_refused(self, message: str) -> None:
        self.home_error.setText(f"The hub said: {message}")

    @Slot()
    def on_remote_frame(self) -> None:
        frame = self.bridge.remote.take()
        if frame is not None:
            self.remote_view.show_frame(frame)

    @Slot()
    def on_self_frame(self) -> None:
        frame = self.bridge.local.take()
        if frame is not None and self.pages.currentWidget() is self.call_page:
            self.self_view.show_frame(frame)

    @Slot(str, object)
    def on_fetched(self, tag: str, result: object) -> None:
        if tag == "network":
            if isinstance(result, float):
                quality = "good" if result < 300 else "slow – the call may drop to sound only"
                self.check_net.setText(f"✓ Network: {quality} ({result:.0f} ms to the hub)")
            else:
                self.check_net.setText("✗ Network: the hub cannot be reached. In an "
                                       "emergency call 999.")
        elif tag.startswith("plan:") and isinstance(result, Plan):
            self.take_plan(tag[5:], result)
        elif tag == "clinics" and isinstance(result, list):
            self.show_clinics(result)
        elif isinstance(result, HubError):
            self.home_error.setText(_sentence(str(result)))

    # --- after the call -------------------------------------------------------------------

    @Slot(object)
    def on_plan_pushed(self, msg: p.CallPlanReady) -> None:
        self.take_plan(msg.call_id, Plan(call_id=msg.call_id, decision=msg.decision,
                                         call_again=msg.call_again,
                                         written_by_name=msg.written_by,
                                         written_at=msg.written_at))

    def take_plan(self, call_id: str, plan: Plan) -> None:
        """A plan from the push or the after-reconnect GET: kept, and shown if it is the plan
        of the call just ended (one written during the call shows when the call ends)."""
        self.plans[call_id] = plan
        if call_id == self.call_id and self.pages.currentWidget() is self.after_page:
            self.show_plan(plan)

    def fetch_plan(self, call_id: str) -> None:
        self.bridge.fetch(f"plan:{call_id}", lambda: self.hub.call_plan(call_id))

    def show_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.plan_view.setHtml(plan_html(self.site.name, plan, self.reason_sent,
                                         self.resident_sent))
        self.print_button.setEnabled(True)
        self.pdf_button.setEnabled(True)

    def plan_document(self) -> QTextDocument:
        assert self.plan is not None
        doc = QTextDocument()
        doc.setDefaultFont(self.font())
        doc.setHtml(plan_html(self.site.name, self.plan, self.reason_sent,
                              self.resident_sent))
        return doc

    def save_plan_pdf(self, path: Path) -> None:
        writer = QPdfWriter(str(path))
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        writer.setTitle("Plan agreed with the hub")
        writer.setCreator("telehub-site")
        self.plan_document().print_(writer)

    @Slot()
    def on_save_pdf(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save the plan as PDF",
                                              str(Path.home() / "telehub-plan.pdf"), "PDF (*.pdf)")
        if name:
            self.save_plan_pdf(Path(name))

    @Slot()
    def on_print(self) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        if QPrintDialog(printer, self).exec():
            self.plan_document().print_(printer)

    @Slot()
    def on_done(self) -> None:
        self.waiting_note.setText("Stay with the resident. A nurse will answer as soon as "
                                  "they can.")
        self.pages.setCurrentWidget(self.home_page)

    # --- prison clinics -------------------------------------------------------------------

    @Slot()
    def refresh_clinics(self) -> None:
        self.bridge.fetch("clinics", self.hub.clinics)

    def show_clinics(self, clinics: list[Clinic]) -> None:
        self.clinics = clinics
        while self.clinic_rows.count():
            item = self.clinic_rows.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        if not clinics:
            self.clinic_rows.addWidget(QLabel("No clinics booked for today."))
        now = datetime.now(UTC)
        for clinic in clinics:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            who = f" – {clinic.patient.name}" if clinic.patient and clinic.patient.name else ""
            text = QLabel(f"<b>{clinic.starts_at.astimezone():%H:%M}</b> {clinic.title} with "
                          f"{clinic.specialist_name}{who}")
            text.setWordWrap(True)
            join = QPushButton("Join")
            join.setObjectName(f"join-{clinic.id}")
            opens = clinic.starts_at - CLINIC_JOIN_EARLY
            closes = clinic.starts_at + timedelta(minutes=clinic.minutes)
            join.setEnabled(not clinic.cancelled and opens <= now <= closes)
            if clinic.cancelled:
                join.setText("Cancelled")
            elif now < opens:
                join.setText(f"Join from {opens.astimezone():%H:%M}")
            join.clicked.connect(lambda _=False, c=clinic: self.join_clinic(c))
            line.addWidget(text, 1)
            line.addWidget(join)
            self.clinic_rows.addWidget(row)

    def join_clinic(self, clinic: Clinic) -> None:
        when = clinic.starts_at.astimezone().strftime("%H:%M")
        request: dict[str, Any] = {
            "request_id": uuid.uuid4().hex, "urgency": p.Urgency.ROUTINE,
            "reason": f"Booked clinic: {clinic.title} with {clinic.specialist_name} at {when}",
        }
        if clinic.patient is not None and clinic.patient.name:
            request["patient"] = p.Patient(name=clinic.patient.name)
        self.clinic = PendingClinic(clinic)
        self.start_call(request)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.clinic_timer.stop()
        super().closeEvent(event)


def _sentence(text: str) -> str:
    """The first letter upper-cased; str.capitalize() would lower-case the rest (URLs too)."""
    return text[:1].upper() + text[1:]
