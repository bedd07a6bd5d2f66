"""The administrator's screen: staff (disable, re-enable, reset a password), sites (a new
credential, retire) and the recent changes to accounts, all through the hub's REST API.

Every change takes effect at the hub at once (the account's sessions end); this screen only
asks, confirms what cannot be undone, and shows the hub's answer. A new site credential is
shown once, in a dialog the administrator copies it from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from hub.client import HubClient, HubError
from hub.contract.identity import Principal
from hub.contract.rest import AccountEventOut, NewSiteOut, SiteOut, StaffOut
from ui.announce import announce
from ui.desk.password import PasswordDialog, change_own_password
from ui.desk.work import Workers
from ui.heading import heading
from ui.labels import status_label

__all__ = ["AdminView", "CredentialDialog"]

KIND_LABELS = {"care_home": "Care home", "prison": "Prison", "home": "Home (Gold Line)"}
ACTION_LABELS = {"enrol": "enrolled", "disable": "disabled", "enable": "re-enabled",
                 "reset_password": "reset the password of",
                 "change_password": "changed their own password", "rotate_credential":
                 "gave a new credential to", "retire": "retired"}  # fmt: skip


def _table(name: str, columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setAccessibleName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setTabKeyNavigation(False)  # Tab leaves the table; the arrows move inside it
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))


def _button(text: str, name: str, kind: str | None = None) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name)
    if kind:
        button.setProperty("kind", kind)
    return button


class CredentialDialog(QDialog):
    """A site's new credential, shown this once, selectable to copy."""

    def __init__(self, answer: NewSiteOut, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New site credential")
        self.setAccessibleName("New site credential")
        self.setMinimumWidth(620)
        note = QLabel(f"The new credential for {answer.site.name}. It is shown this once: "
                      "give it to the site as you would a password (read it out on the "
                      "phone, not by email) and enter it in the site station. The old one "
                      "no longer works.")
        note.setWordWrap(True)
        self.credential = QLineEdit(answer.credential)
        self.credential.setReadOnly(True)
        self.credential.setAccessibleName("Site credential")
        self.credential.selectAll()
        self.close_button = _button("&Done", "Done", "primary")
        self.close_button.clicked.connect(self.accept)
        col = QVBoxLayout(self)
        col.addWidget(note)
        col.addWidget(self.credential)
        col.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignRight)

    def done(self, result: int) -> None:
        self.credential.clear()  # not kept in the widget once the dialog is closed
        super().done(result)


class AdminView(QWidget):
    """Signals:
        changed(str): a line saying what the hub did (for the status bar and the screen).
    """

    changed = Signal(str)

    def __init__(self, hub: HubClient, workers: Workers, me: Principal,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub, self.workers, self.me = hub, workers, me
        self.staff: list[StaffOut] = []
        self.sites: list[SiteOut] = []
        self.dialog: QDialog | QMessageBox | None = None  # the one open (tests reach it)

        title = heading(QLabel("Accounts"))
        title.setProperty("role", "big")
        who = QLabel(f"Signed in as {me.name} (administrator). Every change takes effect at "
                     "once: the account's open sessions end.")
        who.setWordWrap(True)
        who.setProperty("role", "muted")
        # Read as what it says (a fixed name hid it), and said as it changes: _say.
        self.status = status_label("What happened")
        self.status.setWordWrap(True)

        self.staff_table = _table("Staff", ("User name", "Name", "Role", "Status"))
        self.disable_button = _button("&Disable", "Disable the selected account", "danger")
        self.enable_button = _button("Re-&enable", "Re-enable the selected account")
        self.reset_button = _button("&Reset password…", "Reset the selected account's password")
        staff_box = self._box("Staff", self.staff_table,
                              (self.disable_button, self.enable_button, self.reset_button))

        self.site_table = _table("Sites", ("Name", "Kind", "Status"))
        self.rotate_button = _button("New &credential…", "Give the selected site a new "
                                     "credential")
        self.retire_button = _button("Re&tire…", "Retire the selected site", "danger")
        site_box = self._box("Sites", self.site_table, (self.rotate_button, self.retire_button))

        self.events_table = _table("Recent changes to accounts", ("When (UTC)", "Who", "Did",
                                                                  "To"))
        self.events_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.refresh_button = _button("Re&fresh", "Refresh the lists")
        self.own_password_button = _button("Change &my password…", "Change my password")
        events_box = self._box("Recent changes", self.events_table,
                               (self.refresh_button, self.own_password_button))

        lists = QHBoxLayout()
        lists.addWidget(staff_box, 3)
        lists.addWidget(site_box, 2)
        col = QVBoxLayout(self)
        col.addWidget(title)
        col.addWidget(who)
        col.addWidget(self.status)
        col.addLayout(lists, 3)
        col.addWidget(events_box, 2)

        self.disable_button.clicked.connect(self.on_disable)
        self.enable_button.clicked.connect(self.on_enable)
        self.reset_button.clicked.connect(self.on_reset)
        self.rotate_button.clicked.connect(self.on_rotate)
        self.retire_button.clicked.connect(self.on_retire)
        self.refresh_button.clicked.connect(self.refresh)
        self.own_password_button.clicked.connect(self.on_own_password)
        self.staff_table.itemSelectionChanged.connect(self._update_buttons)
        self.site_table.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    @staticmethod
    def _box(title: str, table: QTableWidget, buttons: tuple[QPushButton, ...]) -> QGroupBox:
        box = QGroupBox(title)
        row = QHBoxLayout()
        for button in buttons:
            row.addWidget(button)
        row.addStretch(1)
        col = QVBoxLayout(box)
        col.addWidget(table, 1)
        col.addLayout(row)
        return box

    # --- loading ---------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        def load() -> tuple[list[StaffOut], list[SiteOut], list[AccountEventOut]]:
            return self.hub.staff_accounts(), self.hub.site_accounts(), \
                self.hub.account_events(50)

        self.workers.run(load, on_done=self._show, on_failed=self._failed)

    def _show(self, lists: tuple[list[StaffOut], list[SiteOut], list[AccountEventOut]]) -> None:
        self.staff, self.sites, events = lists
        _fill(self.staff_table, [
            (s.username, s.name, s.role.value, "active" if s.active else "DISABLED")
            for s in self.staff])
        _fill(self.site_table, [
            (s.name, KIND_LABELS.get(s.kind.value, s.kind.value),
             "retired" if s.retired_at else "active" if s.active else "disabled")
            for s in self.sites])
        _fill(self.events_table, [
            (e.at.strftime("%Y-%m-%d %H:%M"), e.actor_name,
             ACTION_LABELS.get(e.action, e.action), e.subject_name) for e in events])
        self._update_buttons()

    def _failed(self, exc: BaseException) -> None:
        self._say(str(exc) if isinstance(exc, HubError)
                  else f"That did not work ({type(exc).__name__}).", assertive=True)

    def _say(self, line: str, assertive: bool = False) -> None:
        """What the hub did (or refused), on the screen and to a screen reader: focus stays
        on the list or button the administrator was using."""
        self.status.setText(line)
        announce(self.status, line, assertive=assertive)

    def _selected_staff(self) -> StaffOut | None:
        row = self.staff_table.currentRow()
        return self.staff[row] if 0 <= row < len(self.staff) and \
            self.staff_table.selectionModel().hasSelection() else None

    def _selected_site(self) -> SiteOut | None:
        row = self.site_table.currentRow()
        return self.sites[row] if 0 <= row < len(self.sites) and \
            self.site_table.selectionModel().hasSelection() else None

    @Slot()
    def _update_buttons(self) -> None:
        staff, site = self._selected_staff(), self._selected_site()
        mine = staff is not None and staff.id == self.me.id
        self.disable_button.setEnabled(staff is not None and staff.active and not mine)
        self.enable_button.setEnabled(staff is not None and not staff.active)
        self.reset_button.setEnabled(staff is not None and not mine)
        live = site is not None and site.retired_at is None
        self.rotate_button.setEnabled(live)
        self.retire_button.setEnabled(live)

    # --- changes -----------------------------------------------------------------------------

    def _do(self, work: Callable[[], Any], said: Callable[[Any], str]) -> None:
        def done(result: Any) -> None:
            line = said(result)
            self._say(line)
            self.changed.emit(line)
            self.refresh()

        self.workers.run(work, on_done=done, on_failed=self._failed)

    def _confirm(self, text: str, yes: str, then: Callable[[], None]) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Warning, "Please confirm", text,
                          QMessageBox.StandardButton.NoButton, self)
        box.setAccessibleName("Please confirm")
        ok = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        ok.setAccessibleName(yes.replace("&", ""))
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)  # Enter alone never retires a site
        box.accepted.connect(then)
        self.dialog = box
        box.open()
        return box

    @Slot()
    def on_disable(self) -> None:
        staff = self._selected_staff()
        if staff is None:
            return
        self._confirm(f"Disable {staff.name} ({staff.username})? They are signed out at once "
                      "everywhere and cannot sign in until re-enabled.", "&Disable",
                      lambda: self._do(lambda: self.hub.disable_staff(staff.id),
                                       lambda s: f"{s.username} is disabled; their sessions "
                                       "have ended."))  # fmt: skip

    @Slot()
    def on_enable(self) -> None:
        staff = self._selected_staff()
        if staff is not None:
            self._do(lambda: self.hub.enable_staff(staff.id),
                     lambda s: f"{s.username} can sign in again.")

    @Slot()
    def on_reset(self) -> None:
        staff = self._selected_staff()
        if staff is None:
            return
        dialog = PasswordDialog(f"Reset the password of {staff.username}",
                                f"Set a new password for {staff.name}. Tell them through a "
                                "channel you would trust with it; every session of theirs "
                                "ends now.", False, self)

        def send(_current: str, new: str) -> None:
            def done(_s: StaffOut) -> None:
                dialog.succeeded()
                line = f"{staff.username} has a new password; their sessions have ended."
                self._say(line)
                self.changed.emit(line)

            self.workers.run(self.hub.reset_password, staff.id, new, on_done=done,
                             on_failed=dialog.failed)

        dialog.submitted.connect(send)
        self.dialog = dialog
        dialog.open()
        dialog.new.setFocus()

    @Slot()
    def on_rotate(self) -> None:
        site = self._selected_site()
        if site is None:
            return

        def rotate() -> None:
            self.workers.run(lambda: self.hub.rotate_site_credential(site.id),
                             on_done=self._show_credential, on_failed=self._failed)

        self._confirm(f"Give {site.name} a new credential? Its current credential stops "
                      "working at once and its station is signed out until the new one is "
                      "entered.", "&New credential", rotate)

    def _show_credential(self, answer: NewSiteOut) -> None:
        line = f"{answer.site.name} has a new credential; the old one no longer works."
        self._say(line)
        self.changed.emit(line)
        dialog = CredentialDialog(answer, self)
        self.dialog = dialog
        dialog.open()
        dialog.credential.setFocus()
        self.refresh()

    @Slot()
    def on_retire(self) -> None:
        site = self._selected_site()
        if site is None:
            return
        self._confirm(f"Retire {site.name}? It is signed out and can never sign in again; "
                      "its calls stay in the log. This cannot be undone.", "&Retire",
                      lambda: self._do(lambda: self.hub.retire_site(site.id),
                                       lambda s: f"{s.name} is retired."))

    @Slot()
    def on_own_password(self) -> None:
        self.dialog = change_own_password(self.hub, self.workers, self, self._own_changed)

    def _own_changed(self, line: str) -> None:
        self._say(line)
        self.changed.emit(line)
