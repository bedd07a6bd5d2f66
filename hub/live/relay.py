"""Signal relay: SDP between the legs of a connected call, and the ICE servers each leg is given."""

from __future__ import annotations

from collections.abc import Mapping

from hub import turn
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.signaling import ErrorCode
from hub.live.call import LiveCall, find_call
from hub.live.presence import Connection
from hub.live.refusal import Refusal


class Relay:
    def __init__(self, config: HubConfig, calls: Mapping[str, LiveCall]) -> None:
        self.config = config
        self._calls = calls

    def ice_servers(self, pid: str) -> list[p.IceServer]:
        c = self.config
        return turn.ice_servers(c.stun_urls, c.turn_urls, c.turn_secret, pid, c.turn_ttl_s)

    def connected(self, call: LiveCall, pid: str) -> p.CallConnected:
        """What a leg is told when it joins (or rejoins) a call: who is in it, and how to
        reach them."""
        return p.CallConnected(call_id=call.id, you=pid, participants=call.participants(),
                               ice_servers=self.ice_servers(pid))

    def relay(self, conn: Connection, msg: p.Offer | p.Answer | p.Renegotiate) -> None:
        """Pass an offer, answer or renegotiation to the participant it is addressed to."""
        call = find_call(self._calls, msg.call_id)
        if call.state != "connected" or not call.is_participant(conn.pid):
            raise Refusal(ErrorCode.NOT_PARTICIPANT,
                          "signaling is only between the participants of a connected call",
                          msg.call_id)
        if msg.to == conn.pid or not call.is_participant(msg.to):
            raise Refusal(ErrorCode.NOT_PARTICIPANT, f"{msg.to!r} is not in this call",
                          msg.call_id)
        target = call.connection_of(msg.to)
        if target is None:
            raise Refusal(ErrorCode.WRONG_STATE, f"{msg.to} is not connected right now",
                          msg.call_id)
        target.send(msg.model_copy(update={"sender": conn.pid}))
