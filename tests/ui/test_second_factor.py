"""The desk's second step of sign-in against a real hub, driven with qtbot: a manager sets
up an authenticator app from the QR code's setup key, keeps the recovery codes, and signs in
again with a code; wrong and used codes are refused in plain words. PNGs of each screen go
to the SHOTS folder."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from tests.helpers.totp import code_at
from ui.desk.auth import WRONG_CODE
from ui.desk.manager.dashboard import ManagerView
from ui.desk.second_factor import qr_image
from ui.desk.window import DeskWindow

pytestmark = pytest.mark.slow


def laid_out(label: QLabel) -> bool:
    """A wrapped message has been given its full height (layouts settle after the text)."""
    return label.height() >= label.heightForWidth(label.width())


def shoot(widget: QWidget, name: str) -> None:
    image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 600
    assert image.save(str(SHOTS / f"desk-second-factor-{name}.png"))


def password_step(qtbot: Any, desk: DeskWindow, hub: ThreadedHub) -> None:
    desk.signin.hub.setText(hub.http)
    desk.signin.user.setText("meg")
    qtbot.keyClicks(desk.signin.password, PASSWORD)
    qtbot.keyClick(desk.signin.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: desk.stack.currentWidget() is desk.second, timeout=15_000)


def tab_chain(start: QWidget, steps: int = 8) -> list[QWidget]:
    """The widgets Tab reaches from ``start``, in order."""
    seen: list[QWidget] = []
    start.setFocus()
    for _ in range(steps):
        focused = QApplication.focusWidget()
        assert focused is not None
        seen.append(focused)
        QApplication.sendEvent(focused, _tab())
    return seen


def _tab() -> Any:
    from PySide6.QtGui import QKeyEvent

    return QKeyEvent(QKeyEvent.Type.KeyPress, Qt.Key.Key_Tab, Qt.KeyboardModifier.NoModifier)


def test_a_manager_sets_up_an_authenticator_app_and_signs_in_with_a_code(
    qtbot: Any, hub: ThreadedHub, hubdb: HubDatabase, desk_factory: Any,
) -> None:
    hubdb.staff("meg", "manager")
    desk = desk_factory()
    desk.resize(1100, 860)
    password_step(qtbot, desk, hub)
    view = desk.second
    assert view.page == 1  # the hub said: set one up
    qtbot.waitUntil(lambda: view.setup_key.text() != "", timeout=15_000)
    assert view.qr.pixmap() is not None and view.qr.pixmap().width() >= 200
    chain = tab_chain(view.enrol_code)
    assert {view.enrol_code, view.confirm, view.enrol_back, view.setup_key} <= set(chain)
    for control in (view.qr, view.setup_key, view.enrol_code, view.confirm, view.enrol_back):
        assert control.accessibleName()
    view.enrol_code.setFocus()
    shoot(desk, "enrol")

    # The app: the setup key as shown, typed into an authenticator
    secret = view.setup_key.text().replace(" ", "")
    qtbot.keyClicks(view.enrol_code, "000000")
    qtbot.keyClick(view.enrol_code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.enrol_error.text() != "", timeout=15_000)
    assert view.enrol_error.text() == WRONG_CODE
    view.enrol_code.clear()
    qtbot.keyClicks(view.enrol_code, code_at(secret))
    qtbot.keyClick(view.enrol_code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.page == 2, timeout=15_000)
    codes = view.recovery.toPlainText().splitlines()
    assert len(codes) == 10 and all(len(c) == 19 for c in codes)
    assert not view.carry_on.isEnabled()  # not before the codes are kept
    qtbot.mouseClick(view.kept, Qt.MouseButton.LeftButton)
    assert view.carry_on.isEnabled()
    shoot(desk, "recovery")
    qtbot.mouseClick(view.carry_on, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(desk.manager, ManagerView), timeout=15_000)
    assert view.recovery.toPlainText() == ""  # shown once
    assert desk.stack.currentWidget() is desk.manager

    # Next shift, another desk: the code page
    other = desk_factory()
    other.resize(1100, 860)
    password_step(qtbot, other, hub)
    step = other.second
    assert step.page == 0
    assert step.code.hasFocus() or QApplication.focusWidget() is step.code
    assert {step.code, step.verify, step.code_back} <= set(tab_chain(step.code))
    step.code.setFocus()
    shoot(other, "code")
    used = code_at(secret)  # the one that confirmed the app: not again
    qtbot.keyClicks(step.code, used)
    qtbot.keyClick(step.code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: step.code_error.text() != "", timeout=15_000)
    assert step.code_error.text() == WRONG_CODE
    qtbot.waitUntil(lambda: laid_out(step.code_error), timeout=5_000)
    shoot(other, "code-refused")
    step.code.clear()
    qtbot.keyClicks(step.code, code_at(secret, 1))
    qtbot.keyClick(step.code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: isinstance(other.manager, ManagerView), timeout=15_000)
    assert other.signin.password.text() == ""


def test_back_returns_to_the_password_and_the_qr_code_is_black_on_white(
    qtbot: Any, hub: ThreadedHub, hubdb: HubDatabase, desk_factory: Any,
) -> None:
    hubdb.staff("meg", "manager")
    desk = desk_factory()
    password_step(qtbot, desk, hub)
    qtbot.mouseClick(desk.second.enrol_back, Qt.MouseButton.LeftButton)
    assert desk.stack.currentWidget() is desk.signin
    assert desk.signin.button.isEnabled()
    image = qr_image("otpauth://totp/telehub:meg?secret=ABC&issuer=telehub", scale=4)
    corner, finder = image.pixelColor(0, 0), image.pixelColor(4 * 4 + 1, 4 * 4 + 1)
    assert corner.name() == "#ffffff" and finder.name() == "#000000"
