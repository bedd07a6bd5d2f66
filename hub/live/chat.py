"""Text chat of a call: a nurse's message to a waiting caller and the caller's answer, and the
text both ways during a call, kept in the call log before anyone is shown it."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from hub.contract import signaling as p
from hub.contract.identity import CallRole, StaffRole
from hub.contract.signaling import ErrorCode
from hub.db import utcnow
from hub.errors import where
from hub.live.call import LiveCall, find_call
from hub.live.log_writer import CallLogWriter
from hub.live.presence import Connection, Presence
from hub.live.refusal import Refusal

log = logging.getLogger("telehub.hub")


class Chat:
    """``chat_send`` from a connection, to the call's ``chat_message`` for everyone in it."""

    def __init__(self, calls: Mapping[str, LiveCall], presence: Presence,
                 calllog: CallLogWriter) -> None:
        self._calls = calls
        self._presence = presence
        self._log = calllog

    async def send(self, conn: Connection, msg: p.ChatSend) -> None:
        call = find_call(self._calls, msg.call_id)
        role = self._writer_role(conn, call)
        said = p.ChatMessage(call_id=call.id, text=msg.text, sender=conn.pid,
                             name=conn.principal.name, role=role, sent_at=utcnow())
        try:
            await self._log.chat(said)
        except Exception as exc:  # by type and place only: the text may be clinical
            log.error("could not keep a chat message in the call log: %s", where(exc))
            raise Refusal(ErrorCode.INTERNAL, "the hub could not keep this message; send it "
                          "again", call.id) from None
        self.deliver(call, said)

    def _writer_role(self, conn: Connection, call: LiveCall) -> CallRole:
        """Who may write: to a waiting call, its caller and any nurse; in a call, its
        participants only (a nurse who is not in it is refused like anyone else)."""
        pid = conn.pid
        if call.state == "waiting":
            if pid == call.site.participant_id:
                return CallRole.CALLER
            if conn.principal.kind == "staff" and conn.principal.role is StaffRole.NURSE:
                return CallRole.NURSE
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the caller or a nurse may write "
                          "to a waiting call", call.id)
        if call.state != "connected" or not call.is_participant(pid):
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the participants of a call may "
                          "write in it", call.id)
        return call.role_of(pid)

    def deliver(self, call: LiveCall, said: p.ChatMessage) -> None:
        """To the caller and, while the call waits, every nurse desk; in a call, to its
        participants (the state as it is now: the call may have been answered meanwhile)."""
        text = said.to_json()
        targets: set[Connection] = set()
        if call.state == "waiting":
            targets = {c for c in self._presence.connections
                       if c.principal.kind == "staff" and c.principal.role is StaffRole.NURSE}
            if call.caller is not None:
                targets.add(call.caller)
        elif call.state == "connected":
            targets = {c for part in call.participants()
                       if (c := call.connection_of(part.participant_id)) is not None}
        for target in targets:
            target.send_text(text)
