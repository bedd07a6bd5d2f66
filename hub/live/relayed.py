"""On the dispatching hub: every gateway's sockets as ``Connection``s of its Switchboard.

A relayed connection's socket posts its frames back into its gateway's box; its messages,
arriving in the ``dispatch`` box, are handled in order per connection on a task of their own
(as the signaling route handles each socket's), so one caller waiting on a durable write
holds up no one else. Its heartbeat is its gateway's: the Switchboard neither pings it nor
times it out; it is lost when its gateway says so or when its gateway's lease runs out.

After a change of dispatcher, gateways attach their sockets again; a message for a connection
not attached yet (posted to the last dispatcher, or before its gateway heard of this one) is
held for a few seconds until its attach arrives, then the connection is sent away to
reconnect.
"""

from __future__ import annotations

import asyncio
import logging

from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.live.exchange import Exchange, Mail
from hub.live.gateway import RECONNECT
from hub.live.presence import Connection
from hub.live.refusal import carry_out
from hub.live.switchboard import Switchboard

log = logging.getLogger("telehub.hub")

HOLD_S = 5.0  # a message waits this long for its connection's attach
HOLD_MESSAGES = 64  # per connection not attached yet; more and it is sent away
HOLD_CONNECTIONS = 20_000  # connections not attached yet, across every gateway


class GatewaySocket:
    """The far end of a relayed connection: frames go to its gateway's box."""

    def __init__(self, exchange: Exchange, hub_id: str, conn_id: str) -> None:
        self._exchange, self._box, self._conn_id = exchange, f"hub-{hub_id}", conn_id

    async def send_text(self, data: str) -> None:
        self._exchange.post(self._box, {"k": "send", "c": self._conn_id, "t": data})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self._exchange.post(self._box, {"k": "close", "c": self._conn_id, "code": code,
                                        "reason": reason or ""})


class _Relayed:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.inbox: asyncio.Queue[p.ClientMessage | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None


class RelayedConnections:
    """The dispatch box's reader: gateways' connections attached to this hub's Switchboard."""

    def __init__(self, switchboard: Switchboard, exchange: Exchange) -> None:
        self.switchboard = switchboard
        self.exchange = exchange
        self._conns: dict[tuple[str, str], _Relayed] = {}
        self._held: dict[tuple[str, str], list[p.ClientMessage]] = {}

    async def on_mail(self, mail: Mail) -> None:
        if not self.take(mail):  # ``opening``
            await self.switchboard.opening_changed()

    def take(self, mail: Mail) -> bool:
        """A mail handled at once (the exchange's ``take``), but ``opening``: that one reads
        the database, so it waits its turn in the box."""
        if mail.get("k") == "opening":
            return False
        self._take(mail)
        return True

    def _take(self, mail: Mail) -> None:
        kind, hub = mail.get("k"), str(mail.get("h"))
        key = (hub, str(mail.get("c")))
        match kind:
            case "attach":
                self._attach(key, Principal.model_validate(mail["p"]), str(mail.get("th", "")))
            case "msg":
                relayed = self._conns.get(key)
                try:
                    msg = p.parse_client_message(str(mail["t"]))
                except p.ProtocolError as exc:  # the gateway parsed it: a version skew
                    if relayed is not None:
                        relayed.conn.send(exc.to_error())
                    return
                if relayed is None:  # its attach is on its way (a change of dispatcher)
                    self._hold(key, msg)
                    return
                relayed.inbox.put_nowait(msg)
            case "detach":
                self._held.pop(key, None)
                self.lose(key)
            case "tell_site":
                self.switchboard.tell_site(int(mail["site"]),
                                           p.parse_server_message(str(mail["t"])))
            case "tell_staff":
                self.switchboard.tell_staff(int(mail["staff"]),
                                            p.parse_server_message(str(mail["t"])))
            case "disconnect":
                keep = mail.get("keep")
                self.switchboard.disconnect(str(mail["kind"]), int(mail["id"]),
                                            str(mail["reason"]),
                                            str(keep) if keep is not None else None)
            case "disconnect_tokens":
                self.switchboard.disconnect_tokens({str(t) for t in mail["tokens"]},
                                                   str(mail["reason"]))
            case "snapshot":
                self.exchange.post(f"hub-{hub}", {"k": "reply", "r": mail["r"],
                                                  "t": self.switchboard.snapshot().to_json()})
            case _:
                log.warning("a gateway sent mail of an unknown kind %r", kind)

    def lose(self, key: tuple[str, str]) -> None:
        """The connection is gone (closed, silent, or its gateway is dead). It is forgotten
        at once, so the same socket attached again (its gateway was only slow) starts anew."""
        relayed = self._conns.pop(key, None)
        if relayed is not None:
            relayed.inbox.put_nowait(None)

    def _hold(self, key: tuple[str, str], msg: p.ClientMessage) -> None:
        held = self._held.get(key)
        if held is None:
            if len(self._held) >= HOLD_CONNECTIONS:
                self._send_away(key)
                return
            held = self._held[key] = []
            asyncio.get_running_loop().call_later(HOLD_S, self._give_up, key)
        if len(held) >= HOLD_MESSAGES:
            del self._held[key]
            self._send_away(key)
            return
        held.append(msg)

    def _give_up(self, key: tuple[str, str]) -> None:
        if self._held.pop(key, None) is not None:
            self._send_away(key)

    def _send_away(self, key: tuple[str, str]) -> None:
        """A connection this dispatcher does not know: it connects again and resumes."""
        self.exchange.post(f"hub-{key[0]}", {"k": "close", "c": key[1], "code": RECONNECT,
                                             "reason": "connect again"})

    def lose_hub(self, hub_id: str) -> int:
        """Every connection of a dead gateway is lost; returns how many."""
        keys = [k for k in self._conns if k[0] == hub_id]
        for key in keys:
            self.lose(key)
        for key in [k for k in self._held if k[0] == hub_id]:
            del self._held[key]
        return len(keys)

    async def stop(self, *, tell_clients: bool = True) -> None:
        """This hub stops dispatching. Its clients are told to connect again (and resume),
        unless the next dispatcher will reset them anyway (a hand-over)."""
        relayed_now = list(self._conns.items())
        self._held.clear()
        for key, relayed in relayed_now:
            conn = relayed.conn
            if tell_clients:
                conn.close(RECONNECT, "the hub's dispatcher is changing: connect again")
            else:  # forgotten here without a word to its gateway
                self.switchboard.presence.remove(conn)
                conn.forget()
            self.lose(key)
        tasks = [r.task for _, r in relayed_now if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    def _attach(self, key: tuple[str, str], principal: Principal, token_hash: str) -> None:
        if key in self._conns:
            return  # attached already (its gateway's first attach, and then again)
        conn = Connection(GatewaySocket(self.exchange, *key), principal, token_hash)
        conn.id = key[1]
        conn.relayed = True
        relayed = _Relayed(conn)
        self._conns[key] = relayed
        for msg in self._held.pop(key, ()):  # served after its welcome, in order
            relayed.inbox.put_nowait(msg)
        relayed.task = asyncio.create_task(self._serve(key, relayed),
                                           name=f"relayed-{key[1]}")

    async def _serve(self, key: tuple[str, str], relayed: _Relayed) -> None:
        """What the signaling route does for a socket of its own, for a relayed one."""
        conn = relayed.conn
        self.switchboard.attach(conn)
        try:
            while (msg := await relayed.inbox.get()) is not None:
                await carry_out(self.switchboard.handle, conn, msg)
        finally:
            if self._conns.get(key) is relayed:
                del self._conns[key]
            await self.switchboard.detach(conn)
