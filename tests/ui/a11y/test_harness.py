"""The AT-SPI harness itself, on a small form: the tree as the bus shows it, real Tab and
Shift+Tab presses, and announcements with their politeness, so a failing screen test points
at the screen, not at the harness."""

from __future__ import annotations

from tests.helpers.atspi import A11yBus

SAMPLE = "tests.ui.a11y.sample_program"


def test_the_reader_sees_names_roles_and_states_through_the_bus(a11y_bus: A11yBus) -> None:
    with a11y_bus.launch(SAMPLE) as screen:
        window = screen.window()
        assert window.name == "Harness sample"
        assert window.find(role="label").name == "NEWS2 7"
        field = window.find(role="text", name="Patient name")
        assert {"editable", "focusable", "focused"} <= field.states
        assert window.find(role="table", name="Waiting calls").child_count > 4
        assert [b.name for b in window.find_all(role="push button")] == ["Answer", "Decline"]
        assert screen.focused() == field


def test_real_tab_presses_walk_the_focus_order_both_ways(a11y_bus: A11yBus) -> None:
    with a11y_bus.launch(SAMPLE) as screen:
        forward = [n.name for n in screen.tab_order()]
        assert forward == ["Waiting calls", "Answer", "Decline", "Patient name"]
        backward = [n.name for n in screen.tab_order(backwards=True)]
        assert backward == ["Decline", "Answer", "Waiting calls", "Patient name"]


def test_announcements_arrive_with_their_politeness(a11y_bus: A11yBus) -> None:
    with a11y_bus.launch(SAMPLE) as screen:
        mark = screen.mark()
        screen.do("announce", text="Emergency call waiting", assertive=True)
        screen.do("announce", text="Hub connection back")
        assert screen.wait_announcement("Emergency", since=mark).politeness == "assertive"
        assert screen.wait_announcement("Hub connection", since=mark).politeness == "polite"
        assert screen.announcements(screen.mark()) == []
