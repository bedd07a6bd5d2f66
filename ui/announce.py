"""Spoken announcements for screen readers: a sentence said through the platform's
accessibility bridge (on Linux AT-SPI's object:announcement, which Orca speaks), polite
by default, assertive for what must interrupt (an emergency)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent
from PySide6.QtWidgets import QWidget


class Announcements(QObject):
    """What the program has said, as a signal too (a test in the program's own process
    listens to it; a screen reader hears the accessibility event).

    Signals:
        said(str, bool): the sentence, and whether it was assertive.
    """

    said = Signal(str, bool)


_ANNOUNCEMENTS: Announcements | None = None


def announcements() -> Announcements:
    """The program's one :class:`Announcements` (made on first use, after the
    QApplication)."""
    global _ANNOUNCEMENTS
    if _ANNOUNCEMENTS is None:
        _ANNOUNCEMENTS = Announcements()
    return _ANNOUNCEMENTS


def announce(source: QWidget, text: str, *, assertive: bool = False) -> None:
    """Says ``text`` to assistive technology, from ``source`` (a widget on screen: the
    bridge sends the event from its accessible object). Polite waits for the reader to
    finish what it is saying; assertive interrupts it."""
    event = QAccessibleAnnouncementEvent(source, text)
    event.setPoliteness(QAccessible.AnnouncementPoliteness.Assertive if assertive
                        else QAccessible.AnnouncementPoliteness.Polite)
    QAccessible.updateAccessibility(event)
    announcements().said.emit(text, assertive)
