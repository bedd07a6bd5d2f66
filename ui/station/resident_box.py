"""Choosing the resident a call is about, or adding one to the site's list."""

from __future__ import annotations

from pydantic import ValidationError
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from records.schema import Patient
from ui.station.page import error_label, named
from ui.station.residents import ResidentList


class ResidentBox(QGroupBox):
    """The site's residents (from its local store) and a line to add a new one."""

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
        grid.addWidget(add, 4, 1, Qt.AlignmentFlag.AlignRight)
        self.resident_error = error_label()
        grid.addWidget(self.resident_error, 5, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        self.reload_residents()

    def chosen(self) -> Patient | None:
        person: Patient | None = self.resident.currentData()
        return person

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
