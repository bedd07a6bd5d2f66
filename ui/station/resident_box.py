"""Choosing the resident a call is about, adding one to the site's list, or opening their
details (what is normal for them, their escalation plan: ui/station/resident_form.py)."""

from __future__ import annotations

from pydantic import ValidationError
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from records.site_residents import LocalResident
from ui.station.page import error_label, named
from ui.station.resident_form import ResidentForm
from ui.station.residents import ResidentList


class ResidentBox(QGroupBox):
    """The site's residents (its copy of the hub's) and a line to add a new one.

    Signals:
        changed(): a resident was added or changed here (the window syncs with the hub).
    """

    changed = Signal()

    def __init__(self, residents: ResidentList, parent: QWidget | None = None) -> None:
        super().__init__("Resident", parent)
        self.residents = residents
        grid = QGridLayout(self)
        self.resident = QComboBox()
        who = QLabel("Who is the call about?")
        named(self.resident, "Resident", who)
        who.setWordWrap(True)
        grid.addWidget(who, 0, 0)
        grid.addWidget(self.resident, 0, 1)
        # Visible labels above the fields: a placeholder alone is gone once typing starts.
        self.new_name = QLineEdit()
        self.new_nhs = QLineEdit()
        self.new_dob = QLineEdit(placeholderText="YYYY-MM-DD")
        for i, (edit, text, name) in enumerate((
                (self.new_name, "New resident's name", "New resident's name"),
                (self.new_nhs, "NHS number (if known)", "New resident's NHS number (if known)"),
                (self.new_dob, "Date of birth", "New resident's date of birth, YYYY-MM-DD"))):
            label = QLabel(text)
            label.setWordWrap(True)
            named(edit, name, label)
            # A row each, label then field (a single column never runs off the side).
            grid.addWidget(label, 1 + i, 0)
            grid.addWidget(edit, 1 + i, 1)
        add = QPushButton("Add resident")
        add.clicked.connect(self.on_add_resident)
        self.details_button = QPushButton("Resident's details…")
        self.details_button.setAccessibleName(
            "Resident's details: usual observations, ReSPECT and DNACPR")
        self.details_button.clicked.connect(self.on_details)
        self.form: ResidentForm | None = None
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(add)  # Tab reaches Add right after the new resident's fields
        row.addWidget(self.details_button)
        grid.addLayout(row, 4, 1)
        self.resident_error = error_label()
        grid.addWidget(self.resident_error, 5, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        self.reload_residents()
        self.resident.currentIndexChanged.connect(self.on_chosen)

    def chosen(self) -> LocalResident | None:
        person: LocalResident | None = self.resident.currentData()
        return person

    def reload_residents(self) -> None:
        """The list again (after an edit or a sync), the chosen resident kept chosen."""
        was = self.chosen()
        self.resident.clear()
        self.resident.addItem("Not a listed resident", None)
        for person in self.residents.all():
            extra = f" ({person.date_of_birth:%d %b %Y})" if person.date_of_birth else ""
            self.resident.addItem(person.name + extra, person)
            if was is not None and person.id == was.id:
                self.resident.setCurrentIndex(self.resident.count() - 1)

    @Slot()
    def on_chosen(self) -> None:
        person = self.chosen()
        self.resident_error.setText(
            "Check this resident's details: another station changed them while this one "
            "was offline." if person is not None and person.refused is not None else "")

    @Slot()
    def on_details(self) -> None:
        """The chosen resident's details (or a new resident's, when none is chosen)."""
        self.form = ResidentForm(self.residents, self.chosen(), self)
        self.form.accepted.connect(self.on_form_saved)
        self.form.open()

    @Slot()
    def on_form_saved(self) -> None:
        assert self.form is not None and self.form.saved is not None
        saved = self.form.saved
        self.reload_residents()
        for i in range(self.resident.count()):
            data = self.resident.itemData(i)
            if data is not None and data.id == saved.id:
                self.resident.setCurrentIndex(i)
        self.changed.emit()

    @Slot()
    def on_add_resident(self) -> None:
        name = self.new_name.text().strip()
        if not name:
            self.resident_error.setText("Type the resident's name.")
            return
        try:
            saved = self.residents.add(name, self.new_nhs.text().strip() or None,
                                       self.new_dob.text().strip() or None)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0]).replace("_", " ")
            rule = exc.errors()[0]["msg"].removeprefix("Value error, ")
            self.resident_error.setText(f"Check the {field}: {rule}.")
            return
        except ValueError:
            self.resident_error.setText("This resident is already listed (same NHS number).")
            return
        self.resident_error.setText("")
        for edit in (self.new_name, self.new_nhs, self.new_dob):
            edit.clear()
        self.reload_residents()
        self.resident.setCurrentIndex(self.resident.findText(saved.name,
                                                             Qt.MatchFlag.MatchStartsWith))
        self.changed.emit()
