"""Headings for assistive technology: a QLabel that titles a page or a part of it is read as a
heading (AT-SPI role "heading", which Orca lists and jumps between), not as plain text. Qt
gives every label the static-text role; an accessibility factory gives the marked ones
theirs."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAccessible, QAccessibleInterface, QTextDocument
from PySide6.QtWidgets import QAccessibleWidget, QLabel

_PROPERTY = "accessibleHeading"
_installed = False


class HeadingLabel(QAccessibleWidget):
    """A label read as a heading: its name is the text it shows (rich text as plain)."""

    def __init__(self, label: QLabel) -> None:
        super().__init__(label, QAccessible.Role.Heading)
        self.label = label

    def text(self, kind: QAccessible.Text) -> str:
        if kind == QAccessible.Text.Name:
            return self.label.accessibleName() or _plain(self.label)
        return str(super().text(kind))


def _plain(label: QLabel) -> str:
    """The text a label shows: rich text (a tag in it) as plain words."""
    text = label.text()
    if label.textFormat() is Qt.TextFormat.PlainText or "<" not in text:
        return text
    doc = QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


def _factory(key: str, obj: QObject) -> QAccessibleInterface | None:
    if isinstance(obj, QLabel) and obj.property(_PROPERTY):
        return HeadingLabel(obj)
    return None


def heading(label: QLabel) -> QLabel:
    """Marks ``label`` as a heading for assistive technology (before it is first shown)."""
    global _installed
    if not _installed:
        QAccessible.installFactory(_factory)
        _installed = True
    label.setProperty(_PROPERTY, True)
    return label
