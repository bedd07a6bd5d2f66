"""The site station read as Orca reads it, through the AT-SPI bus, and driven by real keys:
every page's names, roles, states, Tab and Shift+Tab order, and what it announces, over a
whole call that a real aiortc desk answers and ends (tests/helpers/atspi.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.atspi import A11yBus, Node, Screen
from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.waiting import holds_for, wait_until
from tests.ui.station.conftest import Desk

pytestmark = pytest.mark.slow
PROGRAM = "tests.ui.station.atspi_station"

# The pre-call page's Tab order from the reason box, as a screen reader names each stop.
# A combo box's name on Linux is its value (Qt), so those stops say their value here;
# their labels come by the labelled-by relation (checked below).
DETAILS_ORDER = [
    ("check box", "Emergency (how urgent)"), ("check box", "Urgent (how urgent)"),
    ("check box", "Routine (how urgent)"), ("combo box", "Not a listed resident"),
    ("text", "New resident's name"), ("text", "New resident's NHS number (if known)"),
    ("text", "New resident's date of birth, YYYY-MM-DD"), ("push button", "Add resident"),
    ("push button", "Resident's details: usual observations, ReSPECT and DNACPR"),
    ("text", "Breaths / min"), ("text", "SpO2 %"), ("text", "Systolic BP"),
    ("text", "Pulse / min"), ("text", "Temperature °C"), ("combo box", "Not said"),
    ("combo box", "Not said"), ("combo box", "Scale 1"),
    *[("check box", sign) for sign in (
        "New shortness of breath", "Unsteadiness or falls", "More distressed", "Withdrawn",
        "Increased tiredness", "Restlessness", "Change in appetite", "Change in mobility",
        "Change in confusion", "Change in bowel habit", "Change in urinary habit")],
    ("combo box", "Not said"), ("push button", "Check again"), ("push button", "Back"),
    ("push button", "Call now"), ("text", "Reason for the call (needed)"),
]
# Each combo box and field is labelled by its own visible label (besides its group's title).
LABELS = {"Not a listed resident": "Who is the call about?",
          "New resident's name": "New resident's name",
          "New resident's NHS number (if known)": "NHS number (if known)",
          "Breaths / min": "Breaths / min", "Temperature °C": "Temperature °C",
          "Scale 1": "SpO2 scale"}


def stops(nodes: list[Node]) -> list[tuple[str, str]]:
    return [(n.role, n.name) for n in nodes]


def page(screen: Screen) -> str:
    return str(screen.do("page")["page"])


def on_page(screen: Screen, name: str, timeout: float = 15) -> None:
    wait_until(lambda: page(screen) == name, timeout, f"the station to show its {name}")


def focused_on(screen: Screen, role: str, contains: str) -> Node:
    return wait_until(lambda: (n := screen.focused()) is not None and n.role == role
                      and contains in n.name and n, 5,
                      lambda: f"focus on the {role} {contains!r}; it is on {screen.focused()}")


def both_ways(screen: Screen) -> list[tuple[str, str]]:
    """The Tab order from the focus, checked against Shift+Tab's (the same, reversed)."""
    forward = stops(screen.tab_order())
    backward = stops(screen.tab_order(backwards=True))
    assert forward and forward[-1] == backward[-1], (forward, backward)
    assert backward[:-1] == forward[:-1][::-1], (forward, backward)
    return forward


def test_a_whole_call_by_keyboard_as_a_screen_reader_reads_it(
    a11y_bus: A11yBus, hub: ThreadedHub, hubdb: HubDatabase, desk: Desk, tmp_path: Path,
) -> None:
    site = hubdb.site("Beech House")
    assert site.credential is not None
    with a11y_bus.launch(PROGRAM, hub.http, site.credential, str(tmp_path)) as screen:
        wait_until(lambda: screen.do("page")["connected"], 15, "the station to connect")
        # Home: the site, the connection in words, focus on the one thing to do.
        home = screen.window()
        assert home.name == "telehub – Beech House"
        assert home.find(role="heading", name="Beech House")
        assert home.find(role="label", where=lambda n: n.name.startswith("Connected to"))
        call = focused_on(screen, "push button", "Call the hub")
        assert {"focusable", "enabled"} <= call.states
        screen.wait_announcement("Connected to the hub", politeness="polite")
        screen.shot(SHOTS / "station-atspi-home.png")

        # The pre-call page: focus in the reason; every stop named; Tab leaves the reason.
        screen.keys("space")
        on_page(screen, "DetailsPage")
        reason = focused_on(screen, "text", "Reason for the call")
        assert {"editable", "multi-line"} <= reason.states
        assert reason.relations["labelled-by"] == ["Reason for the call (needed)"]
        assert both_ways(screen) == DETAILS_ORDER
        details = screen.window()
        assert details.find(role="heading", name="Before the call")
        for node in details.find_all(where=lambda n: n.role in ("text", "combo box")):
            want = LABELS.get(node.name)
            if want is not None:
                assert want in node.relations.get("labelled-by", []), node
        bad = [n for n in details.find_all() if n.focusable and not n.name]
        assert bad == [], bad
        # The five observation fields: five names, none the group's title.
        fields = [n.name for n in details.find_all(
            role="text", where=lambda n: n.parent_name == "Observations (optional)"
            or "Observations (optional)" in n.relations.get("labelled-by", []))]
        assert fields == ["Breaths / min", "SpO2 %", "Systolic BP", "Pulse / min",
                          "Temperature °C"]
        screen.keys("F", "a", "l", "l", "Tab")
        emergency = focused_on(screen, "check box", "Emergency")
        typed = screen.window().find(role="text", name="Reason for the call (needed)")
        assert typed.text == "Fall"  # no tab character went into it
        screen.keys("space")
        wait_until(lambda: "checked" in (screen.focused() or emergency).states, 5,
                   "Emergency to be pressed")
        urgent = screen.window().find(role="check box", name="Urgent (how urgent)")
        assert "checked" not in urgent.states  # one of three
        screen.shot(SHOTS / "station-atspi-details.png")

        # "Call now" by Shift+Tab twice and Space: focus lands on the place in the queue, so
        # the same key pressed again cancels nothing.
        mark = screen.mark()
        screen.keys("shift+Tab", "shift+Tab")
        focused_on(screen, "push button", "Call now")
        screen.keys("space")
        on_page(screen, "WaitingPage")
        place = focused_on(screen, "label", "")
        assert place.name in ("Asking for a nurse…", "You are next")
        screen.wait_announcement("Calling the hub", since=mark, politeness="assertive")
        screen.wait_announcement("You are next", since=mark, politeness="assertive")
        wait_until(lambda: len(desk.queue) == 1, 10, "the call in the desk's queue")
        screen.keys("space")
        holds_for(lambda: page(screen) == "WaitingPage" and len(desk.queue) == 1, 0.8,
                  "a second Space leaves the call waiting")
        assert screen.window().find(role="label", name="You are next")
        assert both_ways(screen) == [("push button", "Cancel the call"),
                                     ("label", "You are next")]
        screen.shot(SHOTS / "station-atspi-waiting.png")

        # A nurse answers: said at once (an emergency interrupts), focus on the call's title.
        mark = screen.mark()
        call_id = desk.queue[0].call_id
        desk.run(desk.engine.claim(call_id))
        on_page(screen, "CallPage")
        screen.wait_announcement("A nurse has answered", since=mark, politeness="assertive")
        focused_on(screen, "heading", "In a call with the hub")
        screen.keys("space")
        holds_for(lambda: page(screen) == "CallPage", 0.8, "Space on the title ends nothing")
        assert both_ways(screen) == [("check box", "Mute"), ("check box", "Camera off"),
                                     ("push button", "End call"),
                                     ("text", "Message to the nurse"),
                                     ("push button", "Send the message to the nurse"),
                                     ("heading", "In a call with the hub")]
        # Mute by keyboard: the button says what it does now and that it is pressed.
        assert screen.press("Tab") is not None
        focused_on(screen, "check box", "Mute")
        screen.keys("space")
        muted = wait_until(lambda: (n := screen.focused()) is not None and n.name == "Unmute"
                           and n, 5, "the mute button to say Unmute")
        assert "checked" in muted.states
        screen.shot(SHOTS / "station-atspi-call.png")

        # The nurse ends the call: said, and focus on how it ended.
        mark = screen.mark()
        desk.run(desk.engine.hang_up(call_id))
        on_page(screen, "PlanPage")
        screen.wait_announcement("The call has ended", since=mark, politeness="assertive")
        focused_on(screen, "heading", "The call has ended")
        order = both_ways(screen)
        assert order[-2:] == [("push button", "Done"), ("heading", "The call has ended")]
        assert order[0][1] == "The plan"  # Print and Save wait for a plan (disabled)
        printing = screen.window().find(role="push button", name="Print")
        assert not {"enabled", "sensitive"} & printing.states
        screen.shot(SHOTS / "station-atspi-plan.png")
        screen.keys("shift+Tab", "space")
        on_page(screen, "HomePage")
        focused_on(screen, "push button", "Call the hub")
