"""The administrator's screen on the desk against a real hub: an admin signs in and gets the
accounts; resets a password (the hub's policy refusal shown in the dialog), disables a nurse,
gives a site a new credential and retires another, each checked at the hub. Screenshots go to
the SHOTS folder."""

from __future__ import annotations

from typing import Any

import httpx
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox, QPushButton, QTableWidget

from tests.helpers import totp
from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from ui.desk.admin import AdminView, CredentialDialog
from ui.desk.password import PasswordDialog


def _login(hub: ThreadedHub, username: str, password: str) -> int:
    return httpx.post(f"{hub.http}/api/v1/auth/login",
                      json={"username": username, "password": password}).status_code


def _select(qtbot: Any, table: QTableWidget, text: str) -> None:
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == text)
    table.setFocus()
    table.selectRow(row)
    qtbot.waitUntil(lambda: table.currentRow() == row, timeout=2_000)


def _confirm(qtbot: Any, view: AdminView) -> None:
    qtbot.waitUntil(lambda: isinstance(view.dialog, QMessageBox) and view.dialog.isVisible(),
                    timeout=5_000)
    box = view.dialog
    assert isinstance(box, QMessageBox)
    yes = next(b for b in box.buttons()
               if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole)
    qtbot.mouseClick(yes, Qt.MouseButton.LeftButton)


def _shoot(widget: Any, name: str) -> None:
    image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 300
    image.save(str(SHOTS / f"admin-{name}.png"))


def test_an_administrator_looks_after_accounts_from_the_desk(
    qtbot: Any, hub: ThreadedHub, hubdb: HubDatabase, desk_factory: Any
) -> None:
    hubdb.staff("ada", "admin")
    nurse = hubdb.staff("nina", "nurse")
    hubdb.staff("sam", "specialist")
    beech = hubdb.site("Beech House", "care_home")
    hubdb.site("HMP Moorgate healthcare", "prison")
    with httpx.Client(base_url=hub.http, timeout=20) as http:  # an admin needs a 2nd factor
        secret, _codes, _answer = totp.enrol(http, "ada")
    desk = desk_factory()
    desk.resize(1280, 820)
    desk.signin.hub.setText(hub.http)
    desk.signin.user.setText("ada")
    qtbot.keyClicks(desk.signin.password, PASSWORD)
    qtbot.keyClick(desk.signin.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: desk.stack.currentWidget() is desk.second, timeout=15_000)
    qtbot.keyClicks(desk.second.code, totp.code_at(secret, 1))
    qtbot.keyClick(desk.second.code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: desk.admin is not None, timeout=15_000)
    view = desk.admin
    assert isinstance(view, AdminView)
    assert desk.stack.currentWidget() is view and desk.bridge is None  # no call engine
    qtbot.waitUntil(lambda: view.staff_table.rowCount() == 3 and view.site_table.rowCount() == 2,
                    timeout=10_000)
    # The Hub menu: prison clinics (scheduling), not the Gold Line (it names patients).
    hub_menu = next(a.menu() for a in desk.menuBar().actions() if a.text() == "Hu&b")
    assert [a.text() for a in hub_menu.actions()] == ["Prison &clinics…"]

    # every control has a name and is reached by Tab
    controls = [w for kind in (QPushButton, QTableWidget, QLineEdit)
                for w in view.findChildren(kind) if w.isVisible()]
    assert controls and all(w.accessibleName() for w in controls)
    view.staff_table.setFocus()
    reached = set()
    for _ in range(40):
        reached.add(QApplication.focusWidget())
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert {view.staff_table, view.site_table, view.refresh_button,
            view.own_password_button} <= reached

    # the administrator cannot disable or reset their own account here
    _select(qtbot, view.staff_table, "ada")
    assert not view.disable_button.isEnabled() and not view.reset_button.isEnabled()

    # reset nina's password: the policy's refusal shows in the dialog, which stays open
    _select(qtbot, view.staff_table, "nina")
    qtbot.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    dialog = view.dialog
    assert isinstance(dialog, PasswordDialog) and dialog.isVisible()
    qtbot.keyClicks(dialog.new, "password12")
    qtbot.keyClicks(dialog.again, "password12")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error.text().startswith("Too common"), timeout=10_000)
    assert dialog.isVisible() and "password12" not in dialog.error.text()
    _shoot(dialog, "reset-refused")
    qtbot.keyClicks(dialog.new, "violet kettle harbour")
    qtbot.keyClicks(dialog.again, "violet kettle harbour")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    assert _login(hub, "nina", "violet kettle harbour") == 200
    assert httpx.get(f"{hub.http}/api/v1/me",
                     headers={"Authorization": f"Bearer {nurse.token}"}).status_code == 401

    # disable nina, after a confirmation
    _select(qtbot, view.staff_table, "nina")
    qtbot.mouseClick(view.disable_button, Qt.MouseButton.LeftButton)
    _confirm(qtbot, view)
    qtbot.waitUntil(lambda: "nina is disabled" in view.status.text(), timeout=10_000)
    assert _login(hub, "nina", "violet kettle harbour") == 401
    qtbot.waitUntil(lambda: any(view.staff_table.item(r, 3).text() == "DISABLED"
                                for r in range(view.staff_table.rowCount())), timeout=10_000)

    # a new credential for Beech House, shown once; the old one stops working
    _select(qtbot, view.site_table, "Beech House")
    qtbot.mouseClick(view.rotate_button, Qt.MouseButton.LeftButton)
    _confirm(qtbot, view)
    qtbot.waitUntil(lambda: isinstance(view.dialog, CredentialDialog), timeout=10_000)
    shown = view.dialog
    assert isinstance(shown, CredentialDialog)
    credential = shown.credential.text()
    assert credential.startswith("ths_") and shown.credential.isReadOnly()
    site_login = f"{hub.http}/api/v1/auth/site-login"
    assert httpx.post(site_login, json={"credential": credential}).status_code == 200
    assert httpx.post(site_login, json={"credential": beech.credential}).status_code == 401
    qtbot.mouseClick(shown.close_button, Qt.MouseButton.LeftButton)
    assert shown.credential.text() == ""

    # retire the prison's old site
    _select(qtbot, view.site_table, "HMP Moorgate healthcare")
    qtbot.mouseClick(view.retire_button, Qt.MouseButton.LeftButton)
    _confirm(qtbot, view)
    qtbot.waitUntil(lambda: "is retired" in view.status.text(), timeout=10_000)
    qtbot.waitUntil(lambda: view.events_table.rowCount() >= 4, timeout=10_000)
    _select(qtbot, view.site_table, "HMP Moorgate healthcare")
    assert not view.retire_button.isEnabled() and not view.rotate_button.isEnabled()
    _select(qtbot, view.staff_table, "nina")
    _shoot(desk, "accounts")

    # and the administrator changes their own password (any role has it under Account)
    qtbot.mouseClick(view.own_password_button, Qt.MouseButton.LeftButton)
    own = view.dialog
    assert isinstance(own, PasswordDialog) and own.current.isVisible()
    qtbot.keyClicks(own.current, "not my password")
    qtbot.keyClicks(own.new, "amber lantern meadow")
    qtbot.keyClicks(own.again, "amber lantern meadow")
    qtbot.mouseClick(own.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: own.error.text() == "That is not your current password.",
                    timeout=10_000)
    _shoot(own, "change-own")
    assert own.current.text() == "" and own.current.hasFocus()
    qtbot.keyClicks(own.current, PASSWORD)
    qtbot.mouseClick(own.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not own.isVisible(), timeout=10_000)
    # the new password is right: the hub asks for the second factor, not the password again
    assert _login(hub, "ada", "amber lantern meadow") == 401
    assert httpx.post(f"{hub.http}/api/v1/auth/login", json={
        "username": "ada", "password": "amber lantern meadow"}).json()["second_factor"] == "code"
    view.refresh()  # this desk's own session goes on
    qtbot.waitUntil(lambda: view.events_table.rowCount() >= 5, timeout=10_000)
    assert desk.menuBar().actions()[0].menu().actions()[0].text() == "Change &password…"


def test_a_nurse_whose_account_is_disabled_is_told_the_session_ended(
    qtbot: Any, hub: ThreadedHub, hubdb: HubDatabase, people: Any, desk_factory: Any
) -> None:
    from tests.ui.conftest import signed_in

    admin = hubdb.staff("ada", "admin")
    desk = desk_factory()
    signed_in(qtbot, desk, hub, "nina")
    r = httpx.post(f"{hub.http}/api/v1/staff/{people.nurse.principal.id}/disable",
                   headers={"Authorization": f"Bearer {admin.token}"})
    assert r.status_code == 200
    qtbot.waitUntil(lambda: desk.banner.isVisible()
                    and "session at the hub has ended" in desk.banner_text.text(),
                    timeout=10_000)
    assert "Reconnecting" not in desk.banner_text.text()
    _shoot(desk, "nurse-session-ended")
