"""The live side of the hub: connections, the call queue, claims, escalation and signal relay."""

from hub.live.presence import Connection
from hub.live.refusal import Refusal
from hub.live.switchboard import Switchboard

__all__ = ["Connection", "Refusal", "Switchboard"]
