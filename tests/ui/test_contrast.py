"""Contrast of the desk's dark theme, measured (WCAG 2.1 relative luminance) from what the
programs really use: the palette theme.apply() installs, the style sheet it applies (parsed
rule by rule), the colour tables of the queue, history, call and charts, and pixels of
widgets drawn with it. Text at least 4.5:1; borders, focus rings and chart encodings at
least 3:1, and chart series never told apart by hue alone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton

from tests.helpers.contrast import contrast
from ui import theme
from ui.desk import history
from ui.desk.manager import charts, dashboard
from ui.engine import quality

TEXT, LARGE_OR_UI = 4.5, 3.0


def ratio(a: str | QColor, b: str | QColor) -> float:
    """The WCAG ratio (tests/helpers/contrast.py) of two colours, names or QColors."""
    return contrast(QColor(a).name(), QColor(b).name())


def rules(sheet: str) -> dict[str, dict[str, str]]:
    """Selector → properties of a Qt style sheet (each selector of a group separately)."""
    found: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", sheet):
        props = dict((k.strip(), v.strip()) for k, v in
                     (p.split(":", 1) for p in body.split(";") if ":" in p))
        for selector in selectors.split(","):
            found.setdefault(" ".join(selector.split()), {}).update(props)
    return found


def colour_of(value: str) -> str:
    """The colour in a property value ("2px solid #ffd866" → "#ffd866"; "white")."""
    hexes = re.findall(r"#[0-9a-fA-F]{6}", value)
    return hexes[-1] if hexes else value.split()[-1]


@pytest.fixture
def desk_app(desk_theme: QApplication) -> Any:
    return desk_theme


def test_palette_text_pairs(desk_app: QApplication) -> None:
    p = desk_app.palette()
    R, G = QPalette.ColorRole, QPalette.ColorGroup
    pairs = {
        "text on a field": (p.color(R.Text), p.color(R.Base)),
        "text on the window": (p.color(R.WindowText), p.color(R.Window)),
        "button text": (p.color(R.ButtonText), p.color(R.Button)),
        "placeholder (units, date formats)": (p.color(R.PlaceholderText), p.color(R.Base)),
        "selected text": (p.color(R.HighlightedText), p.color(R.Highlight)),
        "disabled text (a signed-off record)": (p.color(G.Disabled, R.Text),
                                                p.color(R.Base)),
        "disabled label": (p.color(G.Disabled, R.WindowText), p.color(R.Window)),
        "disabled button": (p.color(G.Disabled, R.ButtonText), p.color(R.Button)),
        "tooltip": (p.color(R.ToolTipText), p.color(R.ToolTipBase)),
        "link": (p.color(R.Link), p.color(R.Base)),
    }
    low = {k: round(ratio(*v), 2) for k, v in pairs.items() if ratio(*v) < TEXT}
    assert not low, low
    assert ratio(p.color(R.PlaceholderText), p.color(R.Base)) > 5  # was 3.66:1


def test_style_sheet_text_and_borders(desk_app: QApplication) -> None:
    sheet = rules(desk_app.styleSheet())
    window, base = theme._WINDOW, theme._BASE
    text = colour_of(sheet["QWidget"]["color"])

    def fg(selector: str, default: str = text) -> str:
        return colour_of(sheet[selector].get("color", default))

    def bg(selector: str) -> str:
        return colour_of(sheet[selector]["background"])

    checks = {
        # text on what it sits on
        "End call (danger button)": (fg('QPushButton[kind="danger"]'),
                                     bg('QPushButton[kind="danger"]'), TEXT),
        "primary button": (fg('QPushButton[kind="primary"]'),
                           bg('QPushButton[kind="primary"]'), TEXT),
        "button": (text, bg("QPushButton"), TEXT),
        "checked button": (text, bg("QPushButton:checked"), TEXT),
        "disabled button": (fg("QPushButton:disabled"), bg("QPushButton:disabled"), TEXT),
        "disabled field text": (fg("QLineEdit:disabled"), bg("QLineEdit"), TEXT),
        "disabled check box": (fg("QCheckBox:disabled"), window, TEXT),
        "selected text in a field": (colour_of(sheet["QLineEdit"]["selection-color"]),
                                     colour_of(sheet["QLineEdit"][
                                         "selection-background-color"]), TEXT),
        "selected row": (colour_of(sheet["QTableView"]["selection-color"]),
                         colour_of(sheet["QTableView"]["selection-background-color"]), TEXT),
        "muted label": (fg('QLabel[role="muted"]'), window, TEXT),
        "muted label on a field": (fg('QLabel[role="muted"]'), base, TEXT),
        "error label": (fg('QLabel[role="error"]'), window, TEXT),
        "group title": (fg("QGroupBox::title"), window, TEXT),
        "table header": (fg("QHeaderView::section"), bg("QHeaderView::section"), TEXT),
        "tab": (text, bg("QTabBar::tab"), TEXT),
        "selected tab": (text, bg("QTabBar::tab:selected"), TEXT),
        "banner (hub lost)": (text, bg("QFrame#banner"), TEXT),
        "ringing": (text, bg("QFrame#ringing"), TEXT),
        "tooltip": (fg("QToolTip"), bg("QToolTip"), TEXT),
        "status bar": (fg("QStatusBar"), window, TEXT),
        # what marks a control: 3:1 against what is beside it
        "field border on the window": (colour_of(sheet["QLineEdit"]["border"]), window,
                                       LARGE_OR_UI),
        "field border on the field": (colour_of(sheet["QLineEdit"]["border"]), base,
                                      LARGE_OR_UI),
        "button border on the window": (colour_of(sheet["QPushButton"]["border"]), window,
                                        LARGE_OR_UI),
        "table border": (colour_of(sheet["QTableView"]["border"]), window, LARGE_OR_UI),
        # A check box's box (Fusion's own was near-black on the window, and 12 px at any
        # font size) and the fill that says it is ticked.
        "check box on the window": (colour_of(sheet["QCheckBox::indicator"]["border"]),
                                    window, LARGE_OR_UI),
        "ticked check box against unticked": (
            bg("QCheckBox::indicator:checked"), bg("QCheckBox::indicator"), LARGE_OR_UI),
        "invalid field border": (colour_of(sheet['QLineEdit[state="bad"]']["border"]), base,
                                 LARGE_OR_UI),
        "valid field border": (colour_of(sheet['QLineEdit[state="good"]']["border"]), base,
                               LARGE_OR_UI),
    }
    focus = colour_of(sheet["QPushButton:focus"]["border"])
    for where, colour in (("window", window), ("field", base), ("button", bg("QPushButton")),
                          ("primary button", bg('QPushButton[kind="primary"]')),
                          ("danger button", bg('QPushButton[kind="danger"]'))):
        checks[f"focus ring on a {where}"] = (focus, colour, LARGE_OR_UI)
    # The focus ring also changes the control's edge by 3:1 or more (not only its width).
    checks["focus ring against the border it replaces"] = (
        focus, colour_of(sheet["QLineEdit"]["border"]), LARGE_OR_UI)
    low = {k: round(ratio(a, b), 2) for k, (a, b, least) in checks.items()
           if ratio(a, b) < least}
    assert not low, low
    for selector in ("QLineEdit:focus", "QComboBox:focus", "QCheckBox:focus",
                     "QTableView:focus", "QDateEdit:focus", "QGraphicsView:focus",
                     "QTabBar::tab:focus"):
        assert colour_of(sheet[selector]["border"]) == focus, selector


def test_colour_tables_on_the_cells_they_colour(desk_app: QApplication) -> None:
    cells = (theme._BASE, theme._ALT)  # table rows alternate between these
    words = {**{f"urgency {k}": v for k, v in theme.URGENCY_COLOURS.items()},
             **{f"band {k}": v for k, v in theme.BAND_COLOURS.items()},
             **{f"sync {k}": v for k, v in history.SYNC_COLOURS.items()}}
    low = {f"{k} on {c}": round(ratio(v, c), 2) for k, v in words.items() for c in cells
           if ratio(v, c) < TEXT}
    # NEWS2 figures and call quality are drawn on the window.
    low |= {f"{k} on the window": round(ratio(v, theme._WINDOW), 2) for k, v in (
        *theme.BAND_COLOURS.items(), *quality.COLOURS.items())
        if ratio(v, theme._WINDOW) < TEXT}
    assert not low, low


def test_chart_series_differ_by_more_than_hue(qtbot: Any, desk_app: QApplication) -> None:
    background = charts.CHART_BACKGROUND
    assert ratio(charts.CHART_TEXT, background) >= TEXT
    for palette in (dashboard.KIND_COLOURS, dashboard.RESULT_COLOURS):
        sets = [charts.bar_set(label, colour, n, [1.0]) for n, (label, colour) in
                enumerate(palette.items())]
        # Each bar's outline stands out from the chart (3:1) ...
        low = {s.label(): round(ratio(s.pen().color(), background), 2) for s in sets
               if ratio(s.pen().color(), background) < LARGE_OR_UI}
        assert not low, low
        # ... and each series has a pattern of its own, so hue is never the only cue
        # (confirmed and withdrawn claims are 1.09:1 apart in luminance).
        styles = [s.brush().style() for s in sets]
        assert len(set(styles)) == len(styles), styles
        assert styles[0] == Qt.BrushStyle.SolidPattern
    confirmed, withdrawn = dashboard.RESULT_COLOURS["confirmed"], dashboard.RESULT_COLOURS[
        "withdrawn"]
    assert ratio(confirmed, withdrawn) < 1.5  # the reason patterns are needed at all


def test_drawn_pixels_match_the_measured_colours(qtbot: Any, desk_app: QApplication) -> None:
    """The colours measured above are the ones on screen (no other rule wins)."""
    end = QPushButton("End call")
    end.setProperty("kind", "danger")
    field = QLineEdit()
    for widget in (end, field):
        qtbot.addWidget(widget)
        widget.resize(200, 40)
        widget.show()
    qtbot.waitExposed(field)
    button = end.grab().toImage()
    assert QColor(button.pixel(100, 4)).name() == theme.DANGER
    edge = field.grab().toImage()
    assert QColor(edge.pixel(0, 20)).name() == theme.BORDER
    assert QColor(edge.pixel(100, 20)).name() == theme._BASE
