"""Triage beside the video: patient, observations with live NEWS2, soft signs, SBARD, the
intended action, a coded outcome, avoided flags, and sign-off. Saved as a draft as typed."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
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

from records import codes, news2, nhs_number
from records.schema import (
    AvoidedFlags,
    ObservationSet,
    Patient,
    SbardNotes,
    TriageRecord,
    utc_now,
)
from ui import theme
from ui.announce import announce
from ui.desk.recordkeeper import RecordKeeper
from ui.labels import ValueLabel, status_label

# (field, label, unit, accessible name)
NUMERIC = (
    ("respiration_rate", "Resp. rate", "/min", "Respiration rate per minute"),
    ("spo2", "SpO₂", "%", "Oxygen saturation percent"),
    ("systolic_bp", "Systolic BP", "mmHg", "Systolic blood pressure"),
    ("pulse", "Pulse", "/min", "Pulse per minute"),
    ("temperature", "Temperature", "°C", "Temperature in degrees Celsius"),
)
SUBSCORE_LABELS = {"respiration_rate": "Resp.", "spo2": "SpO₂", "air_or_oxygen": "Air/O₂",
                   "systolic_bp": "BP", "pulse": "Pulse", "consciousness": "ACVPU",
                   "temperature": "Temp."}
# What a screen reader says for each sub-score (the abbreviations are for the eye).
SUBSCORE_NAMES = {"respiration_rate": "Respiration rate", "spo2": "Oxygen saturation",
                  "air_or_oxygen": "Air or oxygen", "systolic_bp": "Systolic blood pressure",
                  "pulse": "Pulse", "consciousness": "Consciousness", "temperature":
                  "Temperature"}
ACVPU = (("", "not recorded"),
         *((level, f"{level} — {meaning.lower()}") for level, meaning in news2.ACVPU))
AVOIDED = (("admission", "admission_avoided", "Admission avoided"),
           ("ae_attendance", "ae_attendance_avoided", "A&E attendance avoided"),
           ("prison_transfer", "prison_transfer_avoided", "Prison transfer avoided"),
           ("gp_visit", "gp_visit_avoided", "GP visit avoided"))
SBARD = (("situation", "Situation"), ("background", "Background"),
         ("assessment", "Assessment"), ("recommendation", "Recommendation"),
         ("decision", "Decision (agreed, when to call again)"))


@dataclass
class TriageContext:
    """What the call brings to the record before the nurse types anything."""

    site_id: str
    setting: str
    nurse: str
    call_id: str | None = None
    site_name: str = ""
    requested_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    presenting_problem: str = ""
    intended_action: str | None = None
    observations: dict[str, Any] = field(default_factory=dict)
    soft_signs: tuple[str, ...] = ()
    nhs_number: str | None = None
    patient_name: str | None = None
    date_of_birth: str | None = None
    specialist: str | None = None


def _set_state(widget: QWidget, state: str, tip: str = "") -> None:
    if widget.property("state") != state:
        widget.setProperty("state", state)
        widget.style().unpolish(widget)
        widget.style().polish(widget)
    widget.setToolTip(tip)


class TriageForm(QWidget):
    """The triage record of one call (or an amendment of a signed-off one).

    Signals:
        news2Changed(object): the live :class:`records.news2.News2Score`, or None.
        signedOff(TriageRecord): the record, signed off.
    """

    news2Changed = Signal(object)
    signedOff = Signal(TriageRecord)

    def __init__(self, keeper: RecordKeeper | None, parent: QWidget | None = None, *,
                 debounce_ms: int = 400) -> None:
        super().__init__(parent)
        self.keeper = keeper
        self.context: TriageContext | None = None
        self.base: TriageRecord | None = None  # the loaded signed-off version when amending
        self.record_uuid = uuidlib.uuid4()
        self.patient_id = uuidlib.uuid4()
        self.closed = False
        self._edits = 0  # edit generation: "Saved" shows only for the latest edit
        self._submitted = 0
        self._loading = False
        self.score: news2.News2Score | None = None
        self._bad: dict[str, str] = {}
        self._band_said: tuple[str, bool] | None = None  # the band last announced

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self.on_save_due)

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.addWidget(self._patient_box())
        col.addWidget(self._observation_box())
        col.addWidget(self._soft_signs_box())
        col.addWidget(self._sbard_box())
        col.addWidget(self._outcome_box())
        col.addStretch(1)
        scroll = _FormScroll()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # No Tab stop of its own (a nameless one to a screen reader): Tab goes field to
        # field, and the area scrolls each focused field into view.
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setAccessibleName("Triage record")
        self.form_scroll = scroll

        self.save_status = status_label("Draft save state", "Nothing typed yet")
        self.save_status.setProperty("role", "muted")
        self.save_status.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Reason for the amendment (required)")
        self.reason.setAccessibleName("Amendment reason")
        self.reason.setVisible(False)
        self.sign_button = QPushButton("&Sign off  (Ctrl+Shift+S)")
        self.sign_button.setProperty("kind", "primary")
        self.sign_button.setAccessibleName("Sign off the triage record")
        self.sign_button.clicked.connect(self.on_sign_off)
        self.sign_error = status_label("Sign-off problems")
        self.sign_error.setWordWrap(True)
        self.sign_error.setProperty("role", "error")
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_status, 1)
        bottom.addWidget(self.sign_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.reason)
        layout.addWidget(self.sign_error)
        layout.addLayout(bottom)
        shortcut = QShortcut(QKeySequence("Ctrl+Shift+S"), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.on_sign_off)
        if keeper is not None:
            keeper.saved.connect(self.on_saved)
            keeper.saveFailed.connect(self.on_save_failed)
            keeper.signedOff.connect(self.on_keeper_signed_off)
        self._refresh_news2()

    # --- building ---------------------------------------------------------------------------

    def _line(self, name: str, placeholder: str = "") -> QLineEdit:
        edit = QLineEdit()
        edit.setAccessibleName(name)
        edit.setPlaceholderText(placeholder)
        edit.textChanged.connect(self.on_edited)
        return edit

    def _combo(self, name: str, items: tuple[tuple[str, str], ...] | list[tuple[str, str]]
               ) -> QComboBox:
        combo = theme.compact_combo(QComboBox())
        combo.setAccessibleName(name)
        for code, label in items:
            combo.addItem(label, code)
        combo.currentIndexChanged.connect(self.on_edited)
        return combo

    def _form(self, box: QGroupBox) -> QFormLayout:
        form = QFormLayout(box)
        if theme.large_text(self):  # labels above their fields: the form stays narrow
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        return form

    def _patient_box(self) -> QGroupBox:
        box = QGroupBox("Patient")
        form = self._form(box)
        self.nhs = self._line("NHS number", "943 476 5919")
        self.nhs.textChanged.connect(self.on_nhs_changed)
        self.nhs_status = ValueLabel("NHS number check:", "10 digits")
        self.nhs_status.setProperty("role", "muted")
        self.nhs.setAccessibleDescription(self.nhs_status.text())
        form.addRow(_buddy("NHS &number", self.nhs), self.nhs)
        form.addRow("", self.nhs_status)
        self.name = self._line("Patient name")
        form.addRow("&Name", self.name)
        self.dob = self._line("Date of birth", "YYYY-MM-DD")
        form.addRow("Date of &birth", self.dob)
        self.problem = self._line("Presenting problem")
        form.addRow("&Problem", self.problem)
        return box

    def _observation_box(self) -> QGroupBox:
        box = QGroupBox("Observations and NEWS2")
        grid = QGridLayout(box)
        self.obs: dict[str, QLineEdit] = {}
        for i, (name, label, unit, access) in enumerate(NUMERIC):
            edit = self._line(access, unit)
            edit.setMaximumWidth(edit.fontMetrics().horizontalAdvance("000.0 mmHg") + 24)
            edit.textChanged.connect(self.on_observation_changed)
            self.obs[name] = edit
            lab = QLabel(label)
            lab.setBuddy(edit)
            grid.addWidget(lab, i, 0)
            grid.addWidget(edit, i, 1)
        self.oxygen = self._combo("Air or oxygen", [("", "not recorded"), ("air", "air"),
                                                    ("oxygen", "oxygen")])
        self.acvpu = self._combo("Consciousness ACVPU", list(ACVPU))
        self.scale = self._combo("SpO2 scale", [("1", "scale 1"),
                                                ("2", "scale 2 (hypercapnic, clinician)")])
        for combo in (self.oxygen, self.acvpu, self.scale):
            combo.currentIndexChanged.connect(self.on_observation_changed)
        n = len(NUMERIC)
        for j, (label, widget) in enumerate((("Air / O₂", self.oxygen),
                                             ("ACVPU", self.acvpu),
                                             ("SpO₂ scale", self.scale))):
            lab = QLabel(label)
            lab.setBuddy(widget)
            grid.addWidget(lab, n + j, 0)
            grid.addWidget(widget, n + j, 1)
        # Sub-scores beside the entries, then the total, band and response underneath.
        self.subscores: dict[str, QLabel] = {}
        sub = QGridLayout()
        for k, (name, label) in enumerate(SUBSCORE_LABELS.items()):
            head = QLabel(label)
            head.setProperty("role", "muted")
            value = ValueLabel(f"{SUBSCORE_NAMES[name]} sub-score", "–")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setMinimumWidth(34)
            self.subscores[name] = value
            sub.addWidget(head, k, 0)
            sub.addWidget(value, k, 1)
        grid.addLayout(sub, 0, 2, n + 3, 1)
        self.total = status_label("NEWS2 total")
        self.total.setProperty("role", "big")
        self.total.setWordWrap(True)
        self.band = status_label("NEWS2 band and response")
        self.band.setWordWrap(True)
        self.obs_error = status_label("Observation problems")
        self.obs_error.setWordWrap(True)
        self.obs_error.setProperty("role", "error")
        grid.addWidget(self.total, n + 3, 0, 1, 3)
        grid.addWidget(self.band, n + 4, 0, 1, 3)
        grid.addWidget(self.obs_error, n + 5, 0, 1, 3)
        return box

    def _soft_signs_box(self) -> QGroupBox:
        box = QGroupBox("Soft signs")
        grid = QGridLayout(box)
        self.signs: dict[str, QCheckBox] = {}
        table = codes.soft_signs()
        for i, code in enumerate(table.codes):
            check = QCheckBox(table[code].label)
            check.setAccessibleName(f"Soft sign: {table[code].label}")
            check.toggled.connect(self.on_edited)
            self.signs[code] = check
            columns = 1 if theme.large_text(self) else 2  # a check box's text never wraps
            grid.addWidget(check, *divmod(i, columns))
        return box

    def _sbard_box(self) -> QGroupBox:
        box = QGroupBox("SBARD")
        form = self._form(box)
        self.sbard: dict[str, QPlainTextEdit] = {}
        for name, label in SBARD:
            edit = QPlainTextEdit()
            edit.setAccessibleName(label)
            edit.setTabChangesFocus(True)  # keyboard-only: Tab moves on, it never types a tab
            # Three lines of the edit's own font: a larger system font makes it taller.
            lines = edit.fontMetrics().lineSpacing() * 3
            edit.setMinimumHeight(lines + 2 * edit.frameWidth() + 14)
            edit.setMaximumHeight(lines * 2)
            edit.textChanged.connect(self.on_edited)
            self.sbard[name] = edit
            lab = QLabel(label)
            lab.setBuddy(edit)
            form.addRow(lab, edit)
        return box

    def _outcome_box(self) -> QGroupBox:
        box = QGroupBox("Outcome")
        form = self._form(box)
        actions = codes.intended_actions()
        self.intended = self._combo("Caller's intended action", [("", "not stated")] + [
            (c, actions[c].label) for c in actions.codes])
        form.addRow("&Intended action", self.intended)
        outcomes = codes.outcomes()
        self.outcome = self._combo("Outcome", [("", "choose the outcome…")] + [
            (c, outcomes[c].label) for c in outcomes.codes])
        form.addRow("&Outcome", self.outcome)
        targets = codes.referral_targets()
        self.referral = self._combo("Referral", [("", "not set")] + [
            (c, targets[c].label) for c in targets.codes])
        form.addRow("&Referral", self.referral)
        self.avoided: dict[str, QCheckBox] = {}
        avoided_col = QVBoxLayout()
        for attr, _flag, label in AVOIDED:
            check = QCheckBox(label.replace("&", "&&"))  # "A&E", not a mnemonic E
            check.setAccessibleName(label)
            check.toggled.connect(self.on_edited)
            self.avoided[attr] = check
            avoided_col.addWidget(check)
        self.suggestion = QLabel("")
        self.suggestion.setProperty("role", "muted")
        self.suggestion.setWordWrap(True)
        avoided_col.addWidget(self.suggestion)
        form.addRow("Avoided (confirm)", avoided_col)
        for combo in (self.intended, self.outcome):
            combo.currentIndexChanged.connect(self.on_outcome_changed)
        return box

    # --- filling ------------------------------------------------------------------------------

    def start(self, context: TriageContext) -> None:
        """A new record for a call that has just been answered."""
        self._loading = True
        self.context, self.base, self.closed = context, None, False
        self.record_uuid, self.patient_id = uuidlib.uuid4(), uuidlib.uuid4()
        self._clear()
        self.problem.setText(context.presenting_problem)
        _select(self.intended, context.intended_action or "")
        for name, value in context.observations.items():
            if name in self.obs and value is not None:
                self.obs[name].setText(str(value))
        obs = context.observations
        if obs.get("on_oxygen") is not None:
            _select(self.oxygen, "oxygen" if obs["on_oxygen"] else "air")
        _select(self.acvpu, obs.get("consciousness") or "")
        _select(self.scale, str(obs.get("scale") or 1))
        for sign in context.soft_signs:
            if sign in self.signs:
                self.signs[sign].setChecked(True)
        self.nhs.setText(context.nhs_number or "")
        self.name.setText(context.patient_name or "")
        self.dob.setText(context.date_of_birth or "")
        self.reason.setVisible(False)
        self.sign_button.setText("&Sign off  (Ctrl+Shift+S)")
        self.sign_button.setAccessibleName("Sign off the triage record")
        self._loading = False
        self._set_enabled(True)
        self._refresh_news2(quiet=True)
        self.save_status.setText("New record: saved as a draft as you type")

    def load(self, record: TriageRecord) -> None:
        """A signed-off record, to amend (with a reason) as its next version."""
        self._loading = True
        self.base, self.closed = record, False
        self.context = TriageContext(site_id=record.site_id, setting=record.setting,
                                     nurse=record.nurse, call_id=record.call_id,
                                     requested_at=record.requested_at,
                                     answered_at=record.answered_at,
                                     ended_at=record.ended_at,
                                     specialist=record.specialist)
        self.record_uuid = record.uuid
        self._clear()
        if record.patient is not None:
            self.patient_id = record.patient.id
            self.nhs.setText(nhs_number.format(record.patient.nhs_number)
                             if record.patient.nhs_number else "")
            self.name.setText(record.patient.name)
            self.dob.setText(record.patient.date_of_birth.isoformat()
                             if record.patient.date_of_birth else "")
        self.problem.setText(record.presenting_problem)
        if record.observations is not None:
            o = record.observations
            for name in self.obs:
                value = getattr(o, name)
                self.obs[name].setText("" if value is None else _number(value))
            _select(self.oxygen, "" if o.on_oxygen is None else
                    ("oxygen" if o.on_oxygen else "air"))
            _select(self.acvpu, o.consciousness or "")
            _select(self.scale, str(o.scale))
        for sign in record.soft_signs:
            self.signs[sign].setChecked(True)
        for name, edit in self.sbard.items():
            edit.setPlainText(getattr(record.sbard, name))
        _select(self.intended, record.intended_action or "")
        _select(self.outcome, record.outcome or "")
        _select(self.referral, record.referral_target or "")
        for attr, check in self.avoided.items():
            check.setChecked(getattr(record.avoided, attr))
        self.reason.setVisible(record.status == "signed_off")
        self.reason.clear()
        self.sign_button.setText("&Sign amendment  (Ctrl+Shift+S)")
        self.sign_button.setAccessibleName("Sign the amendment")  # not "Sign off the triage…"
        self._loading = False
        self._set_enabled(True)
        self._refresh_news2(quiet=True)
        self.save_status.setText(f"Amending version {record.version}: nothing changes "
                                 "until you sign with a reason")

    def _clear(self) -> None:
        for edit in (self.nhs, self.name, self.dob, self.problem, *self.obs.values()):
            edit.clear()
        for combo in (self.oxygen, self.acvpu, self.scale, self.intended, self.outcome,
                      self.referral):
            combo.setCurrentIndex(0)
        for check in (*self.signs.values(), *self.avoided.values()):
            check.setChecked(False)
        for text in self.sbard.values():
            text.clear()
        self.sign_error.clear()

    def _set_enabled(self, on: bool) -> None:
        for widget in self.findChildren(QWidget):
            if isinstance(widget, QLineEdit | QPlainTextEdit | QComboBox | QCheckBox):
                widget.setEnabled(on)
        self.sign_button.setEnabled(on)

    # --- reading ------------------------------------------------------------------------------

    def observations(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The observations as typed, and the fields that cannot be used (with why)."""
        values: dict[str, Any] = {}
        bad: dict[str, str] = {}
        for name, edit in self.obs.items():
            text = edit.text().strip().replace(",", ".")
            if not text:
                continue
            try:
                number = float(text)
                one: dict[str, Any] = {name: number}
                news2.Observations(**one)  # the plausibility rule from records/
            except ValueError as exc:
                bad[name] = str(exc).split(": ", 1)[-1] if text else ""
                continue
            values[name] = number
        oxygen = self.oxygen.currentData()
        if oxygen:
            values["on_oxygen"] = oxygen == "oxygen"
        if self.acvpu.currentData():
            values["consciousness"] = self.acvpu.currentData()
        values["scale"] = int(self.scale.currentData())
        return values, bad

    def patient(self) -> Patient | None:
        digits = self.nhs.text().strip()
        valid = nhs_number.is_valid(digits)
        name = self.name.text().strip()
        if not name and not valid:
            return None
        dob: date | None = None
        try:
            dob = date.fromisoformat(self.dob.text().strip()) if self.dob.text().strip() else None
        except ValueError:
            dob = None
        return Patient(id=self.patient_id, nhs_number=nhs_number.normalise(digits)
                       if valid else None, name=name, date_of_birth=dob,
                       site_id=self.context.site_id if self.context else None)

    def record(self) -> TriageRecord:
        """The record as the form shows it now (a draft, or the amendment's next content)."""
        assert self.context is not None, "start() or load() first"
        ctx = self.context
        values, _bad = self.observations()
        observations = (ObservationSet(**values)
                        if any(k not in ("scale",) for k in values) else None)
        flags = {attr: check.isChecked() for attr, check in self.avoided.items()}
        claimed = any(flags.values())
        base = self.base
        avoided = AvoidedFlags(
            **flags,
            confirmed_by=(ctx.nurse if claimed else None),
            confirmed_at=((base.avoided.confirmed_at if base and base.avoided.confirmed_at
                           else utc_now()) if claimed else None))
        data: dict[str, Any] = {
            "uuid": self.record_uuid,
            "call_id": ctx.call_id,
            "requested_at": ctx.requested_at,
            "answered_at": ctx.answered_at,
            "ended_at": ctx.ended_at,
            "site_id": ctx.site_id,
            "setting": ctx.setting,
            "patient": self.patient(),
            "presenting_problem": self.problem.text(),
            "observations": observations,
            "soft_signs": tuple(c for c, check in self.signs.items() if check.isChecked()),
            "sbard": SbardNotes(**{n: e.toPlainText() for n, e in self.sbard.items()}),
            "intended_action": self.intended.currentData() or None,
            "outcome": self.outcome.currentData() or None,
            "referral_target": self.referral.currentData() or None,
            "nurse": ctx.nurse,
            "specialist": ctx.specialist,
            "avoided": avoided,
        }
        if base is not None:
            keep = base.model_dump(exclude={"news2", *data})
            return TriageRecord.model_validate({**keep, **data})
        return TriageRecord.model_validate(data)

    # --- live feedback ------------------------------------------------------------------------

    @Slot()
    def on_observation_changed(self) -> None:
        self._refresh_news2()

    def _refresh_news2(self, quiet: bool = False) -> None:
        values, bad = self.observations()
        self._bad = bad
        for name, edit in self.obs.items():
            _set_state(edit, "bad" if name in bad else "", bad.get(name, ""))
            edit.setAccessibleDescription(bad.get(name, ""))
        self.obs_error.setText("; ".join(f"{dict((n, lab) for n, lab, _u, _a in NUMERIC)[n]}: "
                                         f"{why}" for n, why in bad.items()))
        typed = {k: v for k, v in values.items() if k != "scale"}
        if not typed:
            self.score = None
            for label in self.subscores.values():
                label.setText("–")
            self.total.setText("NEWS2: no observations yet")
            self.band.setText("")
            self._band_said = None
            self.news2Changed.emit(None)
            return
        result = news2.score(news2.Observations(**values))
        self.score = result
        for name, label in self.subscores.items():
            value = result.subscores[name]
            label.setText("?" if value is None else str(value))
            label.setStyleSheet("color: #ff6b6b; font-weight: 700;" if value == 3 else "")
        colour = theme.BAND_COLOURS.get(result.band, "#d6dde6")
        if result.complete:
            self.total.setText(f"NEWS2 {result.total}")
        else:
            self.total.setText(f"NEWS2 partial: {result.total} so far")
        self.total.setStyleSheet(f"color: {colour};")
        missing = ", ".join(SUBSCORE_LABELS[m] for m in result.missing)
        band = result.band if result.complete else f"at least {result.band}"
        text = f"Band {band} — {result.response}"
        if result.single_three:
            text += " (a single parameter scores 3)"
        if not result.complete:
            text += f". Missing: {missing}. Partial scores are a floor, not a total."
        self.band.setText(text)
        self._say_band(result, quiet)
        self.news2Changed.emit(result)

    def _say_band(self, result: news2.News2Score, quiet: bool) -> None:
        """A change of band is announced as it happens (while the nurse types in another
        field, the figure changes out of sight): assertive when it reaches high, the
        emergency response."""
        band = (result.band, result.complete)
        if band == self._band_said:
            return
        self._band_said = band
        if not quiet and not self._loading:
            announce(self.band, f"{self.total.text()}. {self.band.text()}",
                     assertive=result.band == "high")

    @Slot()
    def on_nhs_changed(self) -> None:
        text = self.nhs.text().strip()
        digits = "".join(ch for ch in text if ch.isdigit())
        if not text:
            _set_state(self.nhs, "")
            self.nhs_status.setText("10 digits")
        elif nhs_number.is_valid(text):
            _set_state(self.nhs, "good")
            self.nhs_status.setText("✓ valid " + nhs_number.format(text))
        elif len(digits) < 10 and all(ch.isdigit() or ch in " -" for ch in text):
            _set_state(self.nhs, "")
            self.nhs_status.setText(f"{len(digits)} of 10 digits")
        else:
            _set_state(self.nhs, "bad", "Not a valid NHS number: check the digits")
            self.nhs_status.setText("✗ not a valid NHS number")
        self.nhs.setAccessibleDescription(self.nhs_status.text())

    @Slot()
    def on_outcome_changed(self) -> None:
        intended, outcome = self.intended.currentData(), self.outcome.currentData()
        if not intended or not outcome or self.context is None:
            self.suggestion.setText("")
            return
        flags = codes.suggested_avoided(intended, outcome, self.context.setting)
        names = [label for _a, flag, label in AVOIDED if flag in flags]
        self.suggestion.setText(("Suggested: " + ", ".join(names) + ". Tick to confirm.")
                                if names else "No avoided flag suggested.")

    # --- saving -------------------------------------------------------------------------------

    @Slot()
    def on_edited(self) -> None:
        if self._loading or self.closed or self.context is None:
            return
        self._edits += 1
        if self.base is not None:
            return  # an amendment is saved only when signed, with its reason
        self.save_status.setText("Editing…")
        self._debounce.start()

    @Slot()
    def on_save_due(self) -> None:
        if self.keeper is None or self.closed or self.base is not None:
            return
        try:
            record = self.record()
        except ValueError as exc:
            self.save_status.setText(f"Not saved: {_first_error(exc)}")
            return
        self._submitted = self._edits
        self.save_status.setText("Saving…")
        self.keeper.save_draft(record)

    def call_ended(self, at: datetime) -> None:
        """The call is over: its end time goes into the record (the avoided-admission log
        reports requested, answered and ended), saved now with whatever was typed."""
        if self.context is None or self.closed or self.base is not None:
            return
        if self.context.ended_at is None:
            self.context.ended_at = at
            self._edits += 1
            self._debounce.stop()
            self.on_save_due()

    @property
    def untouched(self) -> bool:
        """Nothing has been typed or saved in this record yet."""
        return self._edits == 0

    def flush(self) -> None:
        """Save now what the debounce timer would have saved shortly."""
        if self._debounce.isActive():
            self._debounce.stop()
            self.on_save_due()

    @Slot(object)
    def on_saved(self, record: TriageRecord) -> None:
        if record.uuid != self.record_uuid or self.closed:
            return
        if self._submitted == self._edits:
            self.save_status.setText(f"Saved {datetime.now():%H:%M:%S}")

    @Slot(str)
    def on_save_failed(self, message: str) -> None:
        if not self.closed:
            self.save_status.setText(message)
            announce(self.save_status, message, assertive=True)

    @Slot()
    def on_sign_off(self) -> None:
        if self.closed or self.context is None or self.keeper is None:
            return
        problems = []
        if not self.intended.currentData():
            problems.append("the caller's intended action")
        if not self.outcome.currentData():
            problems.append("the outcome")
        if self._bad:
            problems.append("the observations marked in red")
        amending = self.base is not None
        if amending and not self.reason.text().strip():
            problems.append("the reason for the amendment")
        if problems:
            self._sign_problem("Before signing, fill in " + ", ".join(problems) + ".")
            return
        try:
            record = self.record()
        except ValueError as exc:
            self._sign_problem(f"Cannot sign: {_first_error(exc)}")
            return
        self.sign_error.clear()
        self._debounce.stop()
        self.save_status.setText("Signing off…")
        if amending:
            self.keeper.amend(record, self.reason.text().strip())
        else:
            self.keeper.sign_off(record)

    def _sign_problem(self, text: str) -> None:
        self.sign_error.setText(text)
        announce(self.sign_error, text, assertive=True)

    @Slot(object)
    def on_keeper_signed_off(self, record: TriageRecord) -> None:
        if record.uuid != self.record_uuid or self.closed:
            return
        self.closed = True
        self._set_enabled(False)
        self.save_status.setText(f"Signed off (version {record.version}) "
                                 f"{datetime.now():%H:%M:%S}; queued to sync")
        self.signedOff.emit(record)


def _buddy(text: str, widget: QWidget) -> QLabel:
    """A label whose Alt+letter moves to ``widget`` (QFormLayout only does this for
    rows it labels itself)."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _select(combo: QComboBox, code: str) -> None:
    index = combo.findData(code)
    combo.setCurrentIndex(max(0, index))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _first_error(exc: ValueError) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return ".".join(str(x) for x in err["loc"]) + " is not valid"
    return "a field is not valid"


class _FormScroll(QScrollArea):
    """Scrolls the form up and down only, and is never narrower than the form plus its
    scroll bar: with no horizontal scroll bar, a narrower viewport would clip the form's
    right edge (fields and group frames cut off under the vertical scroll bar)."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        inner = self.widget()
        if inner is None:
            return hint
        width = (inner.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
                 + 2 * self.frameWidth())
        return QSize(max(hint.width(), width), hint.height())

