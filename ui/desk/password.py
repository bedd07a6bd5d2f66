"""Setting a password from the desk: your own (current one first) or, for an administrator,
someone else's. The hub applies its password policy and says which rule a password breaks;
the dialog shows that and stays open, so nothing typed is lost but the password itself."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hub.client import HubClient, HubError, HubRefused
from hub.contract.rest import MIN_PASSWORD
from ui.announce import announce
from ui.desk.work import Workers
from ui.heading import heading
from ui.labels import status_label

__all__ = ["PasswordDialog", "change_own_password", "refusal_text"]

RULES = (f"At least {MIN_PASSWORD} characters; not a common password and not your name. "
         "Three random words make a good one.")


def refusal_text(exc: BaseException) -> str:
    """What the dialog says when the hub refused: its reason without the field's name (the
    policy's "new_password: too common: ..." reads "Too common: ...")."""
    if not isinstance(exc, HubError):
        return f"The password was not set ({type(exc).__name__})."
    if isinstance(exc, HubRefused) and exc.status in (403, 422) and "): " in str(exc):
        reason = str(exc).split("): ", 1)[1]
        reason = reason.split(": ", 1)[1] if reason.split(": ", 1)[0].endswith("password") \
            else reason
        return reason[:1].upper() + reason[1:] + "."
    return str(exc)


def _secret(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setAccessibleName(name)
    return edit


class PasswordDialog(QDialog):
    """Asks for a new password twice (and the current one when ``ask_current``).

    Signals:
        submitted(str, str): the current password ("" when not asked) and the new one; the
            owner sends them and calls :meth:`succeeded` or :meth:`failed`.
    """

    submitted = Signal(str, str)

    def __init__(self, title: str, intro: str, ask_current: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.setMinimumWidth(460)
        title_label = heading(QLabel(title))
        title_label.setProperty("role", "big")
        intro_label = QLabel(intro)
        intro_label.setWordWrap(True)
        rules = QLabel(RULES)
        rules.setWordWrap(True)
        rules.setProperty("role", "muted")
        self.current = _secret("Current password")
        self.new = _secret("New password")
        self.again = _secret("New password again")
        # Read as what it shows (a fixed name hid the hub's reason), and said when it changes.
        self.error = status_label("Password problem")
        self.error.setWordWrap(True)
        self.error.setProperty("role", "error")
        self.ok = QPushButton("&Set password")
        self.ok.setProperty("kind", "primary")
        self.ok.setAccessibleName("Set password")
        self.ok.setDefault(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setAccessibleName("Cancel")
        form = QFormLayout()
        if ask_current:
            form.addRow("&Current password", self.current)
        else:
            self.current.setVisible(False)
        form.addRow("&New password", self.new)
        form.addRow("New password &again", self.again)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel)
        buttons.addWidget(self.ok)
        col = QVBoxLayout(self)
        col.addWidget(title_label)
        col.addWidget(intro_label)
        col.addWidget(rules)
        col.addLayout(form)
        col.addWidget(self.error)
        col.addLayout(buttons)
        self._ask_current = ask_current
        self.ok.clicked.connect(self.on_ok)
        self.cancel.clicked.connect(self.reject)

    @Slot()
    def on_ok(self) -> None:
        if self._ask_current and not self.current.text():
            self._problem("Enter your current password.")
            self.current.setFocus()
        elif not self.new.text():
            self._problem("Enter the new password.")
            self.new.setFocus()
        elif self.new.text() != self.again.text():
            self._problem("The two new passwords differ; type them again.")
            self.again.clear()
            self.again.setFocus()
        else:
            self.error.setText("Setting the password…")
            self.ok.setEnabled(False)
            self.submitted.emit(self.current.text(), self.new.text())

    def _problem(self, text: str) -> None:
        """Shows why the password was not set and says it at once (focus moves to the field
        to type again, whose name alone would not tell a screen reader user why)."""
        self.error.setText(text)
        announce(self.error, text, assertive=True)

    def succeeded(self) -> None:
        for edit in (self.current, self.new, self.again):
            edit.clear()
        self.accept()

    def failed(self, exc: BaseException) -> None:
        """The hub refused: say why, clear what must be typed again, focus the field."""
        self.ok.setEnabled(True)
        self._problem(refusal_text(exc))
        if isinstance(exc, HubRefused) and exc.status == 403 and self._ask_current:
            self.current.clear()  # the current password was wrong; the new one may stay
            self.current.setFocus()
            return
        self.new.clear()
        self.again.clear()
        self.new.setFocus()


def change_own_password(client: HubClient, workers: Workers, parent: QWidget,
                        done: Callable[[str], None]) -> PasswordDialog:
    """Open the dialog for the signed-in member of staff; ``done`` gets a line for the status
    bar once the hub has changed it (your other sessions have then ended)."""
    dialog = PasswordDialog("Change your password", "Your other signed-in desks will be "
                            "signed out; this one stays signed in.", True, parent)

    def changed(_result: object) -> None:
        dialog.succeeded()
        done("Password changed; your other sessions have ended.")

    def send(current: str, new: str) -> None:
        workers.run(client.change_password, current, new, on_done=changed,
                    on_failed=dialog.failed)

    dialog.submitted.connect(send)
    dialog.open()
    dialog.current.setFocus()
    return dialog
