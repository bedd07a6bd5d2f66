"""The hub at a glance, as a strip across a nurse desk and the manager view: nurses free and in
a call, calls waiting by urgency with the longest wait against its standard (a broken one in
red AND said in words), and how many were answered within the standard today.

The hub pushes ``hub_glance`` when a figure changes; the strip adds the seconds since it
arrived to the longest waits, once a second, so a wait is live without the hub sending it.
The manager view has no call engine: :class:`GlanceFeed` is its own signaling connection,
on its own loop, that only listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QWidget

from calls.signaling import Received, SignalingClient, SignalingEvent
from hub.contract import signaling as p
from ui import theme
from ui.engine.loop import EngineLoop

# Colours of a wait: within its standard, the desk's own text on a panel (9.6:1); broken,
# white on the desk's danger red (6.5:1), with the words "over standard" as well.
CALM = ("#d6dde6", "#232a32")
BROKEN = ("#ffffff", theme.DANGER)
URGENCY_WORDS = {p.Urgency.EMERGENCY: "Emergency", p.Urgency.URGENT: "Urgent",
                 p.Urgency.ROUTINE: "Routine"}


def minutes(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def standard_words(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


class GlanceStrip(QFrame):
    """The strip; :meth:`show_glance` with each ``hub_glance`` the desk receives."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("glance")
        self.setAccessibleName("The hub at a glance")
        self.nurses = QLabel("Waiting for the hub's figures…")
        self.nurses.setObjectName("glance-nurses")
        self.waits: dict[p.Urgency, QLabel] = {}
        self.answered = QLabel("")
        self.answered.setObjectName("glance-answered")
        self.answered.setAccessibleName("Answered within the standard today")
        for urgency in p.Urgency:
            label = QLabel("")
            label.setObjectName(f"glance-{urgency.value}")
            label.setAccessibleName(f"{URGENCY_WORDS[urgency]} calls waiting")
            self.waits[urgency] = label
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setVerticalSpacing(2)
        waits = list(self.waits.values())
        if theme.large_text(self):
            # One figure a row would fit, but a wait at 22 pt is ~900 px: the nurses and the
            # day's answers share the first row, each urgency has its own (in one row the
            # strip needed ~2000 px, wider than the screen).
            grid.setHorizontalSpacing(3 * self.fontMetrics().averageCharWidth())  # two figures
            grid.addWidget(self.nurses, 0, 0)
            grid.addWidget(self.answered, 0, 1)
            for n, label in enumerate(waits, start=1):
                grid.addWidget(label, n, 0, 1, 2)
            grid.setColumnStretch(2, 1)
        else:
            for n, widget in enumerate([self.nurses, *waits, self.answered]):
                grid.addWidget(widget, 0, n)
            grid.setColumnStretch(len(waits) + 2, 1)
        self.glance: p.HubGlance | None = None
        self._received = 0.0
        self.timer = QTimer(self, interval=1000)
        self.timer.timeout.connect(self.redraw)

    def show_glance(self, glance: p.HubGlance) -> None:
        self.glance, self._received = glance, time.monotonic()
        self.redraw()
        if not self.timer.isActive():
            self.timer.start()

    def redraw(self) -> None:
        g = self.glance
        if g is None:
            return
        since = int(time.monotonic() - self._received)
        self.nurses.setText(f"Nurses: {g.nurses_signed_in} signed in · {g.nurses_free} free · "
                            f"{g.nurses_in_call} in a call")
        for wait in g.waiting:
            label = self.waits[wait.urgency]
            word = URGENCY_WORDS[wait.urgency]
            if wait.waiting == 0:
                text, broken = f"{word}: none waiting", False
            else:
                longest = wait.longest_wait_s + since
                broken = longest > wait.standard_s
                text = (f"{word}: {wait.waiting} waiting, longest {minutes(longest)} — "
                        + (f"OVER the {standard_words(wait.standard_s)} standard" if broken
                           else f"within {standard_words(wait.standard_s)}"))
            fg, bg = BROKEN if broken else CALM
            label.setText(text)
            label.setProperty("broken", broken)
            label.setStyleSheet(f"QLabel {{ color: {fg}; background: {bg}; padding: 2px 6px;"
                                f" font-weight: {700 if broken else 400}; }}")
        share = (f" ({100 * g.answered_in_standard_today // g.answered_today}%)"
                 if g.answered_today else "")
        self.answered.setText(f"Answered within the standard today: "
                              f"{g.answered_in_standard_today} of {g.answered_today}{share}")


class GlanceFeed(QObject):
    """A listening signaling connection (the manager view's), emitting each glance."""

    glanceChanged = Signal(object)  # p.HubGlance

    def __init__(self, ws_url: str | Sequence[str], token: str,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loop = EngineLoop("glance-feed").start()
        self.client: SignalingClient | None = None

        async def start() -> None:
            self.client = SignalingClient(ws_url, token, self._on_event,
                                          client_name="telehub-manager")
            await self.client.start()

        self._started = self.loop.submit(start())
        self._closed = False

    async def _on_event(self, event: SignalingEvent) -> None:
        if isinstance(event, Received) and isinstance(event.message, p.HubGlance):
            self.glanceChanged.emit(event.message)

    def close(self) -> None:
        """Stop listening and the loop (idempotent)."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            if self.client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.client.close(), 5)

        with contextlib.suppress(Exception):
            self._started.result(timeout=10)
        with contextlib.suppress(Exception):
            self.loop.submit(stop()).result(timeout=10)
        self.loop.stop()
