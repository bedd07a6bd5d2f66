"""The station as a low-vision user meets it, measured in-process on real widgets: its type
follows the system font, focus and invalid values change what is drawn by 3:1 or more, and
at a large system font no text is cut, over a whole call (PNGs of every page)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont, QImage
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QWidget,
)
from pytestqt.qtbot import QtBot

from tests.helpers.contrast import contrast
from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import HubDatabase
from tests.ui.station.conftest import Desk
from tests.ui.station.test_station import click, type_into
from ui import theme
from ui.station.window import StationWindow

Station = Callable[..., StationWindow]
LARGE_PT = 22.0  # a desktop's "large text"


@pytest.fixture
def system_font() -> Iterator[Callable[[float], None]]:
    """Sets the application's font as a desktop's text size setting would; restores it."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = QFont(app.font())

    def set_size(points: float) -> None:
        font = QFont(before)
        font.setPointSizeF(points)
        app.setFont(font)

    yield set_size
    app.setFont(before)


def grab(widget: QWidget) -> QImage:
    return widget.grab().toImage()


def change(before: QImage, after: QImage) -> float:
    """How much a widget's outline changes between two looks: on each side, at mid-length,
    the largest contrast between the two at depths of 0 to 5 pixels; the weakest side."""
    assert before.size() == after.size()
    w, h = before.width(), before.height()
    sides = {"left": lambda d: QPoint(d, h // 2), "right": lambda d: QPoint(w - 1 - d, h // 2),
             "top": lambda d: QPoint(w // 2, d), "bottom": lambda d: QPoint(w // 2, h - 1 - d)}
    weakest = 21.0
    for at in sides.values():
        best = 1.0
        for depth in range(6):
            p = at(depth)
            a, b = before.pixelColor(p), after.pixelColor(p)
            best = max(best, contrast((a.red(), a.green(), a.blue()),
                                      (b.red(), b.green(), b.blue())))
        weakest = min(weakest, best)
    return weakest


def focus_change(qtbot: QtBot, widget: QWidget, away: QWidget) -> float:
    away.setFocus()
    qtbot.waitUntil(away.hasFocus)
    before = grab(widget)
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus)
    return change(before, grab(widget))


def cut(window: QWidget) -> list[str]:
    """Visible labels, buttons and fields smaller than their text needs."""
    found = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(
                widget, QLabel | QAbstractButton | QLineEdit | QComboBox):
            continue
        need = widget.minimumSizeHint().height()
        if isinstance(widget, QLabel) and widget.wordWrap() and widget.text():
            need = widget.heightForWidth(widget.width())
        if widget.height() < need:
            text = widget.text() if isinstance(widget, QLabel | QAbstractButton) else ""
            found.append(f"{type(widget).__name__} {text[:40]!r}: {widget.height()} < {need}")
    return found


def test_the_type_follows_the_system_font(
    make_station: Station, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
    system_font: Callable[[float], None],
) -> None:
    assert theme.station_point_size(9) == 17  # never smaller than a kiosk needs
    assert theme.station_point_size(LARGE_PT) == pytest.approx(37.4)
    w = make_station(hubdb.site("Beech House"))
    assert w.home_page.status.font().pointSizeF() == pytest.approx(17)
    system_font(LARGE_PT)  # the desktop's text size changed while the station runs
    qtbot.waitUntil(lambda: w.home_page.status.font().pointSizeF() == pytest.approx(37.4))
    body = w.home_page.status.font().pointSizeF()
    title = w.home_page.findChild(QLabel, "title")
    assert title is not None and title.font().pointSizeF() > body  # headings stay larger
    assert w.home_page.call_button.font().pointSizeF() > body


def test_focus_and_invalid_values_change_the_outline_by_3_to_1(
    make_station: Station, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
) -> None:
    w = make_station(hubdb.site("Beech House"))
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    click(qtbot, w.home_page.call_button)
    page = w.details_page
    obs = page.observations
    away = page.reason.reason
    measured = {
        "a field": focus_change(qtbot, obs.obs["pulse"], away),
        "a combo box": focus_change(qtbot, obs.oxygen, away),
        "a plain button": focus_change(qtbot, page.check.findChild(QAbstractButton), away),
        "a pressed button": focus_change(
            qtbot, page.reason.urgency_buttons[page.reason.chosen_urgency()], away),
        "a green button": focus_change(qtbot, page.go_button, away),
        "a tick box": focus_change(qtbot, next(iter(page.soft_signs.signs.values())), away),
        "the reason": focus_change(qtbot, away, obs.obs["pulse"]),
    }
    assert all(ratio >= 3 for ratio in measured.values()), measured
    pulse = obs.obs["pulse"]
    before = grab(pulse)
    type_into(qtbot, pulse, "900")
    assert pulse.property("state") == "bad"
    assert pulse.accessibleDescription().startswith("Check Pulse / min")
    away.setFocus()
    qtbot.waitUntil(away.hasFocus)
    type_into(qtbot, away, "x")  # the field keeps its ring without the focus
    assert change(before, grab(pulse)) >= 3
    type_into(qtbot, pulse, "80")
    assert pulse.property("state") is None
    assert pulse.accessibleDescription() == "Optional; typical value 70"


@pytest.mark.slow
def test_at_a_large_system_font_no_page_cuts_its_text(
    make_station: Station, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
    system_font: Callable[[float], None],
) -> None:
    system_font(LARGE_PT)
    w = make_station(hubdb.site("Beech House"))

    def looks(name: str) -> None:
        qtbot.wait(50)  # a layout pass after the page changed
        assert cut(w) == [], name
        w.grab().save(str(SHOTS / f"station-large-{name}.png"))

    looks("home")
    click(qtbot, w.home_page.call_button)
    type_into(qtbot, w.details_page.reason.reason, "Fall in the lounge, new confusion")
    looks("details")
    scroll = w.details_page.findChild(QScrollArea)
    assert scroll is not None and scroll.widget() is not None
    # The whole form fits the width: no sideways scrolling at this size.
    assert scroll.widget().width() <= scroll.viewport().width()
    assert not scroll.horizontalScrollBar().isVisible()
    scroll.ensureWidgetVisible(w.details_page.observations.obs["pulse"])
    looks("details-observations")
    scroll.ensureWidgetVisible(w.details_page.go_button)
    scroll.ensureWidgetVisible(w.details_page.check)
    looks("details-check")
    qtbot.keyClick(w.details_page.go_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: len(desk.queue) == 1, timeout=10_000)
    qtbot.waitUntil(lambda: w.waiting_page.position.text() == "You are next", timeout=5000)
    looks("waiting")
    call_id = desk.queue[0].call_id
    desk.run(desk.engine.claim(call_id))
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.call_page, timeout=10_000)
    looks("call")
    desk.run(desk.engine.hang_up(call_id))
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.after_page, timeout=10_000)
    looks("plan")
