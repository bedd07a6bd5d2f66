"""What a call says besides media, client side: text chat (to a waiting caller and in a call),
the hold the hub knows about, the hub's status as a caller sees it, and the held calls a nurse
desk is shown. The engine turns these hub messages into events and sends the two actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hub.contract import signaling as p


@dataclass(frozen=True)
class ChatReceived:
    """A chat message of a call, as the hub kept it (our own come back too)."""

    message: p.ChatMessage

    @property
    def call_id(self) -> str:
        return self.message.call_id


@dataclass(frozen=True)
class HoldChanged:
    """The call went on hold or came off it (told to every participant)."""

    held: p.CallHeld

    @property
    def call_id(self) -> str:
        return self.held.call_id


@dataclass(frozen=True)
class HubStatusChanged:
    """Whether a nurse can answer now; when not, what to do instead (a site's connection)."""

    status: p.HubStatus


@dataclass(frozen=True)
class HeldCallsChanged:
    """The calls on hold now, across the hub (a nurse or manager desk)."""

    calls: tuple[p.HeldCall, ...]


ConversationEvent = ChatReceived | HoldChanged | HubStatusChanged | HeldCallsChanged
CONVERSATION_MESSAGES = (p.ChatMessage, p.CallHeld, p.HubStatus, p.HeldCalls)


def event_of(msg: p.ChatMessage | p.CallHeld | p.HubStatus | p.HeldCalls) -> ConversationEvent:
    """The event for one of the hub's conversation messages."""
    match msg:
        case p.ChatMessage():
            return ChatReceived(msg)
        case p.CallHeld():
            return HoldChanged(msg)
        case p.HubStatus():
            return HubStatusChanged(msg)
        case p.HeldCalls():
            return HeldCallsChanged(tuple(msg.calls))


class Conversation:
    """The two actions: write in a call, and hold or resume it (a nurse's own call)."""

    def __init__(self, send: Callable[[p._Message], Awaitable[None]]) -> None:
        self._send = send
        self.status: p.HubStatus | None = None  # as last told (a site's connection)

    async def say(self, call_id: str, text: str) -> None:
        """Send ``text`` (checked here as the hub checks it: a ValueError names the field)."""
        await self._send(p.ChatSend(call_id=call_id, text=text))

    async def hold(self, call_id: str, held: bool) -> None:
        await self._send(p.CallHold(call_id=call_id, held=held))
