"""The manager's dashboard as Orca meets it: the real desk program signed in as a manager,
over the hand-counted report history (tests/helpers/report_fixture.py), read through the
AT-SPI bus and driven by real keys: six named tables, tiles that say their figure, Tab out
of every table, and the drill-downs from a table cell and a chart bar by keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import report_fixture as fx
from tests.helpers import totp
from tests.helpers.atspi import Screen
from tests.helpers.fixtures import SHOTS, STEADY
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from tests.ui.a11y.conftest import OpenDesk
from tests.ui.a11y.screens import (
    assert_every_control_named,
    assert_tab_reaches_everything,
    wait_state,
)

pytestmark = pytest.mark.slow
TABLES = {"By setting", "Claims", "Outcomes", "Sites", "Savings", "Records behind a figure"}


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    return STEADY


def dashboard(open_desk: OpenDesk, hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path,
              font_pt: float | None = None) -> Screen:
    fx.seed(hubdb)
    hubdb.staff("meg", "manager", password=PASSWORD)
    with httpx.Client(base_url=hub.http, timeout=20) as http:  # a manager has a second factor
        secret, _codes, _answer = totp.enrol(http, "meg")
    screen = open_desk(hub.http, "meg", tmp_path, font_pt=font_pt)
    screen.do("sign_in", password=PASSWORD)
    wait_state(screen, screen="second_factor")
    screen.do("code", code=totp.code_at(secret, 1))  # the enrolment used the current step
    wait_state(screen, screen="manager", report=True)
    screen.do("period", start="2025-01-01", end="2025-02-28")
    wait_state(screen, calls="10")
    return screen


def test_the_dashboard_by_keyboard_and_screen_reader(open_desk: OpenDesk, hub: ThreadedHub,
                                                     hubdb: HubDatabase,
                                                     tmp_path: Path) -> None:
    screen = dashboard(open_desk, hub, hubdb, tmp_path)
    window = screen.window()
    assert window.name == "telehub desk — manager"
    assert {t.name for t in window.find_all(role="table", showing=False)} == TABLES
    tiles = {b.name for b in window.find_all(role="push button")}
    assert {"Calls: 10", "No outcome recorded: 1",
            "Admissions confirmed: 1 of 2"} <= tiles, tiles
    chart = window.find(name=None, where=lambda n: n.name.startswith(
        "Calls by month and setting."))
    assert "focusable" in chart.states and "Enter" in chart.description
    assert {h.name for h in window.find_all(role="heading")} == {
        "Calls by month and setting", "Admissions, A&E and transfers avoided: follow-up",
        "Time to answer (answered calls)"}
    assert_every_control_named(window)
    assert_tab_reaches_everything(screen, window)
    screen.shot(SHOTS / "a11y-manager.png")

    # A cell of the claims table by keyboard: withdrawn admissions (R6).
    screen.keys("alt+c")
    screen.do("focus", widget="manager.claims")
    for key in ("ctrl+Home", "Right", "Right", "Right"):
        cell = screen.press(key)
    assert cell is not None and cell.role == "table cell" and cell.name == "1"
    mark = screen.mark()
    screen.keys("Return")
    said = screen.wait_announcement("Records behind withdrawn: admission", since=mark)
    assert said.text.endswith("1 of 1")
    wait_state(screen, drill_rows=1, tab="Records behind a figure")

    # A bar of the calls chart: Right/Left move the bar (its name says which), Space
    # lists the calls behind it.
    screen.do("focus", widget="manager.calls_view")
    start = screen.focused()
    assert start is not None and start.name.startswith("Calls by month and setting.")
    screen.keys("Up")  # the series before the first: the last, home (Gold Line)
    home = screen.focused()
    assert home is not None and "Home (Gold Line), Feb 25: 2" in home.name, home.name
    mark = screen.mark()
    screen.keys("space")
    said = screen.wait_announcement("Records behind calls — Feb 25, Home", since=mark)
    assert said.text.endswith("2 of 2")  # c8 answered, c9 still waiting
    wait_state(screen, drill_rows=2)
