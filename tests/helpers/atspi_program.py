"""The program side of the AT-SPI harness: a Qt window under test, run in a process of its own
on the harness's X server and accessibility bus, taking commands from the test on stdin (one
JSON object a line) and answering on stdout. The test reads the window through AT-SPI from
outside, as Orca does; commands only set the scene (a call arrives, the hub goes away) or
take a screenshot.

A program module builds its window and calls :func:`serve`; ``large_font`` and ``argv``
come from :func:`program_args`."""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QWidget

Command = Callable[[dict[str, Any]], Any]


def program_args() -> tuple[QApplication, list[str]]:
    """The application, its font set first from ``TELEHUB_A11Y_FONT_PT`` (what a desktop's
    "large text" setting gives a Qt program: a larger application font), and the
    program's own arguments."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    size = os.environ.get("TELEHUB_A11Y_FONT_PT")
    if size:
        font = QFont(app.font())
        font.setPointSizeF(float(size))
        app.setFont(font)
    return app, sys.argv[1:]


class _Inbox(QObject):
    line = Signal(str)


def serve(window: QWidget, commands: Mapping[str, Command] | None = None) -> int:
    """Shows ``window``, makes it the active window (so real key presses reach it), says
    ready, then runs the event loop, answering commands until "quit" or the end of stdin."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    handlers: dict[str, Command] = {
        "shot": lambda req: window.grab().save(req["path"]),
        "quit": lambda req: QTimer.singleShot(0, app.quit),
        "activate": lambda req: _activate(window),
        "qt_focus": lambda req: _qt_focus(),
        **(commands or {}),
    }
    inbox = _Inbox()

    def answer(line: str) -> None:
        request = json.loads(line)
        try:
            reply = {"id": request.get("id"), "result": handlers[request["op"]](request)}
        except Exception as exc:  # the test sees the failure; the window stays up
            reply = {"id": request.get("id"), "error": f"{type(exc).__name__}: {exc}",
                     "trace": traceback.format_exc()}
        _say(reply)

    inbox.line.connect(answer)

    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                inbox.line.emit(line)
        inbox.line.emit(json.dumps({"op": "quit"}))

    window.show()
    _activate(window)

    def ready() -> None:
        if window.isActiveWindow():
            _say({"ready": True, "pid": os.getpid(), "window": int(window.winId())})
            threading.Thread(target=read, daemon=True).start()
        else:
            QTimer.singleShot(20, ready)

    QTimer.singleShot(0, ready)
    return app.exec()


def _activate(window: QWidget) -> bool:
    window.raise_()
    window.activateWindow()
    return True


def _qt_focus() -> dict[str, str] | None:
    widget = QApplication.focusWidget()
    if widget is None:
        return None
    return {"class": type(widget).__name__, "object": widget.objectName(),
            "name": widget.accessibleName()}


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, default=str) + "\n")
    sys.stdout.flush()
