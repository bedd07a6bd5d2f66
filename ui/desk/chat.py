"""The desk's side of the conversation with callers: messages to a waiting caller (ready-made
or the nurse's own words) and text chat in a call, and the calls on hold across the hub."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from hub.contract import signaling as p
from ui import theme
from ui.announce import announce
from ui.desk.bridge import CallBridge
from ui.desk.call import CallScreen
from ui.desk.queue import KIND_LABELS, QueueView, wait_text
from ui.heading import heading

# What a nurse most often needs to tell a waiting caller, one click away (their own words in
# the box beside). The 999 advice is the hub's standing instruction to every caller.
READY_MADE = (
    "A nurse will be with you in a few minutes.",
    "If they stop breathing or do not respond, call 999 now.",
    "Please stay with the patient. We have not forgotten you.",
    "Please have the latest observations ready for the nurse.",
)


class Conversations:
    """Every message this desk has seen, by call (waiting calls and its own calls)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[p.ChatMessage]] = {}

    def add(self, msg: p.ChatMessage) -> None:
        self.calls.setdefault(msg.call_id, []).append(msg)

    def of(self, call_id: str) -> list[p.ChatMessage]:
        return list(self.calls.get(call_id, []))

    def keep_only(self, call_ids: set[str]) -> None:
        for gone in set(self.calls) - call_ids:
            del self.calls[gone]


def line_of(msg: p.ChatMessage, me: str) -> str:
    who = "You" if msg.sender == me else f"{msg.name} ({msg.role})"
    return f"{msg.sent_at.astimezone():%H:%M} {who}: {msg.text}"


class ChatPanel(QWidget):
    """The messages of one call, and the nurse's message to send.

    Signals:
        sendRequested(str, str): send this text (second) to this call (first).
    """

    sendRequested = Signal(str, str)

    def __init__(self, me: str, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.me = me  # this desk's participant id: its own messages read "You"
        self.call_id: str | None = None
        self.title = heading(QLabel(what))
        self.title.setProperty("role", "heading")
        self.title.setWordWrap(True)
        self.transcript = QListWidget()
        self.transcript.setAccessibleName(f"{what}: transcript")
        self.transcript.setWordWrap(True)
        self.ready = theme.compact_combo(QComboBox(), 24)  # a large font: still on screen
        self.ready.addItems(READY_MADE)
        self.ready.setAccessibleName("Ready-made message")
        self.send_ready = QPushButton("Send ready-made")
        self.send_ready.setAccessibleName("Send the ready-made message")
        self.own = QLineEdit()
        self.own.setMaxLength(p.MAX_CHAT_CHARS)
        self.own.setPlaceholderText("Or type your own message")
        self.own.setAccessibleName("Your own message")
        self.send_own = QPushButton("Send")
        self.send_own.setAccessibleName("Send your own message")
        ready_row, own_row = QHBoxLayout(), QHBoxLayout()
        ready_row.addWidget(self.ready, 1)
        ready_row.addWidget(self.send_ready)
        own_row.addWidget(self.own, 1)
        own_row.addWidget(self.send_own)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.title)
        col.addWidget(self.transcript, 1)
        col.addLayout(ready_row)
        col.addLayout(own_row)
        self.send_ready.clicked.connect(self.on_send_ready)
        self.send_own.clicked.connect(self.on_send_own)
        self.own.returnPressed.connect(self.on_send_own)
        self.show_call(None, "", [])

    def show_call(self, call_id: str | None, title: str,
                  messages: list[p.ChatMessage]) -> None:
        """The conversation of ``call_id`` (None: nothing to write to)."""
        self.call_id = call_id
        if title:
            self.title.setText(title)
        self.transcript.clear()
        for msg in messages:
            self.transcript.addItem(line_of(msg, self.me))
        for w in (self.ready, self.send_ready, self.own, self.send_own):
            w.setEnabled(call_id is not None)
        self.transcript.scrollToBottom()

    def add(self, msg: p.ChatMessage) -> None:
        """A message of the shown call; the caller's is said too (polite: the nurse's work
        goes on)."""
        if msg.call_id != self.call_id:
            return
        self.transcript.addItem(line_of(msg, self.me))
        self.transcript.scrollToBottom()
        if msg.sender != self.me:
            announce(self.transcript, f"Message from {msg.name}: {msg.text}")

    @Slot()
    def on_send_ready(self) -> None:
        if self.call_id is not None:
            self.sendRequested.emit(self.call_id, self.ready.currentText())

    @Slot()
    def on_send_own(self) -> None:
        text = self.own.text().strip()
        if self.call_id is not None and text:
            self.sendRequested.emit(self.call_id, text)
            self.own.clear()


class HeldCallsList(QWidget):
    """The calls on hold across the hub, with who holds each and for how long."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.calls: tuple[p.HeldCall, ...] = ()
        self.title = heading(QLabel("No calls on hold"))
        self.title.setProperty("role", "heading")
        self.list = QListWidget()
        self.list.setAccessibleName("Calls on hold")
        self.list.setWordWrap(True)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.title)
        col.addWidget(self.list)
        self._ticker = QTimer(self, interval=1000)
        self._ticker.timeout.connect(self.on_tick)
        self._ticker.start()

    def set_calls(self, calls: tuple[p.HeldCall, ...]) -> None:
        new = {c.call_id for c in calls} - {c.call_id for c in self.calls}
        self.calls = calls
        n = len(calls)
        self.title.setText("No calls on hold" if n == 0 else
                           f"{n} call{'s' if n != 1 else ''} on hold")
        self.on_tick()
        for c in calls:
            if c.call_id in new:
                announce(self.list, f"{c.site_name} put on hold by {c.nurse}.")

    @Slot()
    def on_tick(self) -> None:
        now = datetime.now(UTC)
        lines = [f"{c.site_name} ({KIND_LABELS[c.site_kind]}) · {c.urgency.value} · "
                 f"{c.reason} — held by {c.nurse} for "
                 f"{wait_text((now - c.since).total_seconds())}" for c in self.calls]
        if [self.list.item(i).text() for i in range(self.list.count())] != lines:
            self.list.clear()
            self.list.addItems(lines)


def scrolled(name: str, *widgets: QWidget) -> QScrollArea:
    """``widgets`` one above the other in a scroll area: at a large system font they scroll
    rather than push the window past the screen (it may shrink to nothing there: what
    arrives is announced all the same)."""
    inside = QWidget()
    inside.setAccessibleName(name)
    col = QVBoxLayout(inside)
    col.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        col.addWidget(w)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(inside)
    area.setAccessibleName(name)
    area.setMinimumHeight(1)
    return area


class DeskTalk(QObject):
    """The desk's conversations, wired: the chat beside the queue follows the selected waiting
    call, the call screen's chat shows the desk's own call, the held calls list what the hub
    says; what a nurse writes goes to the hub through the bridge."""

    def __init__(self, bridge: CallBridge, queue: QueueView, call: CallScreen, me: str,
                 specialist: bool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.queue = bridge, queue
        self.conversations = Conversations()
        # Qt parents from the start: a specialist's desk shows no waiting chat or held
        # calls, and a parentless widget would outlive the window, to be deleted by the
        # garbage collector on whatever thread it runs (a crash off the GUI thread).
        self.waiting = ChatPanel(me, "Message the selected caller", queue)
        self.held = HeldCallsList(queue)
        self.in_call = ChatPanel(me, "Messages in this call", call)
        self.in_call.transcript.setMaximumHeight(140)
        if specialist:  # a specialist joins calls; the queue and its callers are nurses'
            self.waiting.setVisible(False)
            self.held.setVisible(False)
        else:
            queue.side.addWidget(scrolled("Messages and calls on hold", self.waiting,
                                          self.held))
        call.extra.addWidget(scrolled("Messages in this call", self.in_call))
        bridge.chatReceived.connect(self.on_chat)
        bridge.heldCalls.connect(self.held.set_calls)
        for panel in (self.waiting, self.in_call):
            panel.sendRequested.connect(self.on_send)
        selection = queue.table.selectionModel()
        if selection is not None:
            selection.selectionChanged.connect(self.on_selection)

    def queue_changed(self, waiting: set[str], current: str | None) -> None:
        self.conversations.keep_only(waiting | ({current} if current else set()))
        self.on_selection()

    def begin_call(self, call_id: str, site_name: str) -> None:
        self.in_call.show_call(call_id, f"Messages with {site_name}",
                               self.conversations.of(call_id))

    def end_call(self, call_id: str | None) -> None:
        self.in_call.show_call(None, "", self.conversations.of(call_id or ""))

    @Slot()
    def on_selection(self) -> None:
        call_id = self.queue.selected_call()
        if call_id == self.waiting.call_id:
            return
        entry = self.queue.entry(call_id) if call_id is not None else None
        title = (f"Message {entry.site_name} (waiting)" if entry is not None
                 else "Message the selected caller")
        self.waiting.show_call(call_id if entry is not None else None, title,
                               self.conversations.of(call_id or ""))

    @Slot(p.ChatMessage)
    def on_chat(self, msg: p.ChatMessage) -> None:
        self.conversations.add(msg)
        self.waiting.add(msg)
        self.in_call.add(msg)

    @Slot(str, str)
    def on_send(self, call_id: str, text: str) -> None:
        self.bridge.say(call_id, text)
