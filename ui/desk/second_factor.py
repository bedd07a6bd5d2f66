"""The second step of the desk's sign-in: the code from an authenticator app, or setting one
up (a QR code to scan, a code to confirm it) and the recovery codes, shown once.

The hub says which is needed (hub.client.HubNeedsSecondFactor); this view asks the hub
itself, on the desk's workers, holding the password typed on the first screen only until
the sign-in is done or abandoned.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import segno
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hub.client import HubError
from hub.contract.rest import EnrolmentOut
from ui.announce import announce
from ui.desk.auth import SignedIn, confirm_second_factor, enrol_second_factor, sign_in
from ui.desk.work import Workers
from ui.heading import heading
from ui.labels import status_label

QUIET_ZONE = 4  # modules of white around a QR code, as the standard asks
CODE_HELP = ("Enter the 6-digit code your authenticator app shows for telehub, or one of "
             "your recovery codes.")
ENROL_HELP = ("Your account needs a second step at sign-in. On your phone, open an "
              "authenticator app (FreeOTP, Microsoft or Google Authenticator…), scan this "
              "code or type the setup key, then enter the 6-digit code it shows.")
RECOVERY_HELP = ("If you lose your phone, each of these signs you in once instead of a "
                 "code. Keep them somewhere safe, away from the phone: they are not shown "
                 "again.")
# What is said when a page appears (focus lands in a field, whose name alone does not say
# what the page is for).
PAGE_WORDS = (f"Second step. {CODE_HELP}", f"Set up your authenticator app. {ENROL_HELP}",
              f"Your recovery codes. {RECOVERY_HELP}")
QR_NAME = ("QR code for your authenticator app; the setup key below is the same code as "
           "text")


def qr_image(text: str, scale: int = 6) -> QImage:
    """``text`` as a QR code, black on white (scanners need the contrast), drawn by module."""
    matrix = segno.make(text, error="m").matrix
    size = (len(matrix) + 2 * QUIET_ZONE) * scale
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("black"))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                painter.drawRect((x + QUIET_ZONE) * scale, (y + QUIET_ZONE) * scale, scale,
                                 scale)
    painter.end()
    return image


def _label(text: str, role: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if role is not None:
        label.setProperty("role", role)
    return label


def _title(text: str) -> QLabel:
    """A page's title: big, and a heading a screen reader lists and jumps to."""
    return heading(_label(text, "big"))


def _error_label(meaning: str) -> QLabel:
    """Read as the problem it shows (a fixed name hid it); ``meaning`` is its description.
    The theme's error colour, 6.4:1 on the desk's background."""
    label = status_label(meaning)
    label.setWordWrap(True)
    label.setProperty("role", "error")
    return label


def _code_edit(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setAccessibleName(name)
    edit.setMaxLength(32)
    edit.setPlaceholderText("6 digits")
    edit.setInputMethodHints(Qt.InputMethodHint.ImhPreferNumbers)
    return edit


class SecondFactorView(QWidget):
    """Signals:
        signedIn(object): the :class:`~ui.desk.auth.SignedIn` once the second step passed.
        cancelled(): the user went back to the first screen.
    """

    signedIn = Signal(object)
    cancelled = Signal()

    def __init__(self, http: httpx.Client, workers: Workers,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.http, self.workers = http, workers
        self._hub = self._user = self._password = ""
        self._signed: SignedIn | None = None
        # One page shown at a time, the others hidden (not a QStackedWidget: that is as tall
        # as its tallest page, and does not grow with a wrapped error message).
        self.pages = [self._code_page(), self._enrol_page(), self._recovery_page()]
        self.page = 0
        card = QFrame()
        # Wrapped text is measured at the width it is shown at: about 55 characters of the
        # system font (580 px at 10 pt; at a large font a fixed width left the page too
        # tall for the window, and its text was cut).
        card.setFixedWidth(max(580, 55 * card.fontMetrics().averageCharWidth()))
        column = QVBoxLayout(card)
        for page in self.pages:
            column.addWidget(page)
        # Centred by stretches, not by alignment: an aligned item is given its size hint,
        # which leaves a wrapped message a line short.
        middle = QHBoxLayout()
        middle.addStretch(1)
        middle.addWidget(card)
        middle.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(middle)
        outer.addStretch(2)
        self._show(0, say=False)

    # --- the pages ------------------------------------------------------------------------

    def _code_page(self) -> QWidget:
        page = QWidget()
        self.code_title = _title("Second step")
        self.code = _code_edit("Authentication code")
        self.code_error = _error_label("Code problem")
        self.verify = QPushButton("&Verify")
        self.verify.setProperty("kind", "primary")
        self.verify.setAccessibleName("Verify code")
        self.verify.setDefault(True)
        self.code_back = QPushButton("&Back")
        self.code_back.setAccessibleName("Back to sign-in")
        form = QFormLayout()
        form.addRow("&Code", self.code)
        col = QVBoxLayout(page)
        col.addWidget(self.code_title)
        col.addWidget(_label(CODE_HELP, "muted"))
        col.addSpacing(12)
        col.addLayout(form)
        col.addWidget(self.code_error)
        col.addLayout(_buttons(self.code_back, self.verify))
        self.verify.clicked.connect(self.on_verify)
        self.code.returnPressed.connect(self.on_verify)
        self.code_back.clicked.connect(self.on_back)
        _escape_goes_back(page, self.on_back)
        return page

    def _enrol_page(self) -> QWidget:
        page = QWidget()
        self.qr = QLabel("Preparing…")
        # An image: named by what it is, and by where its text alternative is.
        self.qr.setAccessibleName(QR_NAME)
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr.setMinimumSize(240, 240)
        self.setup_key = QLineEdit()
        self.setup_key.setReadOnly(True)
        self.setup_key.setAccessibleName("Setup key")
        self.setup_key.setAccessibleDescription("The QR code as text: type it into the app "
                                                "if you cannot scan the code")
        self.enrol_code = _code_edit("Code from the app")
        self.enrol_error = _error_label("Set-up problem")
        self.confirm = QPushButton("C&onfirm")  # Alt+C is the code field's
        self.confirm.setProperty("kind", "primary")
        self.confirm.setAccessibleName("Confirm authenticator app")
        self.confirm.setDefault(True)
        self.enrol_back = QPushButton("&Back")
        self.enrol_back.setAccessibleName("Back to sign-in")
        form = QFormLayout()
        form.addRow("Setup &key", self.setup_key)
        form.addRow("&Code", self.enrol_code)
        col = QVBoxLayout(page)
        col.addWidget(_title("Set up your authenticator app"))
        col.addWidget(_label(ENROL_HELP, "muted"))
        col.addWidget(self.qr, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addLayout(form)
        col.addWidget(self.enrol_error)
        col.addLayout(_buttons(self.enrol_back, self.confirm))
        self.confirm.clicked.connect(self.on_confirm)
        self.enrol_code.returnPressed.connect(self.on_confirm)
        self.enrol_back.clicked.connect(self.on_back)
        _escape_goes_back(page, self.on_back)
        return page

    def _recovery_page(self) -> QWidget:
        page = QWidget()
        self.recovery = QPlainTextEdit()
        self.recovery.setReadOnly(True)
        self.recovery.setAccessibleName("Recovery codes")
        self.recovery.setTabChangesFocus(True)
        self.recovery.setMinimumHeight(200)
        self.kept = QCheckBox("I have written these codes down or printed them")
        self.kept.setAccessibleName("I have kept my recovery codes")
        self.carry_on = QPushButton("C&ontinue")
        self.carry_on.setProperty("kind", "primary")
        self.carry_on.setAccessibleName("Continue to the desk")
        self.carry_on.setEnabled(False)
        col = QVBoxLayout(page)
        col.addWidget(_title("Your recovery codes"))
        col.addWidget(_label(RECOVERY_HELP, "muted"))
        col.addWidget(self.recovery)
        col.addWidget(self.kept)
        col.addLayout(_buttons(None, self.carry_on))
        self.kept.toggled.connect(self.carry_on.setEnabled)
        self.carry_on.clicked.connect(self.on_continue)
        return page

    # --- the flow -------------------------------------------------------------------------

    def start(self, hub: str, username: str, password: str, enrol: bool) -> None:
        """Ask for the code (``enrol`` False) or set an app up first (True)."""
        self._hub, self._user, self._password = hub, username, password
        self._signed = None
        for edit in (self.code, self.enrol_code):
            edit.clear()
        for label in (self.code_error, self.enrol_error):
            label.clear()
        if not enrol:
            self._show(0)
            self.code.setFocus()
            return
        self._show(1)
        self.qr.setText("Preparing…")
        self.setup_key.clear()
        self.confirm.setEnabled(False)
        self.enrol_code.setFocus()
        self.workers.run(enrol_second_factor, self.http, hub, username, password,
                         on_done=self.on_enrolment, on_failed=self._failed(self.enrol_error))

    @Slot(object)
    def on_enrolment(self, enrolment: EnrolmentOut) -> None:
        self.qr.setPixmap(QPixmap.fromImage(qr_image(enrolment.uri)))
        key = enrolment.secret
        self.setup_key.setText(" ".join(key[i:i + 4] for i in range(0, len(key), 4)))
        self.confirm.setEnabled(True)

    @Slot()
    def on_verify(self) -> None:
        if not self.verify.isEnabled():
            return
        self._busy(self.verify, self.code_error)
        self.workers.run(sign_in, self.http, self._hub, self._user, self._password,
                         self.code.text(), on_done=self._done,
                         on_failed=self._failed(self.code_error))  # fmt: skip

    @Slot()
    def on_confirm(self) -> None:
        if not self.confirm.isEnabled():
            return
        self._busy(self.confirm, self.enrol_error)
        self.workers.run(confirm_second_factor, self.http, self._hub, self._user,
                         self._password, self.enrol_code.text(), on_done=self.on_confirmed,
                         on_failed=self._failed(self.enrol_error))  # fmt: skip

    @Slot(object)
    def on_confirmed(self, result: tuple[SignedIn, list[str]]) -> None:
        self._signed, codes = result
        self._password = ""
        self.recovery.setPlainText("\n".join(codes))
        # Every code in view at any font size (200 px showed four and a half at 22 pt).
        lines = self.recovery.fontMetrics().lineSpacing() * (len(codes) + 1)
        self.recovery.setMinimumHeight(max(200, lines + 2 * self.recovery.frameWidth()))
        self.kept.setChecked(False)
        self._show(2)
        self.recovery.setFocus()

    @Slot()
    def on_continue(self) -> None:
        if self._signed is not None:
            signed, self._signed = self._signed, None
            self.recovery.clear()  # shown once
            self.signedIn.emit(signed)

    @Slot()
    def on_back(self) -> None:
        self._password = ""
        self.cancelled.emit()

    def _done(self, signed: SignedIn) -> None:
        self._password = ""
        self.verify.setEnabled(True)
        self.signedIn.emit(signed)

    def _show(self, index: int, say: bool = True) -> None:
        for i, page in enumerate(self.pages):
            page.setVisible(i == index)
        self.page = index
        if say:
            announce(self.pages[index], PAGE_WORDS[index])

    def _busy(self, button: QPushButton, error: QLabel) -> None:
        button.setEnabled(False)
        error.clear()

    def _failed(self, error: QLabel) -> Callable[[BaseException], None]:
        def show(exc: BaseException) -> None:
            error.setText(str(exc) if isinstance(exc, HubError)
                          else f"The second step failed ({type(exc).__name__}).")
            announce(error, error.text(), assertive=True)
            self.verify.setEnabled(True)
            self.confirm.setEnabled(self.setup_key.text() != "")
        return show


def _escape_goes_back(page: QWidget, back: Callable[[], None]) -> None:
    """Escape on the page is its Back button, as in a dialog."""
    shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), page)
    shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    shortcut.activated.connect(back)


def _buttons(back: QPushButton | None, primary: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    if back is not None:
        row.addWidget(back)
    row.addStretch(1)
    row.addWidget(primary)
    return row
