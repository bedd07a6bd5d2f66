"""Announcements to assistive technology: what a screen reader says when something happens
away from the user's focus (a call arriving, a NEWS2 band changing, the hub lost and back,
an error). Both programs announce through :func:`announce`, so each event is said once, in
one politeness vocabulary."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent
from PySide6.QtWidgets import QWidget


class Announcements(QObject):
    """What the program has announced, as a signal too: a test in the program's own process
    listens to it (a screen reader hears the accessibility event).

    Signals:
        said(str, bool): the message, and whether it was assertive.
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


def announce(source: QWidget, message: str, *, assertive: bool = False) -> None:
    """Says ``message`` through the platform's accessibility bridge (AT-SPI's
    ``object:announcement`` on Linux). Polite waits until the screen reader is done
    speaking; assertive interrupts it, for emergencies and for what stops the user's work.
    ``source`` is the widget the message is about (its window if none is)."""
    if not message:
        return
    event = QAccessibleAnnouncementEvent(source, message)
    event.setPoliteness(QAccessible.AnnouncementPoliteness.Assertive if assertive
                        else QAccessible.AnnouncementPoliteness.Polite)
    QAccessible.updateAccessibility(event)
    announcements().said.emit(message, assertive)
