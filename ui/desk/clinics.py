"""Prison clinics from the desk: a day's bookings, book one, cancel one (nurse, specialist,
administrator: hub/routes/clinics.py), through the hub's REST API. An administrator books and
cancels but is not shown the patient (the hub leaves it out of its answers).

:func:`add_hub_menu` puts these screens, and the Gold Line invitations for a nurse, in the
desk's "Hub" menu, each in a window of its own, for every role that may use them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QDate, QDateTime, QTime, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from hub.client import HubClient, HubError
from hub.contract.identity import StaffRole
from hub.contract.rest import BookingOut, ClinicChoicesOut, ClinicDayQuery
from ui.announce import announce
from ui.desk.admin import _button, _fill, _table
from ui.desk.invitations import InvitationsView
from ui.desk.work import Workers
from ui.heading import heading
from ui.labels import status_label

__all__ = ["ClinicsView", "add_hub_menu"]

BOOKERS = (StaffRole.NURSE, StaffRole.SPECIALIST, StaffRole.ADMIN)


def _status(b: BookingOut) -> str:
    if b.cancelled:
        return "cancelled"
    return "called" if b.call_id else "booked"


def _buddy(text: str, field: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(field)
    return label


class ClinicsView(QWidget):
    """One UTC day's clinics, a booking form and cancelling."""

    def __init__(self, hub: HubClient, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub, self.workers = hub, workers
        self.rows: list[BookingOut] = []
        title = heading(QLabel("Prison clinics"))
        title.setProperty("role", "big")
        self.day = QDateEdit(QDate.currentDate())
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("yyyy-MM-dd")
        self.day.setAccessibleName("Day of the clinics (UTC)")
        self.show_button = _button("&Show day", "Show the clinics of the day")
        day_row = QHBoxLayout()
        day_row.addWidget(_buddy("&Day:", self.day))
        day_row.addWidget(self.day)
        day_row.addWidget(self.show_button)
        day_row.addStretch(1)
        self.table = _table("Clinics of the day", ("Time", "Prison", "Specialist", "Clinic",
                                                   "Patient", "Minutes", "Status"))
        self.cancel_button = _button("&Cancel clinic", "Cancel the selected clinic", "danger")

        self.prison = QComboBox()
        self.prison.setAccessibleName("Prison")
        self.specialist = QComboBox()
        self.specialist.setAccessibleName("Specialist")
        self.starts = QDateTimeEdit(QDateTime(QDate.currentDate(), QTime(10, 0)))
        self.starts.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.starts.setAccessibleName("Starts at (local time)")
        self.minutes = QSpinBox()
        self.minutes.setRange(5, 240)
        self.minutes.setValue(20)
        self.minutes.setSuffix(" min")
        self.minutes.setAccessibleName("Length in minutes")
        self.what = QLineEdit()
        self.what.setAccessibleName("Clinic title")
        self.what.setPlaceholderText("e.g. Dermatology review")
        self.patient = QLineEdit()
        self.patient.setAccessibleName("Patient's name (optional)")
        self.book_button = _button("&Book", "Book the clinic", "primary")
        form = QFormLayout()
        form.addRow("&Prison:", self.prison)
        form.addRow("Spe&cialist:", self.specialist)
        form.addRow("S&tarts at:", self.starts)
        form.addRow("&Length:", self.minutes)
        form.addRow("Cli&nic:", self.what)
        form.addRow("Pat&ient:", self.patient)
        form.addRow("", self.book_button)
        book_box = QGroupBox("Book a clinic")
        book_box.setLayout(form)
        self.status = status_label("What happened")
        self.status.setWordWrap(True)
        col = QVBoxLayout(self)
        col.addWidget(title)
        col.addLayout(day_row)
        col.addWidget(self.table, 1)
        cancel_row = QHBoxLayout()
        cancel_row.addWidget(self.cancel_button)
        cancel_row.addStretch(1)
        col.addLayout(cancel_row)
        col.addWidget(book_box)
        col.addWidget(self.status)
        self.show_button.clicked.connect(self.refresh)
        self.cancel_button.clicked.connect(self.cancel)
        self.book_button.clicked.connect(self.book)

    def _say(self, text: str, urgent: bool = False) -> None:
        self.status.setText(text)
        announce(self.status, text, assertive=urgent)

    def _failed(self, exc: BaseException) -> None:
        self._say(str(exc) if isinstance(exc, HubError) else
                  f"The hub could not be asked ({type(exc).__name__}).", urgent=True)

    def load(self) -> None:
        """The choices for the booking form, then the day's clinics."""
        self.workers.run(self.hub.clinic_choices, on_done=self._choices,
                         on_failed=self._failed)
        self.refresh()

    def _choices(self, choices: ClinicChoicesOut) -> None:
        self.prison.clear()
        for site in choices.prisons:
            self.prison.addItem(site.name, site.id)
        self.specialist.clear()
        for who in choices.specialists:
            self.specialist.addItem(who.name, who.id)

    @Slot()
    def refresh(self) -> None:
        day = self.day.date().toPython()
        self.workers.run(self.hub.clinic_day, ClinicDayQuery(day=day), on_done=self._show,
                         on_failed=self._failed)

    def _show(self, rows: list[BookingOut]) -> None:
        self.rows = rows
        _fill(self.table, [(
            b.starts_at.astimezone().strftime("%H:%M"), b.site_name, b.specialist_name,
            b.title, b.patient.name or "" if b.patient else "", str(b.minutes), _status(b))
            for b in rows])
        if not rows:
            self._say("No clinics booked on this day.")

    @Slot()
    def book(self) -> None:
        if self.prison.currentData() is None or self.specialist.currentData() is None:
            self._say("Choose a prison and a specialist first.", urgent=True)
            return
        if not self.what.text().strip():
            self._say("Give the clinic a title first.", urgent=True)
            self.what.setFocus()
            return
        local: datetime = self.starts.dateTime().toPython()  # type: ignore[assignment]
        starts = local.astimezone().astimezone(UTC)
        values: dict[str, object] = {
            "site_id": self.prison.currentData(), "specialist_id": self.specialist.currentData(),
            "starts_at": starts, "minutes": self.minutes.value(),
            "title": self.what.text().strip()}
        if self.patient.text().strip():
            values["patient"] = {"name": self.patient.text().strip()}

        def done(b: BookingOut) -> None:
            self.what.clear()
            self.patient.clear()
            self.day.setDate(QDate(starts.astimezone().date()))
            self._say(f"Booked: {b.title} with {b.specialist_name} at {b.site_name}, "
                      f"{b.starts_at.astimezone():%d %b %H:%M}.")
            self.refresh()

        self.workers.run(lambda: self.hub.book_clinic(**values), on_done=done,
                         on_failed=self._failed)

    def selected(self) -> BookingOut | None:
        row = self.table.currentRow()
        return self.rows[row] if 0 <= row < len(self.rows) else None

    @Slot()
    def cancel(self) -> None:
        b = self.selected()
        if b is None or b.cancelled:
            self._say("Choose a booked clinic to cancel first.", urgent=True)
            return

        def done(_r: object) -> None:
            self._say(f"Cancelled: {b.title} at {b.site_name}.")
            self.refresh()

        self.workers.run(self.hub.cancel_clinic, b.id, on_done=done, on_failed=self._failed)


def _window(title: str, view: QWidget, parent: QWidget) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setAccessibleName(title)
    dialog.resize(900, 720)
    QVBoxLayout(dialog).addWidget(view)
    return dialog


def add_hub_menu(window: QMainWindow, client: HubClient, workers: Workers,
                 role: StaffRole) -> dict[str, QDialog]:
    """Hub > Gold Line invitations… (nurses), Prison clinics… (nurse, specialist, admin).
    Returns the windows by name, made as they are first opened (tests reach them)."""
    opened: dict[str, QDialog] = {}
    if role not in BOOKERS:
        return opened
    menu = window.menuBar().addMenu("Hu&b")  # Alt+B: Alt+H is the History tab

    def show(name: str) -> None:
        if name not in opened:
            if name == "clinics":
                clinics = ClinicsView(client, workers)
                opened[name] = _window("Prison clinics", clinics, window)
                clinics.load()
            else:
                invitations = InvitationsView(client, workers)
                opened[name] = _window("Gold Line invitations", invitations, window)
                invitations.refresh()
        opened[name].show()

    if role is StaffRole.NURSE:
        menu.addAction("&Gold Line invitations…").triggered.connect(
            lambda: show("invitations"))
    menu.addAction("Prison &clinics…").triggered.connect(lambda: show("clinics"))
    return opened

