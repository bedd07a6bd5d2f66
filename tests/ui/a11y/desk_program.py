"""The real desk window for the AT-SPI tests, in a process of its own (tests/helpers/
atspi_program.py): ``python -m tests.ui.a11y.desk_program [HUB USER DATA_DIR]``, built
from the same parts as the in-process desk tests (tests/ui/conftest.py), signed in on
command. One process serves a whole test session: ``open`` {hub, user, data, font_pt}
replaces the window with a new desk (a Qt program takes seconds to start).

Commands (besides the harness's shot/quit/activate/qt_focus): ``sign_in`` {password},
``state`` (what the window shows, for bounded waits), ``focus`` {widget: a dotted path such
as "triage.obs.pulse"}, ``period`` {start, end} (the manager's report period), ``fit``
(text cut off by its widget at the current font, in the active window: the desk or a
dialog), ``sizes`` (heading, figure and body point sizes), ``seed_record`` (a signed-off
record in the desk's own store, for History's dialogs), ``follow_ups`` (the follow-up
checks recorded on it), ``shot_active`` {path} (the active window: a dialog)."""

from __future__ import annotations

import gc
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from PySide6.QtCore import QCoreApplication, QDate, QEvent
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QWidget,
)

from records.schema import TriageRecord
from tests.helpers.atspi_program import activate, program_args, serve
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
              "second_factor" if page is window.second else
              "manager" if page is window.manager and window.manager is not None else
              "admin" if page is window.admin and window.admin is not None else "desk")
    found: dict[str, Any] = {"screen": screen, "hub_up": getattr(window, "hub_up", False),
                             "error": window.signin.error.text()}
    modal = QApplication.activeModalWidget()
    found["modal"] = modal.windowTitle() if modal is not None else None
    found["second_page"] = window.second.page
    popup = QApplication.activePopupWidget()  # an open menu
    found["menu"] = popup.title().replace("&", "") if isinstance(popup, QMenu) else None
    if screen == "desk":
        found.update(queue=window.queue.model.rowCount(), current=window.current,
                     tab=window.tabs.tabText(window.tabs.currentIndex()).replace("&", ""),
                     closed=window.triage.closed,
                     sign_error=window.triage.sign_error.text(),
                     history=window.history.model.rowCount(),
                     history_chosen=window.history.selected() is not None)
    if screen == "manager":
        view: Any = window.manager
        found.update(report=view.report is not None, drilled=view.drill_title.text(),
                     calls=view.tile_values["calls"].text(),
                     drill_rows=view.drill_table.rowCount(),
                     tab=view.tabs.tabText(view.tabs.currentIndex()).replace("&", ""))
    return found


def cut_text(window: QWidget) -> list[str]:
    """Visible widgets whose text does not fit the space the layout gave them: a label or
    button shorter than its text needs, a multi-line box lower than two lines; and a window
    that cannot fit the screen (what is off it is cut too). Measured as drawn: layouts
    still pending (text that just arrived, a pane that just opened) are done first, as Qt
    does before it paints; measured between, a label is shorter than its new text for one
    pass of the event loop, which no one sees."""
    for _ in range(3):  # a layout done may ask its parent's again (a scroll area's)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    found = []
    screen = window.screen().availableGeometry()
    least = window.minimumSizeHint()
    if least.width() > screen.width() or least.height() > screen.height():
        found.append(f"the window needs {least.width()}x{least.height()} px, the screen "
                     f"has {screen.width()}x{screen.height()}")
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or widget.width() <= 1:
            continue
        name = widget.accessibleName() or widget.objectName() or type(widget).__name__
        need = None
        line = widget.fontMetrics().height()
        if isinstance(widget, QLabel) and widget.text():
            need = (widget.heightForWidth(widget.width()) if widget.wordWrap()
                    else line * (widget.text().count("\n") + 1))
        elif isinstance(widget, QLineEdit) and not widget.hasFrame():
            need = line  # the text part of a date or spin box, inside the box's frame
        elif isinstance(widget, QAbstractButton | QLineEdit | QComboBox):
            # One line of its text inside its frame (style sheet padding: 4 px or more).
            need = line + 8
        elif isinstance(widget, QPlainTextEdit):
            need = widget.fontMetrics().lineSpacing() * 2 + 2 * widget.frameWidth()
        if need is not None and widget.height() < need:
            found.append(f"{type(widget).__name__} {name!r}: {widget.height()} < {need} px")
    return found


def active(desk: DeskWindow) -> QWidget:
    """The window keys go to: a dialog over the desk, or the desk."""
    window = QApplication.activeWindow()
    return window if window is not None else desk


def seed_record(window: DeskWindow) -> str:
    """A signed-off record in the desk's own store, as a finished call leaves one."""
    assert window.store is not None
    record = TriageRecord(call_id="call-a11y", requested_at=datetime.now(UTC),
                          site_id="Beech House", setting="care_home",
                          presenting_problem="Chest infection, more breathless",
                          intended_action="gp", outcome="discharged_home", nurse="nina")
    with window.store.unit_of_work() as uow:
        uow.records.save_draft(record, "nina")
        uow.records.sign_off(record.uuid, "nina")
    window.history.refresh()
    return str(record.uuid)


def follow_ups(window: DeskWindow, uuid: str) -> list[dict[str, Any]]:
    assert window.store is not None
    with window.store.unit_of_work() as uow:
        record = uow.records.get(UUID(uuid), "nina")
    return [check.model_dump(mode="json") for check in record.follow_ups]


def admin_selected(window: DeskWindow) -> str | None:
    """The user name of the staff row chosen on the accounts screen."""
    view: Any = window.admin
    staff = view._selected_staff()
    return None if staff is None else str(staff.username)


def admin_staff_active(window: DeskWindow, username: str) -> bool:
    view: Any = window.admin
    return any(s.active for s in view.staff if s.username == username)


def sizes(window: DeskWindow) -> dict[str, float]:
    """Point sizes as drawn: the application font, a heading, a big figure."""
    found = {"body": QApplication.font().pointSizeF()}
    for label in window.findChildren(QLabel):
        role = label.property("role")
        if role in ("heading", "big", "figure") and label.isVisibleTo(window):
            found[role] = min(found.get(role, 1e9), label.font().pointSizeF())
    return found


def described(widget: QWidget) -> str:
    """A widget for a failure message: its class, name and first few children."""
    inside = [f"{type(c).__name__} {c.text() if isinstance(c, QLabel) else c.accessibleName()!r}"
              for c in widget.findChildren(QWidget)[:5]]
    return f"{type(widget).__name__} {widget.objectName() or widget.accessibleName()!r} {inside}"


class Desks:
    """The one desk window of the process, replaced by each test's "open": a new window
    on that test's hub, user, data folder and system font size."""

    def __init__(self, app: QApplication, hub: str, user: str, data: str) -> None:
        self.app, self.base_font = app, QFont(app.font())
        self.window = self._build(hub, user, data)

    def _build(self, hub: str, user: str, data: str, font_pt: float | None = None
               ) -> DeskWindow:
        font = QFont(self.base_font)
        if font_pt:
            font.setPointSizeF(font_pt)  # what a desktop's large-text setting does
        self.app.setFont(font)
        theme.apply(self.app)
        window = DeskWindow(desk_parts(Path(data)), hub, user)
        window.resize(1400, 940)
        return window

    def open(self, req: dict[str, Any]) -> None:
        left = self._retire(self.window)
        self.window = self._build(req["hub"], req["user"], req["data"], req.get("font_pt"))
        self.window.show()
        activate(self.window)
        if left:
            raise AssertionError(f"the last desk window left widgets with no Qt parent: {left}")

    @staticmethod
    def _retire(old: DeskWindow) -> list[str]:
        """Shuts the last test's window down and deletes it, here on the GUI thread; returns
        the widgets it left behind. There must be none: a widget with no Qt parent outlives
        its window until the garbage collector deletes it, on whatever thread it then runs
        (a worker's, an engine's), which crashes the program."""
        old.shutdown()
        old.parts.http.close()
        old.close()
        old.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        del old
        left = [described(w) for w in QApplication.topLevelWidgets()
                if type(w).__name__ != "QTipLabel"]  # Qt's own tool tip
        # The last test's garbage, collected on the GUI thread (as tests/ui/conftest.py
        # does between in-process tests).
        gc.collect()
        return left

    def close(self) -> None:
        self.window.shutdown()
        self.window.parts.http.close()


def main() -> int:
    app, args = program_args()
    desks = Desks(app, *(args or ["", "", tempfile.mkdtemp(prefix="telehub-desk-")]))

    def sign_in(req: dict[str, Any]) -> None:
        desks.window.signin.password.setText(req["password"])
        desks.window.signin.on_submit()

    def enter_code(req: dict[str, Any]) -> None:  # a manager's second sign-in step
        desks.window.second.code.setText(req["code"])
        desks.window.second.on_verify()

    def period(req: dict[str, Any]) -> None:
        view: Any = desks.window.manager
        view.start.setDate(QDate.fromString(req["start"], "yyyy-MM-dd"))
        view.end.setDate(QDate.fromString(req["end"], "yyyy-MM-dd"))
        view.refresh()

    def focus(req: dict[str, Any]) -> str:
        widget = resolve(desks.window, req["widget"])
        widget.setFocus()
        return str(widget.accessibleName())

    code = serve(lambda: desks.window, {
        "open": desks.open, "sign_in": sign_in, "code": enter_code,
        "state": lambda _r: state(desks.window),
        "active": lambda _r: desks.window.isActiveWindow(), "focus": focus,
        # Keys go to a dialog over the desk too: it counts as the program's window.
        "is_active": lambda _r: QApplication.activeWindow() is not None,
        "activate": lambda _r: activate(QApplication.activeModalWidget() or desks.window),
        "period": period, "fit": lambda _r: cut_text(active(desks.window)),
        "seed_record": lambda _r: seed_record(desks.window),
        "admin_selected": lambda _r: admin_selected(desks.window),
        "admin_staff_active": lambda r: admin_staff_active(desks.window, r["username"]),
        "follow_ups": lambda r: follow_ups(desks.window, r["uuid"]),
        "shot_active": lambda r: active(desks.window).grab().save(r["path"]),
        "sizes": lambda _r: sizes(desks.window)})
    desks.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
