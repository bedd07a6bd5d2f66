"""The station's home page: the site's name, the hub connection, "Call the hub", and a
prison's booked clinics for today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from hub.contract.identity import Principal, SiteKind
from hub.contract.rest import BookingOut as Clinic
from ui.station.page import Page, error_label, sentence, title
from ui.station.talk import status_label

CLINIC_JOIN_EARLY = timedelta(minutes=10)


class HomePage(Page):
    """Where the station waits between calls.

    Signals:
        callRequested(): "Call the hub" was pressed.
        joinRequested(Clinic): "Join" was pressed on one of today's booked clinics.
    """

    callRequested = Signal()
    joinRequested = Signal(Clinic)

    def __init__(self, site: Principal, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(40, 30, 40, 30)
        col.addWidget(title(site.name))
        self.status = QLabel("Connecting to the hub…")
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        col.addWidget(self.status)
        self.nobody = status_label()  # nobody can answer now: what to do instead
        col.addWidget(self.nobody)
        col.addStretch(1)
        self.call_button = QPushButton("Call the hub")
        self.call_button.setObjectName("call")
        self.call_button.clicked.connect(self.callRequested)
        self.landing = self.call_button
        col.addWidget(self.call_button)
        self.home_error = error_label()
        col.addWidget(self.home_error)
        self.clinic_box = QGroupBox("Today's booked clinics")
        self.clinic_rows = QVBoxLayout(self.clinic_box)
        self.clinic_box.setVisible(site.role is SiteKind.PRISON)
        col.addWidget(self.clinic_box)
        col.addStretch(1)

    def show_connection(self, up: bool) -> None:
        if up:
            self.status.setText("Connected to the hub. Nurses answer day and night.")
            self.home_error.setText("")
        else:
            self.status.setText("Not connected to the hub – trying again. In an emergency "
                                "call 999.")

    def show_problem(self, text: str) -> None:
        self.home_error.setText(sentence(text))

    def show_clinics(self, clinics: list[Clinic]) -> None:
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
            at = f"{clinic.starts_at.astimezone():%H:%M}"
            what = f"{clinic.title} with {clinic.specialist_name}{who}"
            text = QLabel(f"<b>{at}</b> {escape(what)}")
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
            join.clicked.connect(lambda _=False, c=clinic: self.joinRequested.emit(c))
            # Every row's button reads "Join": its name says which clinic it joins.
            join.setAccessibleName(f"{join.text()}: {at} {what}")
            line.addWidget(text, 1)
            line.addWidget(join)
            self.clinic_rows.addWidget(row)
