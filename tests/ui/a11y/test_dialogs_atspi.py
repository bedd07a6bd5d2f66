"""The desk's dialogs and second screens as Orca meets them, through the AT-SPI bus with real
keys (the session's one desk program, tests/ui/a11y/desk_program.py): the invitation to a
specialist and the specialist's Invitations queue, History's Follow-up and Amend dialogs,
the password change, the second step of sign-in (setting up an app from the QR code or its
setup key, the recovery codes, a code) and the administrator's accounts screen.

On each: every control named, Tab and Shift+Tab round every control and out of every table,
Escape cancels and Enter does the dialog's default, errors are said at once; and the same
screens at a 22 pt system font cut no text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calls.session import InvalidStateError
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from tests.helpers import totp
from tests.helpers.atspi import Node, Screen
from tests.helpers.fixtures import SHOTS, STEADY, People
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from tests.helpers.waiting import holds_for, wait_until
from tests.ui.a11y.conftest import OpenDesk
from tests.ui.a11y.screens import (
    assert_every_control_named,
    assert_tab_reaches_everything,
    wait_state,
)
from tests.ui.conftest import SiteCaller

pytestmark = pytest.mark.slow
LARGE = 22.0


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    return STEADY


def dialog(screen: Screen, title: str, check: bool = True) -> Node:
    """The dialog now active, on the bus, with its controls named and its Tab loop closed
    (``check`` False: only active, for a dialog already checked once)."""
    wait_state(screen, modal=title)
    wait_until(lambda: screen.window().name == title, timeout=10,
               message=lambda: f"the dialog {title!r} active on the bus; the active window "
               f"is {screen.window().name!r}")
    window = screen.window()
    assert window.role in ("dialog", "alert"), window.role  # a warning box is an alert
    if not check:
        return window
    assert_every_control_named(window)
    # An alert's text is read as it opens; it takes focus only by a click (to select it).
    assert_tab_reaches_everything(screen, window,
                                  not_stops=("label",) if window.role == "alert" else ())
    return window


def closed_by_escape(screen: Screen) -> None:
    screen.keys("Escape")
    wait_state(screen, modal=None)


def change_password(screen: Screen) -> None:
    """Account > Change password… by keys: Alt+U opens the menu, P (once it is open) the
    dialog."""
    screen.keys("alt+u")
    wait_state(screen, menu="Account")
    screen.keys("p")
    wait_state(screen, modal="Change your password")


def assert_fits(screen: Screen, name: str) -> None:
    cut = screen.do("fit")
    screen.do("shot_active", path=str(SHOTS / f"a11y-large-{name}.png"))
    assert cut == [], f"{name} at {LARGE:g} pt cuts text: {cut}"


def test_invite_follow_up_amend_and_password_dialogs(
        open_desk: OpenDesk, hub: ThreadedHub, people: People, site_caller: SiteCaller,
        tmp_path: Path) -> None:
    screen = open_desk(hub.http, "nina", tmp_path)
    screen.do("sign_in", password=PASSWORD)
    wait_state(screen, screen="desk", hub_up=True)

    # History: Alt+F on a chosen record opens the follow-up check; Escape saves nothing,
    # Enter saves (Save is the default) what was chosen by keys.
    uuid = screen.do("seed_record")
    # Alt+H only once the desk has settled: the record is listed (with the hub's page: History
    # is the hub's now) and the desk's window holds the keyboard focus, on the queue. A press
    # sent while sign-in was still handing focus over went nowhere (the tab stayed Queue).
    wait_state(screen, history=1)
    screen.do("focus", widget="queue.table")
    wait_until(lambda: screen.do("active") and screen.focused() is not None, timeout=10,
               message=lambda: f"the desk's window to take the focus; it is {screen.focused()}")
    screen.keys("alt+h")
    wait_state(screen, tab="History", history=1)
    screen.do("focus", widget="history.table")
    screen.keys("Down")
    wait_state(screen, history_chosen=True)
    screen.keys("alt+f")
    follow = dialog(screen, "Follow-up check")
    assert {n.name for n in follow.find_all(role="check box")} == {
        "Unplanned A&E attendance since the call", "Unplanned admission since the call"}
    combo = follow.find(role="combo box")
    assert combo.relations.get("labelled-by") == ["Window"] or combo.name, combo
    screen.do("shot_active", path=str(SHOTS / "a11y-desk-follow-up.png"))
    closed_by_escape(screen)
    assert screen.do("follow_ups", uuid=uuid) == []
    screen.keys("alt+f")
    dialog(screen, "Follow-up check", check=False)
    screen.keys("Tab", "space", "Return")  # from the window choice to the A&E check box
    wait_state(screen, modal=None)
    checks = wait_until(lambda: screen.do("follow_ups", uuid=uuid), timeout=10)
    assert checks[0]["unplanned_attendance"] is True and checks[0]["window"] == "72h"

    # Amend (Alt+A): the record's own form in a dialog, focus in the reason for it.
    screen.keys("alt+a")
    amend = dialog(screen, "Amend record (now version 2)")
    reason = screen.focused()
    assert reason is not None and reason.role in ("text", "entry"), reason
    assert amend.find(role="push button", name="Sign the amendment")
    screen.do("shot_active", path=str(SHOTS / "a11y-desk-amend.png"))
    # Signing without a reason is refused out loud; Escape then leaves the record as it was.
    mark = screen.mark()
    screen.keys("ctrl+shift+s")
    said = screen.wait_announcement("", since=mark, politeness="assertive")
    assert "reason" in said.text.lower(), said
    closed_by_escape(screen)

    # Account > Change password… (Alt+U, P): a wrong entry is said at once; Escape cancels.
    change_password(screen)
    password = dialog(screen, "Change your password")
    assert {n.name for n in password.find_all(role="password text")} == {
        "Current password", "New password", "New password again"}
    assert password.find(role="heading").name == "Change your password"
    mark = screen.mark()
    screen.keys("Return")  # nothing typed: Set password is the default
    said = screen.wait_announcement("Enter your current password", since=mark)
    assert said.politeness == "assertive"
    error = screen.window().find(role="label", where=lambda n: n.description ==
                                 "Password problem")
    assert error.name == said.text
    focused = screen.focused()
    assert focused is not None and focused.name == "Current password"
    screen.do("shot_active", path=str(SHOTS / "a11y-desk-password.png"))
    closed_by_escape(screen)

    # Invite a specialist (Ctrl+I during a call): one named field, Escape invites nobody.
    site_caller.request("Wound not healing", urgency=p.Urgency.URGENT)
    wait_state(screen, queue=1)
    screen.keys("alt+q")
    wait_state(screen, tab="Queue")
    screen.do("focus", widget="queue.table")
    screen.keys("Return")
    wait_state(screen, tab="Call")
    screen.wait_announcement("Connected: Beech House", timeout=20)
    screen.keys("ctrl+i")
    invite = dialog(screen, "Invite a specialist")
    field = invite.find(role="text")
    assert field.name.rstrip(":") == "Note for the specialist (optional)", field.name
    screen.do("shot_active", path=str(SHOTS / "a11y-desk-invite.png"))
    closed_by_escape(screen)
    assert not screen.announcements(0) or all(
        "being rung" not in a.text for a in screen.announcements(0))
    # Typed and sent by Enter: said, politely (focus stays on the call).
    screen.keys("ctrl+i")
    dialog(screen, "Invite a specialist", check=False)
    mark = screen.mark()
    screen.keys(*"leg", "Return")
    said = screen.wait_announcement("Specialists are being rung", since=mark)
    assert said.politeness == "polite"


def test_second_step_and_the_accounts_screen(open_desk: OpenDesk, hub: ThreadedHub,
                                             hubdb: HubDatabase, tmp_path: Path) -> None:
    hubdb.staff("ada", "admin", password=PASSWORD)
    hubdb.staff("nina", "nurse", password=PASSWORD)
    hubdb.site("Beech House", "care_home")
    screen = open_desk(hub.http, "ada", tmp_path)
    mark = screen.mark()
    screen.do("sign_in", password=PASSWORD)

    # Setting up an app: the page is said; the QR code names itself and its text twin.
    said = screen.wait_announcement("Set up your authenticator app", since=mark, timeout=20)
    assert "scan this code or type the setup key" in said.text
    key = wait_until(lambda: screen.window().find(role="text", name="Setup key").text,
                     timeout=15, message="the setup key")
    enrol = screen.window()
    qr = enrol.find(where=lambda n: n.name.startswith("QR code for your authenticator app"))
    assert "setup key" in qr.name and qr.role in ("label", "image"), qr
    assert enrol.find(role="heading").name == "Set up your authenticator app"
    assert_every_control_named(enrol)
    assert_tab_reaches_everything(screen, enrol)
    screen.shot(SHOTS / "a11y-desk-second-factor-enrol.png")
    screen.do("focus", widget="second.enrol_code")
    mark = screen.mark()
    screen.keys(*"000000", "Return")
    said = screen.wait_announcement("", since=mark, politeness="assertive", timeout=15)
    problem = screen.window().find(role="label", where=lambda n: n.description ==
                                   "Set-up problem")
    assert problem.name == said.text and problem.name
    screen.do("focus", widget="second.enrol_code")
    screen.keys("ctrl+a", *totp.code_at(key.replace(" ", "")), "Return")

    # The recovery codes: Continue only once they are kept (Space on the check box).
    screen.wait_announcement("Your recovery codes", since=mark, timeout=15)
    codes = screen.window()
    box = codes.find(role="text", name="Recovery codes")
    assert box.text and len(box.text.split()) >= 8
    carry_on = codes.find(role="push button", name="Continue to the desk")
    assert "enabled" not in carry_on.states
    assert_every_control_named(codes)
    assert_tab_reaches_everything(screen, codes)
    screen.shot(SHOTS / "a11y-desk-second-factor-recovery.png")
    screen.do("focus", widget="second.kept")
    screen.keys("space", "Tab", "space")
    wait_state(screen, screen="admin")

    # The accounts screen: named tables Tab leaves, buttons that say what they act on.
    accounts = screen.window()
    assert accounts.name == "telehub desk — accounts"
    assert accounts.find(role="heading").name == "Accounts"
    assert {t.name for t in accounts.find_all(role="table")} == {
        "Staff", "Sites", "Recent changes to accounts"}
    assert_every_control_named(accounts)
    screen.do("focus", widget="admin.staff_table")
    assert_tab_reaches_everything(screen, accounts)
    screen.shot(SHOTS / "a11y-desk-accounts.png")

    # Disable asks first; Enter alone is Cancel there, and Escape too.
    screen.do("focus", widget="admin.staff_table")
    screen.keys("ctrl+Home", "Down")  # ada, then nina
    wait_until(lambda: screen.do("admin_selected") == "nina", timeout=5)
    screen.keys("alt+d")
    confirm = dialog(screen, "Please confirm")
    assert confirm.find(role="push button", name="Disable")
    assert confirm.find(role="label").name.startswith("Disable Nina (nina)?")
    focused = screen.focused()
    assert focused is not None and focused.name == "Cancel", (focused, screen.do("qt_focus"))
    mark = screen.mark()
    screen.keys("Return")
    wait_state(screen, modal=None)
    holds_for(lambda: not screen.announcements(mark), 1.0, "nothing happens")
    assert screen.do("admin_staff_active", username="nina") is True
    screen.keys("alt+d")
    dialog(screen, "Please confirm", check=False)
    closed_by_escape(screen)

    # Reset a password: a refusal by the hub's policy is said and leaves the dialog open.
    screen.keys("alt+r")
    reset = dialog(screen, "Reset the password of nina")
    assert "Current password" not in {n.name for n in reset.find_all(role="password text")}
    screen.do("focus", widget="admin.dialog.new")
    mark = screen.mark()
    screen.keys(*"short", "Tab", *"short", "Return")
    said = screen.wait_announcement("", since=mark, politeness="assertive", timeout=15)
    assert "characters" in said.text or "short" in said.text.lower(), said
    wait_state(screen, modal="Reset the password of nina")
    closed_by_escape(screen)

    # A site's new credential: asked first, then shown once in a named field a screen
    # reader reads (and a keyboard user can copy from); Escape closes it.
    screen.do("focus", widget="admin.site_table")
    screen.keys("ctrl+Home", "space")  # one site: Space chooses the row the cursor is on
    screen.keys("alt+c")
    confirm = dialog(screen, "Please confirm", check=False)
    assert confirm.find(role="push button", name="New credential")
    mark = screen.mark()
    screen.keys("alt+n")
    shown = dialog(screen, "New site credential")
    field = shown.find(role="text", name="Site credential")
    assert field.text and len(field.text) >= 16, "the credential is read out"
    assert "read-only" in field.states or "editable" not in field.states, field.states
    said = screen.wait_announcement("Beech House has a new credential", since=mark,
                                    timeout=15)
    assert "old one no longer works" in said.text
    screen.do("shot_active", path=str(SHOTS / "a11y-desk-site-credential.png"))
    closed_by_escape(screen)

    # The code page, at the next sign-in: a wrong code is said; Escape goes back.
    screen = open_desk(hub.http, "ada", tmp_path / "again")
    mark = screen.mark()
    screen.do("sign_in", password=PASSWORD)
    screen.wait_announcement("Second step", since=mark, timeout=20)
    code = screen.window()
    assert code.find(role="heading").name == "Second step"
    assert_every_control_named(code)
    assert_tab_reaches_everything(screen, code)
    screen.shot(SHOTS / "a11y-desk-second-factor-code.png")
    screen.do("focus", widget="second.code")
    mark = screen.mark()
    screen.keys(*"000000", "Return")
    said = screen.wait_announcement("", since=mark, politeness="assertive", timeout=15)
    assert screen.window().find(role="label", where=lambda n: n.description ==
                                "Code problem").name == said.text
    screen.keys("Escape")
    wait_state(screen, screen="signin")


def test_a_specialist_hears_an_invitation_and_reads_the_queue(
        open_desk: OpenDesk, hub: ThreadedHub, people: People, site_caller: SiteCaller,
        make_engine: Any, engine_loop: Any, tmp_path: Path) -> None:
    screen = open_desk(hub.http, "sam", tmp_path)
    screen.do("sign_in", password=PASSWORD)
    wait_state(screen, screen="desk", hub_up=True, tab="Invitations")
    nurse = make_engine(people.nurse, CallRole.NURSE)
    site = site_caller.request("Wound not healing", urgency=p.Urgency.URGENT)

    async def answer_and_invite() -> bool:
        session = await nurse.claim(site.call_id)
        await session.invite_specialist("leg ulcer, please look")
        return True

    mark = screen.mark()
    wait_until(lambda: site.call_id, timeout=10, message="the hub to queue the call")
    wait_until(lambda: engine_loop.run(answer_and_invite()), timeout=10,
               ignoring=(InvalidStateError,), message="the nurse to claim and invite")
    said = screen.wait_announcement("invitation from Beech House", since=mark, timeout=20)
    assert said.politeness == "polite" and "leg ulcer, please look" in said.text
    wait_state(screen, queue=1)
    queue = screen.window()
    table = queue.find(role="table", name="Invitations")
    cells = {c.name for c in table.find_all(role="table cell")}
    assert "Beech House\ncare home" in cells and "URGENT" in cells, cells
    assert "Wound not healing (from Nina) — note: leg ulcer, please look" in cells
    assert queue.find(role="heading").name == "1 invitation"
    assert queue.find(role="push button", name="Decline the selected invitation")
    assert queue.find(role="push button", name="Join the call of the selected invitation")
    assert "joins its call" in table.description
    screen.do("focus", widget="tabs")
    wait_until(lambda: getattr(screen.focused(), "role", None) == "page tab list",
               timeout=10, message=lambda: f"focus on the tabs; it is on {screen.focused()}")
    assert_every_control_named(queue)
    assert_tab_reaches_everything(screen, queue)
    screen.shot(SHOTS / "a11y-desk-invitations.png")


def test_second_step_accounts_and_password_at_a_large_system_font(
        open_desk: OpenDesk, hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path) -> None:
    hubdb.staff("ada", "admin", password=PASSWORD)
    screen = open_desk(hub.http, "ada", tmp_path, font_pt=LARGE)
    screen.do("sign_in", password=PASSWORD)
    wait_state(screen, screen="second_factor")
    key = wait_until(lambda: screen.window().find(role="text", name="Setup key").text,
                     timeout=15, message="the setup key")
    assert_fits(screen, "second-factor-enrol")
    screen.do("focus", widget="second.enrol_code")
    screen.keys(*totp.code_at(key.replace(" ", "")), "Return")
    wait_state(screen, second_page=2)
    assert_fits(screen, "second-factor-recovery")
    screen.do("focus", widget="second.kept")
    screen.keys("space", "Tab", "space")
    wait_state(screen, screen="admin")
    assert_fits(screen, "accounts")
    screen.do("focus", widget="admin.staff_table")
    change_password(screen)
    wait_state(screen, modal="Change your password")
    assert_fits(screen, "password")
    closed_by_escape(screen)
