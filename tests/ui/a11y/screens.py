"""What every screen of the AT-SPI tests must pass, read from the bus: each control has a
name, Tab and Shift+Tab walk a closed loop through every control and out of every table."""

from __future__ import annotations

from typing import Any

from tests.helpers.atspi import Node, Screen
from tests.helpers.waiting import wait_until

# Objects inside a table (cells, headers), a list (a combo box's items) or a tab bar (its
# tabs) are walked with the arrow keys, not with Tab.
IN_TABLE = ("table cell", "table column header", "table row header", "column header",
            "row header")
ARROW_KEYED = (*IN_TABLE, "list item", "page tab")
ANY_ROLE_NAME_OPTIONAL = ("scroll bar",)
# A focusable container hands focus on to a child (a tab widget to its tab bar): named, but
# not a Tab stop of its own.
CONTAINERS = ("filler", "panel")


def controls(window: Node) -> list[Node]:
    """Every control a keyboard user reaches with Tab: showing, enabled, focusable, not
    inside a table, list or tab bar."""
    return [n for n in window.walk()
            if {"showing", "enabled", "focusable"} <= n.states and n.role not in ARROW_KEYED
            and n.parent_role != "table" and n.role not in ANY_ROLE_NAME_OPTIONAL]


def assert_every_control_named(window: Node) -> list[Node]:
    found = controls(window)
    unnamed = [(n.role, n.description, n.text, f"child {n.index} of {n.parent_role} "
                f"{n.parent_name!r}", f"{n.child_count} children") for n in found
               if not n.name.strip()]
    assert not unnamed, f"controls a screen reader reads without a name: {unnamed}"
    return found


def assert_tab_reaches_everything(screen: Screen, window: Node,
                                  not_stops: tuple[str, ...] = ()) -> list[Node]:
    """Tab from where focus is goes round every control and comes back; Shift+Tab goes
    the same way back; no stop is inside a table (Tab left every table). ``not_stops``:
    roles that take focus by a click only (a message box's selectable text, which a screen
    reader reads as the alert opens)."""
    start = screen.focused()
    assert start is not None, "nothing has focus"
    found = [n for n in controls(window) if n.role not in not_stops]
    # One press per control is enough to come round (focusable containers hand focus on,
    # so a loop may be shorter): the walk is cut where it first comes back to the start.
    forward = _until(screen.tab_walk(len(found)), start)
    names = [f"{n.role} {n.name!r}" for n in forward]
    assert not [n for n in forward if n.role in IN_TABLE], f"Tab stayed in a table: {names}"
    reached = {n.path for n in forward}
    missed = [f"{n.role} {n.name!r}" for n in found
              if n.path not in reached and n.role not in CONTAINERS]
    assert not missed, (f"Tab never reaches {missed}; it went {names}; focus is now on "
                        f"{screen.do('qt_focus')}")
    assert forward[-1].path == start.path, (
        f"Tab from {start.role} {start.name!r} did not come back: {names}; the program says "
        f"focus is on {screen.do('qt_focus')}")
    # Back to the start first (the walk may have gone past it), then Shift+Tab round.
    screen.tab_walk(len(found) - len(forward), backwards=True)
    backward = _until(screen.tab_walk(len(found), backwards=True), start)
    assert [n.path for n in backward[:-1]] == [n.path for n in reversed(forward[:-1])], (
        names, [f"{n.role} {n.name!r}" for n in backward])
    return forward


def _until(stops: list[Node], start: Node) -> list[Node]:
    """The walk up to and with its first return to ``start``."""
    for n, node in enumerate(stops):
        if node.path == start.path:
            return stops[:n + 1]
    return stops


def wait_state(program: Screen, timeout: float = 20.0, **want: Any) -> dict[str, Any]:
    """Waits until the program's own state shows ``want`` (screen="desk", queue=1...)."""
    seen: dict[str, Any] = {}

    def there() -> dict[str, Any] | None:
        seen.update(program.do("state"))
        return seen if all(seen.get(k) == v for k, v in want.items()) else None

    return wait_until(there, timeout=timeout, interval=0.05,
                      message=lambda: f"the program to show {want}; it shows {seen}")
