"""The nurse desk as Orca meets it: the real desk program on Xvfb, read through the AT-SPI
bus, driven by real key presses, against a real hub and a real caller's engine.

Sign-in, the queue, the call with its triage form and the history: every control named,
labels read as what they show, Tab and Shift+Tab through every control and out of every
table, and the announcements (a call arriving, an emergency assertively, the NEWS2 band
changing, the hub lost and back, sign-in and sign-off errors)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.contract import signaling as p
from tests.helpers.atspi import Screen
from tests.helpers.fixtures import SHOTS, STEADY, People
from tests.helpers.hubserver import PASSWORD, ThreadedHub
from tests.helpers.tcprelay import TcpRelay
from tests.helpers.waiting import wait_until
from tests.ui.a11y.conftest import OpenDesk
from tests.ui.a11y.screens import (
    assert_every_control_named,
    assert_tab_reaches_everything,
    wait_state,
)
from tests.ui.conftest import PRE_CALL, SiteCaller

pytestmark = pytest.mark.slow


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    return STEADY  # the desk is a separate GUI process on a loaded machine


@pytest.fixture
def relay(hub: ThreadedHub) -> Iterator[TcpRelay]:
    """The desk reaches the hub through a relay the test can cut (the hub lost)."""
    relay = TcpRelay(hub.port)
    yield relay
    relay.close()


def focus_on(screen: Screen, path: str, what: str) -> None:
    wait_until(lambda: getattr(screen.focused(), "path", None) == path, timeout=10,
               message=lambda: f"focus on {what}; it is on {screen.focused()}")


def test_sign_in_screen_names_tab_order_and_its_error(open_desk: OpenDesk, hub: ThreadedHub,
                                                     people: People, tmp_path: Path) -> None:
    screen = open_desk(hub.http, "nina", tmp_path)
    window = screen.window()
    assert window.name == "telehub desk"
    assert {n.name for n in assert_every_control_named(window)} >= {
        "Hub address", "User name", "Password", "Sign in"}
    assert window.find(role="password text").name == "Password"
    assert window.find(role="heading").name == "telehub desk"
    assert_tab_reaches_everything(screen, window)
    screen.shot(SHOTS / "a11y-desk-signin.png")

    mark = screen.mark()
    screen.do("sign_in", password="not the password")
    said = screen.wait_announcement("", since=mark, politeness="assertive")
    error = screen.window().find(role="label", where=lambda n: n.description ==
                                 "Sign-in problem")
    assert error.name == said.text and error.name  # the label reads as what it shows
    assert "password" in error.name.lower()


def test_queue_call_and_triage_through_the_bus(open_desk: OpenDesk, relay: TcpRelay,
                                              people: People, site_caller: SiteCaller,
                                              tmp_path: Path) -> None:
    screen = open_desk(relay.http, "nina", tmp_path)
    screen.do("sign_in", password=PASSWORD)
    wait_state(screen, screen="desk", hub_up=True)
    queue = screen.window()
    table = queue.find(role="table", name="Waiting calls")
    # The queue's heading (the chat and the held calls beside it have their own).
    assert queue.find(role="heading", name="No calls waiting")
    assert "Enter" in table.description
    focus_on(screen, table.path, "the queue table at sign-in")
    assert_every_control_named(queue)
    assert_tab_reaches_everything(screen, queue)

    # An emergency arrives: said at once, interrupting; the row reads its words.
    mark = screen.mark()
    site_caller.request("Not breathing properly", urgency=p.Urgency.EMERGENCY,
                        observations=PRE_CALL,
                        patient=p.Patient(nhs_number="9434765919", name="Edith Test"))
    said = screen.wait_announcement("Emergency call from Beech House", since=mark)
    assert said.politeness == "assertive" and "Not breathing properly" in said.text
    assert "NEWS2" in said.text
    wait_state(screen, queue=1)
    cells = screen.window().find(role="table", name="Waiting calls").find_all(
        role="table cell")
    assert {"EMERGENCY", "Not breathing properly"} <= {c.name for c in cells}
    screen.shot(SHOTS / "a11y-desk-queue.png")

    # Enter on the focused row answers it (a real key press).
    screen.do("focus", widget="queue.table")
    mark = screen.mark()
    screen.keys("Return")
    wait_state(screen, tab="Call")
    screen.wait_announcement("Connected: Beech House", since=mark, timeout=20)
    call = screen.window()
    # The call's own heading (the patient context beside the form and the call's messages
    # have headings of their own).
    title = call.find(role="heading", where=lambda n: n.description == "Caller")
    assert title.name == "Beech House · care home · emergency" and title.description == "Caller"
    end = call.find(role="push button", name="End the call")
    assert "enabled" in end.states
    focus_on(screen, end.path, "End the call once the call is answered")
    timer = call.find(role="label", where=lambda n: n.name.startswith("Call time "))
    assert timer.name[len("Call time "):].replace(":", "").isdigit()
    total = call.find(role="label", where=lambda n: n.description == "NEWS2 total")
    assert total.name.startswith("NEWS2 ") and total.name[5:].strip()[:1].isdigit()
    band = call.find(role="label", where=lambda n: n.description ==
                     "NEWS2 band and response")
    assert band.name.startswith("Band ")
    pulse_score = call.find(role="label",
                            where=lambda n: n.name.startswith("Pulse sub-score "))
    assert pulse_score.name[-1].isdigit()
    people_label = call.find(role="label", where=lambda n: n.description ==
                             "People in the call")
    assert people_label.name.startswith("In the call: ")
    nhs = call.find(role="label", where=lambda n: n.name.startswith("NHS number check:"))
    assert "valid 943 476 5919" in nhs.name
    assert_every_control_named(call)
    assert_tab_reaches_everything(screen, call)

    # Typing a pulse of 131 makes the band high: announced, assertively.
    screen.do("focus", widget="triage.obs.pulse")
    mark = screen.mark()
    screen.keys("ctrl+a", "BackSpace", "1", "3", "1")
    said = screen.wait_announcement("Band high", since=mark)
    assert said.politeness == "assertive" and said.text.startswith("NEWS2 ")
    assert screen.window().find(role="label", where=lambda n: n.name.startswith(
        "Pulse sub-score ")).name == "Pulse sub-score 3"
    screen.shot(SHOTS / "a11y-desk-call.png")

    # The hub lost, then back: each said once.
    mark = screen.mark()
    relay.cut()
    lost = screen.wait_announcement("Not connected to the hub", since=mark, timeout=20)
    assert lost.politeness == "assertive"
    banner = screen.window().find(role="label", where=lambda n: n.description ==
                                  "Connection warning")
    assert banner.name.startswith("Not connected to the hub")
    relay.restore()
    back = screen.wait_announcement("Connected to the hub again", since=mark, timeout=30)
    assert back.politeness == "polite"

    # Ctrl+E ends the call, even from a text field (which on Linux would take Ctrl+E as
    # "end of line"); signing off without an outcome is refused out loud.
    mark = screen.mark()
    screen.keys("ctrl+e")
    screen.wait_announcement("Call ended", since=mark, timeout=20)
    wait_state(screen, current=None)
    mark = screen.mark()
    screen.keys("ctrl+shift+s")
    said = screen.wait_announcement("Before signing", since=mark)
    assert said.politeness == "assertive"
    problem = screen.window().find(role="label", where=lambda n: n.description ==
                                   "Sign-off problems")
    assert problem.name == said.text

    # The intended action and the outcome chosen by keys, then signed off: focus goes back
    # to the queue (no trap: Tab leaves it), and History lists the record.
    for combo in ("triage.intended", "triage.outcome"):
        screen.do("focus", widget=combo)
        screen.keys("Down")
    screen.keys("ctrl+shift+s")
    wait_state(screen, closed=True, tab="Queue")
    focus_on(screen, table.path, "the queue table after the sign-off")
    screen.keys("alt+h")
    wait_state(screen, tab="History")
    history = screen.window()
    table = history.find(role="table", name="Past encounters")
    assert "signed off v1" in {c.name for c in table.find_all(role="table cell")}
    assert_every_control_named(history)
    assert_tab_reaches_everything(screen, history)
    screen.shot(SHOTS / "a11y-desk-history.png")
