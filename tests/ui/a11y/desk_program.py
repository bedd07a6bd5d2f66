"""The real desk window for the AT-SPI tests, in a process of its own (tests/helpers/
atspi_program.py): ``python -m tests.ui.a11y.desk_program HUB USER DATA_DIR``, built from
the same parts as the in-process desk tests (tests/ui/conftest.py), signed in on command.

Commands (besides the harness's shot/quit/activate/qt_focus): ``sign_in`` {password},
``state`` (what the window shows, for bounded waits), ``focus`` {widget: a dotted path such
as "triage.obs.pulse"}, ``period`` {start, end} (the manager's report period), ``fit``
(text cut off by its widget at the current font), ``sizes`` (heading, figure and body
point sizes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from tests.helpers.atspi_program import program_args, serve
from tests.ui.conftest import desk_parts
from ui import theme
from ui.desk.window import DeskWindow


def resolve(window: DeskWindow, path: str) -> Any:
    """"triage.obs.pulse" → window.triage.obs["pulse"] (attributes, then dict keys)."""
    target: Any = window
    for part in path.split("."):
        target = target[part] if isinstance(target, dict) else getattr(target, part)
    return target


def state(window: DeskWindow) -> dict[str, Any]:
    page = window.stack.currentWidget()
    screen = ("signin" if page is window.signin else
              "manager" if page is window.manager and window.manager is not None else "desk")
    found: dict[str, Any] = {"screen": screen, "hub_up": getattr(window, "hub_up", False),
                             "error": window.signin.error.text()}
    if screen == "desk":
        found.update(queue=window.queue.model.rowCount(), current=window.current,
                     tab=window.tabs.tabText(window.tabs.currentIndex()).replace("&", ""),
                     closed=window.triage.closed,
                     sign_error=window.triage.sign_error.text())
    if screen == "manager":
        view: Any = window.manager
        found.update(report=view.report is not None, drilled=view.drill_title.text(),
                     calls=view.tile_values["calls"].text(),
                     drill_rows=view.drill_table.rowCount(),
                     tab=view.tabs.tabText(view.tabs.currentIndex()).replace("&", ""))
    return found


def cut_text(window: QWidget) -> list[str]:
    """Visible widgets whose text does not fit the space the layout gave them: a label or
    button shorter than its text needs, a multi-line box lower than two lines."""
    found = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or widget.width() <= 1:
            continue
        name = widget.accessibleName() or widget.objectName() or type(widget).__name__
        need = None
        if isinstance(widget, QLabel) and widget.text():
            need = (widget.heightForWidth(widget.width()) if widget.wordWrap()
                    else widget.minimumSizeHint().height())
        elif isinstance(widget, QAbstractButton | QLineEdit | QComboBox):
            need = widget.minimumSizeHint().height()
        elif isinstance(widget, QPlainTextEdit):
            need = widget.fontMetrics().lineSpacing() * 2 + 2 * widget.frameWidth()
        if need is not None and widget.height() < need:
            found.append(f"{type(widget).__name__} {name!r}: {widget.height()} < {need} px")
    return found


def sizes(window: DeskWindow) -> dict[str, float]:
    """Point sizes as drawn: the application font, a heading, a big figure."""
    from PySide6.QtWidgets import QApplication

    found = {"body": QApplication.font().pointSizeF()}
    for label in window.findChildren(QLabel):
        role = label.property("role")
        if role in ("heading", "big", "figure") and label.isVisibleTo(window):
            found[role] = min(found.get(role, 1e9), label.font().pointSizeF())
    return found


def main() -> int:
    app, (hub, user, data) = program_args()
    theme.apply(app)
    window = DeskWindow(desk_parts(Path(data)), hub, user)
    window.resize(1400, 940)

    def sign_in(req: dict[str, Any]) -> None:
        window.signin.password.setText(req["password"])
        window.signin.on_submit()

    def period(req: dict[str, Any]) -> None:
        view: Any = window.manager
        view.start.setDate(QDate.fromString(req["start"], "yyyy-MM-dd"))
        view.end.setDate(QDate.fromString(req["end"], "yyyy-MM-dd"))
        view.refresh()

    def focus(req: dict[str, Any]) -> str:
        widget = resolve(window, req["widget"])
        widget.setFocus()
        return str(widget.accessibleName())

    code = serve(window, {"sign_in": sign_in, "state": lambda _r: state(window),
                          "focus": focus, "period": period, "fit": lambda _r: cut_text(window),
                          "sizes": lambda _r: sizes(window)})
    window.shutdown()
    window.parts.http.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
