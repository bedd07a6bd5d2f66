"""The screen-reader side of the AT-SPI harness: a small agent that reads the accessibility
bus the way Orca does (libatspi through GObject introspection) and answers the test over a
pipe, one JSON object a line.

It runs under Debian's /usr/bin/python3 (python3-gi, gir1.2-atspi-2.0), not the project's
venv, and in a process of its own: a synchronous AT-SPI call into a Qt program from inside
that program's event loop can deadlock, and the venv has no PyGObject. It imports nothing
of telehub. Requests: {"id": n, "op": ..., ...}; answers: {"id": n, "result": ...} or
{"id": n, "error": "..."}. Events (focus changes, announcements) are collected as they
arrive, while the GLib main loop runs, and handed out by "events"."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi, GLib  # noqa: E402

# A table can hold thousands of cells; a tree walk reads at most this many children of one
# object (the rest are counted, not read), and stops this deep.
MAX_CHILDREN = 80
MAX_DEPTH = 40
EVENTS = ("object:state-changed:focused", "object:announcement", "object:state-changed:showing")


def _safe(call: Any, default: Any = "") -> Any:
    try:
        return call()
    except GLib.Error:
        return default


def _states(acc: Atspi.Accessible) -> list[str]:
    states = _safe(acc.get_state_set, None)
    if states is None:
        return []
    return sorted(s.value_nick for s in states.get_states())


def _text(acc: Atspi.Accessible) -> str | None:
    text = _safe(acc.get_text_iface, None)
    if text is None:
        return None
    count = _safe(text.get_character_count, 0)
    return str(_safe(lambda: text.get_text(0, min(count, 2000)), ""))


def _value(acc: Atspi.Accessible) -> float | None:
    value = _safe(acc.get_value_iface, None)
    return None if value is None else float(_safe(value.get_current_value, 0.0))


def _actions(acc: Atspi.Accessible) -> list[str]:
    action = _safe(acc.get_action_iface, None)
    if action is None:
        return []
    return [str(_safe(lambda i=i: action.get_action_name(i))) for i in
            range(_safe(action.get_n_actions, 0))]


def _relations(acc: Atspi.Accessible) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rel in _safe(acc.get_relation_set, []) or []:
        kind = rel.get_relation_type().value_nick
        # One set may hold several relations of a kind (Qt: a buddy label and the group
        # box around the widget are two labelled-by relations): keep every target.
        found.setdefault(kind, []).extend(str(_safe(rel.get_target(i).get_name))
                                          for i in range(rel.get_n_targets()))
    return found


def describe(acc: Atspi.Accessible) -> dict[str, Any]:
    """One object as a screen reader sees it (no children)."""
    parent = _safe(acc.get_parent, None)
    return {
        "name": str(_safe(acc.get_name)),
        "role": str(_safe(acc.get_role_name)),
        "description": str(_safe(acc.get_description)),
        "states": _states(acc),
        "text": _text(acc),
        "value": _value(acc),
        "actions": _actions(acc),
        "relations": _relations(acc),
        "index": int(_safe(acc.get_index_in_parent, -1)),
        "path": str(_safe(lambda: acc.path, "")),
        "parent": None if parent is None else {"name": str(_safe(parent.get_name)),
                                               "role": str(_safe(parent.get_role_name))},
    }


def walk(acc: Atspi.Accessible, depth: int = 0) -> dict[str, Any]:
    node = describe(acc)
    count = int(_safe(acc.get_child_count, 0))
    node["child_count"] = count
    kids = []
    if depth < MAX_DEPTH:
        for i in range(min(count, MAX_CHILDREN)):
            child = _safe(lambda i=i: acc.get_child_at_index(i), None)
            if child is not None:
                kids.append(walk(child, depth + 1))
    node["children"] = kids
    return node


class Reader:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.listener = Atspi.EventListener.new(self.on_event)
        for kind in EVENTS:
            self.listener.register(kind)

    def on_event(self, event: Atspi.Event) -> None:
        source = event.source
        record: dict[str, Any] = {
            "type": event.type, "detail1": event.detail1, "detail2": event.detail2,
            "pid": int(_safe(source.get_process_id, -1)), "at": time.monotonic(),
        }
        if event.type == "object:announcement":
            data = event.any_data
            record["text"] = data if isinstance(data, str) else str(data)
            record["politeness"] = {1: "polite", 2: "assertive"}.get(event.detail1,
                                                                      str(event.detail1))
        elif event.type == "object:state-changed:focused" and event.detail1 != 1:
            return  # focus leaving an object: the one gaining it sends its own event
        elif event.type == "object:state-changed:showing":
            return self._note_showing(record, source)
        record["source"] = describe(source)
        self.events.append(record)

    def _note_showing(self, record: dict[str, Any], source: Atspi.Accessible) -> None:
        # Only windows and dialogs appearing: a screen reader reads a new dialog's name.
        role = str(_safe(source.get_role_name))
        if role in ("dialog", "alert", "window", "frame") and record["detail1"] == 1:
            record["source"] = describe(source)
            self.events.append(record)

    def app(self, pid: int) -> Atspi.Accessible | None:
        desktop = Atspi.get_desktop(0)
        for i in range(desktop.get_child_count()):
            app = _safe(lambda i=i: desktop.get_child_at_index(i), None)
            if app is not None and _safe(app.get_process_id, -1) == pid:
                return app
        return None

    def handle(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "ping":
            return "pong"
        if op == "apps":
            desktop = Atspi.get_desktop(0)
            return [{"name": str(_safe(desktop.get_child_at_index(i).get_name)),
                     "pid": int(_safe(desktop.get_child_at_index(i).get_process_id, -1))}
                    for i in range(desktop.get_child_count())]
        if op == "tree":
            app = self.app(int(request["pid"]))
            return None if app is None else walk(app)
        if op == "events":
            start = int(request.get("since", 0))
            return {"events": self.events[start:], "next": len(self.events)}
        if op == "focused":
            app = self.app(int(request["pid"]))
            return None if app is None else self._focused(app)
        raise ValueError(f"unknown op {op!r}")

    def _focused(self, acc: Atspi.Accessible, found: list[dict[str, Any]] | None = None,
                 depth: int = 0) -> list[dict[str, Any]]:
        # Every object whose state set holds "focused", looked up by walking the showing
        # part of the tree (what Orca does when it has missed the focus event). Qt can leave
        # the state on more than one (a tab bar's current tab): the test picks by events.
        found = [] if found is None else found
        states = _states(acc)
        if "focused" in states:
            found.append(describe(acc))
        if depth >= MAX_DEPTH or (depth > 1 and "showing" not in states):
            return found
        for i in range(min(int(_safe(acc.get_child_count, 0)), MAX_CHILDREN)):
            child = _safe(lambda i=i: acc.get_child_at_index(i), None)
            if child is not None:
                self._focused(child, found, depth + 1)
        return found


def main() -> int:
    Atspi.init()
    reader = Reader()
    loop = GLib.MainLoop()

    pending = b""

    def on_input(channel: GLib.IOChannel, condition: GLib.IOCondition) -> bool:
        nonlocal pending
        chunk = os.read(sys.stdin.fileno(), 65536) if condition & GLib.IOCondition.IN else b""
        if not chunk:
            loop.quit()  # the test closed the pipe (or died): the agent ends with it
            return False
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            try:
                answer = {"id": request.get("id"), "result": reader.handle(request)}
            except Exception as exc:  # the test sees the failure, the agent keeps serving
                answer = {"id": request.get("id"), "error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
        return True

    GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()),
                      GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP,
                      on_input)
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
