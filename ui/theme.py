"""The programs' looks, in one place: the desk's dark theme (low glare for night shifts,
strong focus rings for keyboard use) and the station's light kiosk (large type and buttons
for a shared touch screen)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QComboBox, QWidget

import resources

# Urgency and NEWS2 band colours: hue plus a word in every cell, never colour alone.
URGENCY_COLOURS = {"emergency": "#ff6b6b", "urgent": "#ffb454", "routine": "#9aa7b4"}
BAND_COLOURS = {"low": "#7ee787", "low-medium": "#ffd866", "medium": "#ffb454",
                "high": "#ff6b6b"}

_WINDOW, _BASE, _ALT, _TEXT = "#15191e", "#1d232a", "#232a32", "#d6dde6"
_MUTED, _ACCENT = "#93a1b0", "#4c9aff"
# WCAG 2.1 AA on the dark theme (tests/ui/test_contrast.py measures every pair): text at
# least 4.5:1 on what it sits on, borders and focus rings that mark a control at least 3:1.
DANGER = "#b3261e"  # white on it 6.5:1 (the old #d9534f gave 3.96:1)
PLACEHOLDER = "#8e9aa8"  # 5.5:1 on a field: placeholders carry units and date formats
DISABLED = "#939fac"  # 5.9:1: a signed-off record is shown disabled and must stay readable
# A field's or button's edge: 3.7:1 on the field, 4.2:1 on the window, and the focus ring
# that replaces it differs from it by 3.1:1 (a change of colour, not only of width).
BORDER = "#6f7c8b"
SELECTION, SELECTED_TEXT = "#1f4f8f", "#ffffff"  # 8.2:1
FOCUS = "#ffd866"  # the focus ring: 9:1 or more on every background
TEXT_ROLES = {"muted": _MUTED, "text": _TEXT}

# Headings and figures in proportion to the application font (the system's, at least
# 10.5 pt), so a larger system font makes them larger too, never smaller than body text.
HEADING_SCALE, BIG_SCALE, FIGURE_SCALE = 1.4, 1.9, 1.5


def desk_style(base_pt: float, line_px: int | None = None) -> str:
    """The desk's style sheet for an application font of ``base_pt`` points whose lines
    are ``line_px`` pixels high (a field is never lower than one line of its text)."""
    heading, big, figure = (round(base_pt * k, 1) for k in (HEADING_SCALE, BIG_SCALE,
                                                             FIGURE_SCALE))
    line = line_px or round(base_pt * 96 / 72 * 1.4)
    return f"""
QWidget {{ color: {_TEXT}; }}
QMainWindow, QDialog {{ background: {_WINDOW}; }}
QToolTip {{ color: {_TEXT}; background: {_ALT}; border: 1px solid {_MUTED}; }}
QLabel[role="muted"] {{ color: {_MUTED}; }}
QLabel[role="heading"] {{ font-size: {heading}pt; font-weight: 600; }}
QLabel[role="big"] {{ font-size: {big}pt; font-weight: 700; }}
QLabel[role="figure"] {{ font-size: {figure}pt; font-weight: 700; }}
QLabel[role="error"] {{ color: #ff6b6b; font-weight: 600; }}
QGroupBox {{ border: 1px solid #323b46; border-radius: 6px; margin-top: 1.2em;
             padding: 6px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {_MUTED}; }}
QLineEdit, QPlainTextEdit, QComboBox, QSpinBox, QDateEdit {{
    background: {_BASE}; border: 1px solid {BORDER}; border-radius: 4px; padding: 4px 6px;
    selection-background-color: {SELECTION}; selection-color: {SELECTED_TEXT}; }}
QLineEdit:disabled, QPlainTextEdit:disabled, QComboBox:disabled, QSpinBox:disabled,
QDateEdit:disabled, QCheckBox:disabled, QLabel:disabled {{ color: {DISABLED}; }}
QLineEdit, QComboBox, QDateEdit {{ min-height: {line + 4}px; }}
QLineEdit[state="bad"] {{ border: 2px solid #ff6b6b; }}
QLineEdit[state="good"] {{ border: 2px solid #3fb950; }}
QPushButton {{ background: #2b3440; border: 1px solid {BORDER}; border-radius: 6px;
               padding: 7px 14px; }}
QPushButton:hover {{ background: #34404e; }}
QPushButton:checked {{ background: #5a4a1a; border-color: #ffb454; }}
QPushButton:disabled {{ color: {DISABLED}; background: #20262d; }}
QPushButton[kind="primary"] {{ background: #1f6feb; border-color: #4c9aff; color: white;
                               font-weight: 600; }}
QPushButton[kind="danger"] {{ background: {DANGER}; border-color: #ff8a80; color: white;
                              font-weight: 600; }}
QPushButton[kind="danger"]:disabled, QPushButton[kind="primary"]:disabled {{
    color: {DISABLED}; background: #20262d; border-color: {BORDER}; }}
QPushButton#tile {{ padding: 0; }}
QPushButton:focus, QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus,
QDateEdit:focus, QSpinBox:focus, QCheckBox:focus, QTableView:focus, QGraphicsView:focus,
QTabBar::tab:focus {{ outline: none; border: 2px solid {FOCUS}; }}
QCheckBox {{ spacing: 8px; padding: 2px; border: 2px solid transparent; }}
QCheckBox::indicator {{ width: 0.9em; height: 0.9em; border: 2px solid {BORDER};
                       border-radius: 3px; background: {_BASE}; }}
QCheckBox::indicator:checked {{ background: {_ACCENT}; border-color: {_TEXT}; }}
QCheckBox::indicator:disabled {{ border-color: {DISABLED}; }}
QTableView {{ background: {_BASE}; alternate-background-color: {_ALT};
              gridline-color: #2c343e; selection-background-color: {SELECTION};
              selection-color: {SELECTED_TEXT}; border: 1px solid {BORDER}; }}
QHeaderView::section {{ background: {_ALT}; color: {_MUTED}; border: none;
                        padding: 6px; font-weight: 600; }}
QGraphicsView {{ border: 2px solid transparent; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: {_ALT}; padding: 8px 18px; border-top-left-radius: 6px;
                border-top-right-radius: 6px; margin-right: 2px;
                border: 2px solid transparent; }}
QTabBar::tab:selected {{ background: #2f3a47; border-bottom: 2px solid {_ACCENT}; }}
QFrame#banner {{ background: #5c1f1f; border: 1px solid #ff6b6b; border-radius: 6px; }}
QFrame#ringing {{ background: #4a3a0c; border: 1px solid #ffb454; border-radius: 6px; }}
QScrollArea {{ border: none; }}
QStatusBar {{ color: {_MUTED}; }}
"""

# The station: NHS blue titles, green call buttons, large type and 64 px touch targets. Its
# type follows the system font (a care-home worker who set large text gets larger text), at
# least 17 pt for a touch screen read at arm's length, and every heading is a multiple of it.
STATION_SCALE, STATION_MIN_PT = 1.7, 17.0
# Borders of fields and plain buttons are 3.7:1 against white and the page; focus turns them
# into a 4 px near-black ring (3.8:1 against the old border, 14:1 against the white inside).
# Coloured buttons take a yellow ring instead (at least 4.2:1 against green, red and blue).
# An invalid value gets a 4 px dark-red ring (3.2:1 against the plain border) and a tint.
STATION_INK, STATION_BORDER, STATION_FOCUS, STATION_RING = ("#212b32", "#768692", "#212b32",
                                                            "#ffeb3b")
STATION_INVALID = "#700d1c"


def station_point_size(system_pt: float) -> float:
    """The station's body text for a system font of ``system_pt`` points."""
    return round(max(STATION_MIN_PT, system_pt * STATION_SCALE), 1)


def station_style(base_pt: float) -> str:
    """The station's style sheet with body text of ``base_pt`` points."""
    def pt(factor: float) -> str:
        return f"{base_pt * factor:.1f}pt"

    ink, line, focus, ring, bad = (STATION_INK, STATION_BORDER, STATION_FOCUS, STATION_RING,
                                   STATION_INVALID)
    return f"""
QWidget {{ font-size: {pt(1)}; color: {ink}; }}
QMainWindow, QDialog, QStackedWidget > QWidget {{ background: #f5f6f8; }}
QLabel[landing="true"] {{ border: 4px solid transparent; border-radius: 6px; }}
QLabel[landing="true"]:focus {{ border-color: {focus}; }}
QLabel#title {{ font-size: {pt(1.5)}; font-weight: bold; color: #003087; }}
QLabel#status {{ color: #4c6272; }}
QLabel#big {{ font-size: {pt(1.75)}; font-weight: bold; }}
QLabel#wait {{ font-size: {pt(1.3)}; }}
QLabel#error {{ color: #c0182b; font-weight: bold; }}
QLabel#message {{ font-size: {pt(1.5)}; font-weight: bold; background: white;
                 border-left: 10px solid #005eb8; border-radius: 6px; padding: 10px 14px; }}
QLabel#message:focus {{ border: 4px solid {focus}; border-left: 10px solid #005eb8; }}
QLabel#notice {{ font-weight: bold; background: #fde8ea; border-left: 10px solid #c0182b;
                border-radius: 6px; padding: 10px 14px; }}
QLabel#news2 {{ font-weight: bold; padding: 6px; border-radius: 6px; background: #e8edee; }}
QPushButton {{ min-height: 64px; padding: 6px 22px; border: 2px solid {line};
              border-radius: 10px; background: white; }}
QPushButton:focus {{ border: 4px solid {focus}; padding: 4px 20px; background: {ring}; }}
QPushButton:checked {{ background: #005eb8; color: white; border-color: #005eb8; }}
QPushButton:checked:focus {{ border-color: {ring}; }}
QPushButton:disabled {{ color: #4c6272; border: 2px dashed {line}; background: #eef0f2; }}
QPushButton#call {{ min-height: 150px; font-size: {pt(2)}; font-weight: bold; color: white;
                   background: #007f3b; border-color: #007f3b; }}
QPushButton#call:disabled {{ background: #d8dde0; border-color: {line}; color: #4c6272; }}
QPushButton#go {{ font-size: {pt(1.3)}; font-weight: bold; color: white; background: #007f3b;
                 border-color: #007f3b; min-height: 84px; }}
QPushButton#danger {{ font-weight: bold; color: white; background: #c0182b;
                     border-color: #c0182b; }}
QPushButton#call:focus, QPushButton#go:focus, QPushButton#danger:focus {{
    border: 4px solid {ring}; }}
QLineEdit, QPlainTextEdit, QComboBox, QTextBrowser {{ padding: 8px; border: 2px solid {line};
    border-radius: 6px; background: white; selection-background-color: #005eb8;
    selection-color: white; placeholder-text-color: #4c6272; }}
QLineEdit, QComboBox {{ min-height: 40px; }}
QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus, QTextBrowser:focus {{
    border: 4px solid {focus}; padding: 6px; }}
QLineEdit[state="bad"] {{ border: 4px solid {bad}; padding: 6px; background: #fde8ea; }}
QGroupBox {{ font-weight: bold; border: 1px solid #aeb7bd; border-radius: 8px;
            margin-top: 1.1em; padding: 0.4em 10px 10px; background: white; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 12px; padding: 0 4px; color: {ink}; }}
QCheckBox {{ min-height: 40px; border: 4px solid transparent; border-radius: 6px;
            padding: 2px; }}
QCheckBox:focus {{ border-color: {focus}; }}
QCheckBox::indicator {{ width: 0.9em; height: 0.9em; }}
QScrollArea {{ border: none; }}
"""


def apply(app: QApplication) -> None:
    """The desk: Fusion style, a dark palette and its style sheet, sized from the
    application font (the system's, raised to at least 10.5 pt)."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, _WINDOW), (QPalette.ColorRole.WindowText, _TEXT),
        (QPalette.ColorRole.Base, _BASE), (QPalette.ColorRole.AlternateBase, _ALT),
        (QPalette.ColorRole.Text, _TEXT), (QPalette.ColorRole.Button, "#2b3440"),
        (QPalette.ColorRole.ButtonText, _TEXT), (QPalette.ColorRole.Highlight, SELECTION),
        (QPalette.ColorRole.HighlightedText, SELECTED_TEXT),
        (QPalette.ColorRole.ToolTipBase, _ALT), (QPalette.ColorRole.ToolTipText, _TEXT),
        (QPalette.ColorRole.PlaceholderText, PLACEHOLDER), (QPalette.ColorRole.Link, _ACCENT),
    ):
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(DISABLED))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.5))
    app.setFont(font)
    app.setStyleSheet(desk_style(font.pointSizeF(), QFontMetrics(font).height()))


LARGE_TEXT_PT = 14.0  # from here on, rows of controls fold onto more lines


def large_text(widget: QWidget) -> bool:
    """The system font is large (a low-vision setting): screens fold wide rows (tiles,
    buttons, charts, check boxes) onto more lines instead of growing off the screen."""
    return widget.font().pointSizeF() >= LARGE_TEXT_PT


def compact_combo(combo: QComboBox, chars: int = 14) -> QComboBox:
    """A combo box as wide as ``chars`` characters, not as its longest item (its list
    still shows every item in full): a large font never pushes a form off the screen."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    return combo


def scaled_font(widget: QWidget, scale: float, bold: bool = False) -> QFont:
    """``widget``'s font ``scale`` times as large (for text drawn outside style sheets:
    chart titles and axes), so it too follows the system font."""
    font = QFont(widget.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(bold)
    return font


def kiosk(window: QWidget) -> None:
    """The station: its style sheet on its window (the rest of the program keeps Qt's), its
    type scaled from the system font."""
    window.setStyleSheet(station_style(station_point_size(QApplication.font().pointSizeF())))


def resource(name: str) -> Path:
    """One of the desk's shipped files (resources/desk, package data) as a path for Qt."""
    return resources.path("desk", name)


def icon() -> QIcon:
    path = resource("telehub.svg")
    return QIcon(str(path)) if path.exists() else QIcon()
