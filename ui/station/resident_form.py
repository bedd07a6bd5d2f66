"""The station's resident form: who they are, what is normal for them (RESTORE2), and their
treatment escalation plan (ReSPECT recommendations, DNACPR) as the home recorded it.

It writes the site's local copy (records/site_residents.py), which goes to the hub at the next
sync; the nurse on a call sees it there. None of the ReSPECT form's wording is reproduced:
the choices are records' data tables, in our own words.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import ValidationError
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
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

from hub.contract.residents import (
    DnacprDecision,
    ResidentDetails,
    RespectPlan,
    UsualObservations,
)
from records import codes, news2
from records.schema import ObservationSet
from records.site_residents import LocalResident, SiteResidents
from ui.station.observations import OBSERVATIONS, ObservationsBox
from ui.station.page import error_label, named, title

# The form's own words for each field of the contract, so a refusal names what the staff see.
FIELD_WORDS = {
    "name": "name", "nhs_number": "NHS number", "date_of_birth": "date of birth",
    "usual": "usual values", "taken_on": "date the usual values were taken",
    "taken_by": "who took the usual values", "news2_total": "usual NEWS2",
    "respect": "ReSPECT recommendations", "made_on": "date the plan was made",
    "made_by": "who made the plan", "reviewed_on": "date the plan was reviewed",
    "treatments": "treatments", "dnacpr": "DNACPR decision", "decided_on": "DNACPR date",
    "source": "where the DNACPR decision is recorded",
}


def _rows(box: QGroupBox, fields: list[tuple[str, QWidget, str]],
          first: QWidget | None = None) -> QGridLayout:
    """Label then field, a row each (under ``first``, if given); every field named by its
    label."""
    grid = QGridLayout(box)
    if first is not None:
        grid.addWidget(first, 0, 0, 1, 2)
    for i, (text, widget, name) in enumerate(fields, start=first is not None):
        label = QLabel(text)
        label.setWordWrap(True)
        named(widget, name, label)
        grid.addWidget(label, i, 0)
        grid.addWidget(widget, i, 1)
    grid.setColumnStretch(1, 1)
    return grid


def _day(edit: QLineEdit) -> str | None:
    return edit.text().strip() or None


def _coded(table: codes.CodeTable, none: str) -> QComboBox:
    combo = QComboBox()
    combo.addItem(none, None)
    for code in table.codes:
        combo.addItem(table[code].label, code)
    return combo


class ResidentForm(QDialog):
    """Add or change one resident; saving commits it to the station's store at once."""

    def __init__(self, residents: SiteResidents, resident: LocalResident | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.residents = residents
        self.resident_id: UUID | None = resident.id if resident else None
        self.saved: LocalResident | None = None
        self.setWindowTitle("Resident's details")
        self.setAccessibleName("Resident's details")
        self.resize(900, 900)
        inner = QWidget()
        # The kiosk's page colour under the scrolled form too (a scroll area's page takes the
        # application's palette otherwise, dark where a desk's theme was applied).
        inner.setObjectName("residentPage")
        self.setStyleSheet("QWidget#residentPage { background: #f5f6f8; }")
        col = QVBoxLayout(inner)
        col.addWidget(title("Resident's details"))
        hint = QLabel("What the home knows about this resident. The hub's nurse sees it on "
                      "every call about them.")
        hint.setWordWrap(True)
        col.addWidget(hint)

        who = QGroupBox("Who they are")
        self.name, self.nhs, self.dob = QLineEdit(), QLineEdit(), QLineEdit()
        self.dob.setPlaceholderText("YYYY-MM-DD")
        _rows(who, [("Name", self.name, "Resident's name"),
                    ("NHS number (if known)", self.nhs, "NHS number (if known)"),
                    ("Date of birth", self.dob, "Date of birth, YYYY-MM-DD")])
        col.addWidget(who)

        # RESTORE2: the resident's usual values when well, with when and by whom.
        self.usual = ObservationsBox()
        self.usual.setTitle("Usual observations when well (normal for them)")
        for name, label, _ in OBSERVATIONS:
            self.usual.obs[name].setAccessibleName(f"Usual {label}")
        for combo, label in ((self.usual.oxygen, "Usual air or oxygen"),
                             (self.usual.acvpu, "Usual alert or confused (ACVPU)"),
                             (self.usual.scale, "SpO2 scale for the usual values")):
            combo.setAccessibleName(label)
        col.addWidget(self.usual)
        usual_when = QGroupBox("When the usual values were taken")
        self.usual_news2, self.taken_on, self.taken_by = QLineEdit(), QLineEdit(), QLineEdit()
        self.usual_news2.setPlaceholderText("only if no observations above")
        self.taken_on.setPlaceholderText("YYYY-MM-DD")
        _rows(usual_when, [
            ("Usual NEWS2, if only the score is known", self.usual_news2,
             "Usual NEWS2, if only the score is known"),
            ("Taken on", self.taken_on, "Usual values taken on, YYYY-MM-DD"),
            ("Taken by", self.taken_by, "Usual values taken by")])
        col.addWidget(usual_when)

        respect = QGroupBox("ReSPECT recommendations (as written on the resident's plan)")
        self.focus = _coded(codes.respect_focus(), "Not recorded")
        self.cpr = _coded(codes.cpr_recommendations(), "Not recorded")
        self.treatments = QPlainTextEdit()
        self.treatments.setTabChangesFocus(True)  # Tab leaves the box, as in every field
        self.treatments.setFixedHeight(self.fontMetrics().height() * 4)
        self.made_on, self.made_by, self.reviewed_on = QLineEdit(), QLineEdit(), QLineEdit()
        for edit in (self.made_on, self.reviewed_on):
            edit.setPlaceholderText("YYYY-MM-DD")
        _rows(respect, [
            ("Focus of care", self.focus, "ReSPECT focus of care"),
            ("CPR", self.cpr, "ReSPECT CPR recommendation"),
            ("Treatments that may or may not be wanted", self.treatments,
             "ReSPECT treatments that may or may not be wanted"),
            ("Plan made on", self.made_on, "ReSPECT plan made on, YYYY-MM-DD"),
            ("Plan made by", self.made_by, "ReSPECT plan made by"),
            ("Reviewed on", self.reviewed_on, "ReSPECT plan reviewed on, YYYY-MM-DD")])
        col.addWidget(respect)

        dnacpr = QGroupBox("DNACPR decision (with or without a ReSPECT plan)")
        self.dnacpr = QCheckBox("A DNACPR decision is in place")
        self.dnacpr.setAccessibleName("A DNACPR decision is in place")
        self.decided_on, self.dnacpr_source = QLineEdit(), QLineEdit()
        self.decided_on.setPlaceholderText("YYYY-MM-DD")
        _rows(dnacpr, [("Decided on", self.decided_on, "DNACPR decided on, YYYY-MM-DD"),
                       ("Recorded on", self.dnacpr_source,
                        "Where the DNACPR decision is recorded")], first=self.dnacpr)
        col.addWidget(dnacpr)

        if resident is not None and resident.refused is not None:
            # Changed at another station while this one was offline: the hub's version is
            # shown, and the change made here is kept to be taken up again.
            refused = resident.refused
            note = QLabel("Another station changed this resident while this one was "
                          "offline, so the change made here was not sent. The hub's "
                          "version is shown.")
            note.setWordWrap(True)
            note.setObjectName("error")
            mine = QPushButton("Show the change made here")
            mine.clicked.connect(lambda: self.load(refused))
            col.insertWidget(2, note)
            col.insertWidget(3, mine)
        self.error = error_label()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(inner)
        self.save_button = QPushButton("Save resident")
        self.save_button.setDefault(True)
        cancel = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addWidget(self.error, 1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        outer = QVBoxLayout(self)
        outer.addWidget(scroll, 1)
        outer.addLayout(buttons)
        self.save_button.clicked.connect(self.on_save)
        cancel.clicked.connect(self.reject)
        if resident is not None:
            self.load(resident.details)
        # A refusal stays until the staff change something: then it may no longer hold.
        for edit in inner.findChildren(QLineEdit):
            edit.textChanged.connect(self.error.clear)
        self.page_scroll = scroll

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.name.setFocus(Qt.FocusReason.OtherFocusReason)  # where a new form starts

    def load(self, d: ResidentDetails) -> None:
        self.name.setText(d.name)
        self.nhs.setText(d.nhs_number or "")
        self.dob.setText(d.date_of_birth.isoformat() if d.date_of_birth else "")
        if d.usual is not None:
            obs = d.usual.observations
            if obs is not None:
                for name, edit in self.usual.obs.items():
                    value = getattr(obs, name)
                    edit.setText("" if value is None else f"{value:g}")
                self.usual.oxygen.setCurrentIndex(self.usual.oxygen.findData(obs.on_oxygen))
                self.usual.acvpu.setCurrentIndex(max(0, self.usual.acvpu.findData(
                    obs.consciousness)))
                self.usual.scale.setCurrentIndex(self.usual.scale.findData(obs.scale))
            else:
                self.usual_news2.setText(str(d.usual.news2_total))
            self.taken_on.setText(d.usual.taken_on.isoformat())
            self.taken_by.setText(d.usual.taken_by)
        if d.respect is not None:
            self.focus.setCurrentIndex(max(0, self.focus.findData(d.respect.focus)))
            self.cpr.setCurrentIndex(max(0, self.cpr.findData(d.respect.cpr)))
            self.treatments.setPlainText(d.respect.treatments)
            self.made_on.setText(d.respect.made_on.isoformat())
            self.made_by.setText(d.respect.made_by)
            self.reviewed_on.setText(d.respect.reviewed_on.isoformat()
                                     if d.respect.reviewed_on else "")
        if d.dnacpr is not None:
            self.dnacpr.setChecked(True)
            self.decided_on.setText(d.dnacpr.decided_on.isoformat())
            self.dnacpr_source.setText(d.dnacpr.source)

    def details(self) -> ResidentDetails:
        """The form as the contract's ResidentDetails (a ValidationError names a field)."""
        values = self.usual.observation_values()  # news2.ObservationError names the field
        usual = None
        if set(values) - {"scale"} or self.usual_news2.text().strip() or _day(self.taken_on):
            score = self.usual_news2.text().strip()
            usual = UsualObservations.model_validate({
                "observations": ObservationSet(**values) if set(values) - {"scale"} else None,
                "news2_total": int(score) if score.isdigit() else score or None,
                "taken_on": _day(self.taken_on), "taken_by": self.taken_by.text().strip()})
        respect = None
        if (self.focus.currentData() or self.cpr.currentData()
                or self.treatments.toPlainText().strip() or _day(self.made_on)):
            respect = RespectPlan.model_validate({
                "focus": self.focus.currentData(), "cpr": self.cpr.currentData(),
                "treatments": self.treatments.toPlainText().strip(),
                "made_on": _day(self.made_on), "made_by": self.made_by.text().strip(),
                "reviewed_on": _day(self.reviewed_on)})
        dnacpr = None
        if self.dnacpr.isChecked():
            dnacpr = DnacprDecision.model_validate({
                "decided_on": _day(self.decided_on),
                "source": self.dnacpr_source.text().strip()})
        return ResidentDetails.model_validate({
            "name": self.name.text().strip(), "nhs_number": self.nhs.text().strip() or None,
            "date_of_birth": _day(self.dob), "usual": usual, "respect": respect,
            "dnacpr": dnacpr})

    @Slot()
    def on_save(self) -> None:
        try:
            details = self.details()
            self.saved = self.residents.save(details, self.resident_id)
        except ValidationError as exc:
            # The field and the rule, never the value typed (it may be a name or a number).
            where = [str(p) for p in exc.errors()[0]["loc"] if isinstance(p, str)]
            field = FIELD_WORDS.get(where[-1] if where else "", "details")
            first = exc.errors()[0]
            rule = ("fill it in" if first["type"] in ("missing", "date_type", "string_too_short")
                    else first["msg"].removeprefix("Value error, "))
            self.error.setText(f"Check the {field}: {rule}.")
            return
        except news2.ObservationError as exc:
            self.error.setText(f"Check the usual {exc.field.replace('_', ' ')}: "
                               f"{str(exc).split(': ', 1)[-1]}.")
            return
        except ValueError as exc:
            self.error.setText(f"Not saved: {exc}.")
            return
        self.accept()
