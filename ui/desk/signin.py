"""The sign-in screen: hub address, user name, password, and "remember in the keyring"."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.announce import announce
from ui.desk.auth import PasswordVault
from ui.heading import heading
from ui.labels import status_label


class SignInView(QWidget):
    """Signals:
        submitted(str, str, str, bool): hub address, user name, password, remember it.
    """

    submitted = Signal(str, str, str, bool)

    def __init__(self, vault: PasswordVault, hub: str = "", user: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vault = vault
        title = heading(QLabel("telehub desk"))
        title.setProperty("role", "big")
        subtitle = QLabel("Sign in to take calls")
        subtitle.setProperty("role", "muted")
        self.hub = QLineEdit(hub)
        self.hub.setPlaceholderText("hub.example.nhs.uk:8470")
        self.hub.setAccessibleName("Hub address")
        # Several hubs of one service (no load balancer in front): the desk moves to the
        # next when one is lost. Said by the tooltip and to assistive technology only: a
        # line more on the card no longer fits at a large system font (test_text_size).
        hint = "One address, or several hubs of one service separated by commas"
        self.hub.setToolTip(hint)
        self.hub.setAccessibleDescription(hint)
        self.user = QLineEdit(user)
        self.user.setAccessibleName("User name")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.remember = QCheckBox("Remember my password in the system keyring")
        self.remember.setAccessibleName("Remember password in the system keyring")
        self.keyring_note = status_label("Keyring status")
        self.keyring_note.setWordWrap(True)
        self.keyring_note.setProperty("role", "muted")
        if vault.available:
            self.remember.setChecked(True)
            self.keyring_note.setText("Kept by the system keyring, never in a file.")
        else:
            self.remember.setChecked(False)
            self.remember.setEnabled(False)
            self.keyring_note.setText(vault.unavailable_reason)
        self.button = QPushButton("Sign &in")
        self.button.setProperty("kind", "primary")
        self.button.setAccessibleName("Sign in")
        self.button.setDefault(True)
        self.error = status_label("Sign-in problem")
        self.error.setWordWrap(True)
        self.error.setProperty("role", "error")

        card = QFrame()
        # About 40 to 48 characters wide at whatever size the system font is.
        em = card.fontMetrics().averageCharWidth()
        card.setMinimumWidth(40 * em)
        card.setMaximumWidth(48 * em)
        form = QFormLayout()
        form.addRow("&Hub address", self.hub)
        form.addRow("&User name", self.user)
        form.addRow("&Password", self.password)
        col = QVBoxLayout(card)
        col.addWidget(title)
        col.addWidget(subtitle)
        col.addSpacing(12)
        col.addLayout(form)
        col.addWidget(self.remember)
        col.addWidget(self.keyring_note)
        col.addWidget(self.error)
        col.addWidget(self.button)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(card, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)

        self.button.clicked.connect(self.on_submit)
        for edit in (self.hub, self.user, self.password):
            edit.returnPressed.connect(self.on_submit)

    def focus_first_empty(self) -> None:
        for edit in (self.hub, self.user, self.password):
            if not edit.text():
                edit.setFocus()
                return
        self.button.setFocus()

    def set_busy(self, busy: bool) -> None:
        self.button.setEnabled(not busy)
        self.button.setText("Signing in…" if busy else "Sign &in")

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.set_busy(False)
        announce(self.error, text, assertive=True)

    @Slot()
    def on_submit(self) -> None:
        if not self.button.isEnabled():
            return
        self.error.clear()
        self.set_busy(True)
        self.submitted.emit(self.hub.text(), self.user.text(), self.password.text(),
                            self.remember.isChecked())
