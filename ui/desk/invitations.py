"""Gold Line invitations from the desk (nurses): invite a patient to call from home, see who
is invited, revoke an invitation. Everything goes through the hub's REST API
(hub/routes/invitations.py); the code is shown once, as the hub answers it, and never kept.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Slot
from PySide6.QtGui import QHideEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from hub.client import HubClient, HubError
from hub.contract.rest import InvitationOut, IssuedInvitationOut
from ui.announce import announce
from ui.desk.admin import _button, _fill, _table
from ui.desk.work import Workers
from ui.heading import heading
from ui.labels import status_label

__all__ = ["InvitationsView"]


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%d %b %Y %H:%M") if at is not None else "never"


class InvitationsView(QWidget):
    """Issue, list and revoke Gold Line invitations."""

    def __init__(self, hub: HubClient, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub, self.workers = hub, workers
        self.rows: list[InvitationOut] = []
        title = heading(QLabel("Gold Line invitations"))
        title.setProperty("role", "big")
        self.name = QLineEdit()
        self.name.setAccessibleName("Patient's name")
        self.nhs = QLineEdit()
        self.nhs.setAccessibleName("NHS number (optional)")
        self.nhs.setPlaceholderText("e.g. 943 476 5919")
        self.dob = QLineEdit()
        self.dob.setAccessibleName("Date of birth (optional)")
        self.dob.setPlaceholderText("YYYY-MM-DD")
        self.days = QSpinBox()
        self.days.setRange(1, 90)
        self.days.setValue(30)
        self.days.setSuffix(" days")
        self.days.setAccessibleName("Valid for, in days")
        self.issue_button = _button("&Invite", "Issue the invitation", "primary")
        form = QFormLayout()
        form.addRow("Patient's &name:", self.name)
        form.addRow("NHS nu&mber:", self.nhs)
        form.addRow("Date of bir&th:", self.dob)
        form.addRow("&Valid for:", self.days)
        form.addRow("", self.issue_button)
        issue_box = QGroupBox("Invite a patient")
        issue_box.setLayout(form)
        self.code = QLineEdit()
        self.code.setReadOnly(True)
        self.code.setAccessibleName("The invitation's code and link, shown once")
        self.code.setVisible(False)
        self.status = status_label("What happened")
        self.status.setWordWrap(True)
        self.table = _table("Invitations", ("Patient", "NHS number", "Issued", "Expires",
                                            "Status", "Last used"))
        self.revoke_button = _button("&Revoke", "Revoke the selected invitation", "danger")
        self.refresh_button = _button("Re&fresh", "Refresh the invitations")
        buttons = QHBoxLayout()
        buttons.addWidget(self.revoke_button)
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        col = QVBoxLayout(self)
        col.addWidget(title)
        col.addWidget(issue_box)
        col.addWidget(self.code)
        col.addWidget(self.status)
        col.addWidget(self.table, 1)
        col.addLayout(buttons)
        self.issue_button.clicked.connect(self.issue)
        self.revoke_button.clicked.connect(self.revoke)
        self.refresh_button.clicked.connect(self.refresh)
        self.name.returnPressed.connect(self.issue)

    def _say(self, text: str, urgent: bool = False) -> None:
        self.status.setText(text)
        announce(self.status, text, assertive=urgent)

    def _failed(self, exc: BaseException) -> None:
        self._say(str(exc) if isinstance(exc, HubError) else
                  f"The hub could not be asked ({type(exc).__name__}).", urgent=True)

    @Slot()
    def refresh(self) -> None:
        self.workers.run(self.hub.invitations, on_done=self._show, on_failed=self._failed)

    def _show(self, rows: list[InvitationOut]) -> None:
        self.rows = rows
        now = datetime.now().astimezone()
        _fill(self.table, [(
            inv.patient.name, inv.patient.nhs_number or "", _when(inv.issued_at),
            _when(inv.expires_at),
            "revoked" if inv.revoked else ("expired" if inv.expires_at <= now else "active"),
            _when(inv.last_used_at)) for inv in rows])

    @Slot()
    def issue(self) -> None:
        patient: dict[str, str] = {"name": self.name.text().strip()}
        if self.nhs.text().strip():
            patient["nhs_number"] = self.nhs.text().replace(" ", "")
        if self.dob.text().strip():
            patient["date_of_birth"] = self.dob.text().strip()
        if not patient["name"]:
            self._say("Give the patient's name first.", urgent=True)
            self.name.setFocus()
            return
        days = self.days.value()

        def run() -> IssuedInvitationOut:
            return self.hub.invite(patient=patient, valid_days=days)

        self.workers.run(run, on_done=self._issued, on_failed=self._failed)

    def _issued(self, issued: IssuedInvitationOut) -> None:
        self.code.setText(f"Code {issued.code} · link {self.hub.url}{issued.link}")
        self.code.setVisible(True)
        self.code.setFocus()
        self.code.selectAll()
        for edit in (self.name, self.nhs, self.dob):
            edit.clear()
        self._say(f"Invitation issued for {issued.patient.name}: give them the code (shown "
                  "once) or the link.")
        self.refresh()

    def selected(self) -> InvitationOut | None:
        row = self.table.currentRow()
        return self.rows[row] if 0 <= row < len(self.rows) else None

    @Slot()
    def revoke(self) -> None:
        inv = self.selected()
        if inv is None:
            self._say("Choose the invitation to revoke first.", urgent=True)
            return

        def done(_result: object) -> None:
            self._say(f"Invitation of {inv.patient.name} revoked: the code and the page's "
                      "sessions stop working at once.")
            self.refresh()

        self.workers.run(self.hub.revoke_invitation, inv.id, on_done=done,
                         on_failed=self._failed)

    def hideEvent(self, event: QHideEvent) -> None:
        self.code.clear()  # the code is not kept on screen once the page is left
        self.code.setVisible(False)
        super().hideEvent(event)
