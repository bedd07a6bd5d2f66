"""The programs' looks, in one place: the desk's dark theme (low glare for night shifts,
strong focus rings for keyboard use) and the station's light kiosk (large type and buttons
for a shared touch screen)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QFont, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QWidget

import resources

# Urgency and NEWS2 band colours: hue plus a word in every cell, never colour alone.
URGENCY_COLOURS = {"emergency": "#ff6b6b", "urgent": "#ffb454", "routine": "#9aa7b4"}
BAND_COLOURS = {"low": "#7ee787", "low-medium": "#ffd866", "medium": "#ffb454",
                "high": "#ff6b6b"}

_WINDOW, _BASE, _ALT, _TEXT = "#15191e", "#1d232a", "#232a32", "#d6dde6"
_MUTED, _ACCENT, _DANGER = "#93a1b0", "#4c9aff", "#d9534f"

DESK_STYLE = f"""
QWidget {{ color: {_TEXT}; }}
QMainWindow, QDialog {{ background: {_WINDOW}; }}
QToolTip {{ color: {_TEXT}; background: {_ALT}; border: 1px solid {_MUTED}; }}
QLabel[role="muted"] {{ color: {_MUTED}; }}
QLabel[role="heading"] {{ font-size: 15pt; font-weight: 600; }}
QLabel[role="big"] {{ font-size: 20pt; font-weight: 700; }}
QGroupBox {{ border: 1px solid #323b46; border-radius: 6px; margin-top: 1.2em;
             padding: 6px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {_MUTED}; }}
QLineEdit, QPlainTextEdit, QComboBox, QSpinBox, QDateEdit {{
    background: {_BASE}; border: 1px solid #3a4450; border-radius: 4px; padding: 4px 6px;
    selection-background-color: {_ACCENT}; }}
QLineEdit, QComboBox {{ min-height: 26px; }}
QLineEdit[state="bad"] {{ border: 2px solid #ff6b6b; }}
QLineEdit[state="good"] {{ border: 2px solid #3fb950; }}
QPushButton {{ background: #2b3440; border: 1px solid #3d4856; border-radius: 6px;
               padding: 7px 14px; min-height: 22px; }}
QPushButton:hover {{ background: #34404e; }}
QPushButton:checked {{ background: #5a4a1a; border-color: #ffb454; }}
QPushButton:disabled {{ color: #5d6875; background: #20262d; }}
QPushButton[kind="primary"] {{ background: #1f6feb; border-color: #4c9aff; color: white;
                               font-weight: 600; }}
QPushButton[kind="danger"] {{ background: {_DANGER}; border-color: #ff8a80; color: white;
                              font-weight: 600; }}
QPushButton[kind="primary"]:disabled, QPushButton[kind="danger"]:disabled {{
    color: #5d6875; background: #20262d; border-color: #3d4856; }}
QPushButton:focus, QLineEdit:focus, QPlainTextEdit:focus, QComboBox:focus,
QCheckBox:focus, QTableView:focus, QTabBar::tab:focus {{ outline: none;
    border: 2px solid #ffd866; }}
QCheckBox {{ spacing: 8px; padding: 2px; }}
QTableView {{ background: {_BASE}; alternate-background-color: {_ALT};
              gridline-color: #2c343e; selection-background-color: #1f4f8f; }}
QHeaderView::section {{ background: {_ALT}; color: {_MUTED}; border: none;
                        padding: 6px; font-weight: 600; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: {_ALT}; padding: 8px 18px; border-top-left-radius: 6px;
                border-top-right-radius: 6px; margin-right: 2px; }}
QTabBar::tab:selected {{ background: #2f3a47; border-bottom: 2px solid {_ACCENT}; }}
QFrame#banner {{ background: #5c1f1f; border: 1px solid #ff6b6b; border-radius: 6px; }}
QFrame#ringing {{ background: #4a3a0c; border: 1px solid #ffb454; border-radius: 6px; }}
QScrollArea {{ border: none; }}
QStatusBar {{ color: {_MUTED}; }}
"""

# The station: NHS blue titles, green call buttons, 17 pt type, 64 px touch targets.
STATION_STYLE = """
QWidget { font-size: 17pt; }
QMainWindow, QStackedWidget > QWidget { background: #f5f6f8; }
QLabel#title { font-size: 26pt; font-weight: bold; color: #003087; }
QLabel#status { color: #4c6272; }
QLabel#big { font-size: 30pt; font-weight: bold; }
QLabel#error { color: #c0182b; font-weight: bold; }
QLabel#news2 { font-weight: bold; padding: 6px; border-radius: 6px; background: #e8edee; }
QPushButton { min-height: 64px; padding: 6px 22px; border: 2px solid #425563;
              border-radius: 10px; background: white; }
QPushButton:checked { background: #005eb8; color: white; border-color: #005eb8; }
QPushButton:disabled { color: #8c9ba5; border-color: #c8d0d5; }
QPushButton#call { min-height: 150px; font-size: 34pt; font-weight: bold; color: white;
                   background: #007f3b; border-color: #007f3b; }
QPushButton#call:disabled { background: #9fc8ad; border-color: #9fc8ad; }
QPushButton#go { font-size: 22pt; font-weight: bold; color: white; background: #007f3b;
                 border-color: #007f3b; min-height: 84px; }
QPushButton#danger { font-weight: bold; color: white; background: #c0182b;
                     border-color: #c0182b; }
QLineEdit, QPlainTextEdit, QComboBox { padding: 8px; border: 2px solid #425563;
                                       border-radius: 6px; background: white; min-height: 40px; }
QGroupBox { font-weight: bold; border: 1px solid #aeb7bd; border-radius: 8px;
            margin-top: 18px; padding: 14px 10px 10px; background: white; }
QGroupBox::title { subcontrol-origin: margin; left: 12px; padding: 0 4px; }
QCheckBox { min-height: 40px; }
QCheckBox::indicator { width: 30px; height: 30px; }
"""


def apply(app: QApplication) -> None:
    """The desk: Fusion style, a dark palette and its style sheet; a slightly larger base
    font."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, _WINDOW), (QPalette.ColorRole.WindowText, _TEXT),
        (QPalette.ColorRole.Base, _BASE), (QPalette.ColorRole.AlternateBase, _ALT),
        (QPalette.ColorRole.Text, _TEXT), (QPalette.ColorRole.Button, "#2b3440"),
        (QPalette.ColorRole.ButtonText, _TEXT), (QPalette.ColorRole.Highlight, "#1f4f8f"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QPalette.ColorRole.ToolTipBase, _ALT), (QPalette.ColorRole.ToolTipText, _TEXT),
        (QPalette.ColorRole.PlaceholderText, "#6e7b89"), (QPalette.ColorRole.Link, _ACCENT),
    ):
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#5d6875"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText,
                     QColor("#5d6875"))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.5))
    app.setFont(font)
    app.setStyleSheet(DESK_STYLE)


def kiosk(window: QWidget) -> None:
    """The station: its style sheet on its window (the rest of the program keeps Qt's)."""
    window.setStyleSheet(STATION_STYLE)


def resource(name: str) -> Path:
    """One of the desk's shipped files (resources/desk, package data) as a path for Qt."""
    return resources.path("desk", name)


def icon() -> QIcon:
    path = resource("telehub.svg")
    return QIcon(str(path)) if path.exists() else QIcon()
