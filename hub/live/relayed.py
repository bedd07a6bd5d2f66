"""On the dispatching hub: every gateway's sockets as ``Connection``s of its Switchboard.

A relayed connection's socket posts its frames back into its gateway's box; its messages,
arriving in the ``dispatch`` box, are handled in order per connection on a task of their own
(as the signaling route handles each socket's), so one caller waiting on a durable write
holds up no one else. Its heartbeat is its gateway's: the Switchboard neither pings it nor
times it out; it is lost when its gateway says so or when its gateway's lease runs out.
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

    async def on_mail(self, mail: Mail) -> None:
        kind, hub = mail.get("k"), str(mail.get("h"))
        key = (hub, str(mail.get("c")))
        match kind:
            case "attach":
                self._attach(key, Principal.model_validate(mail["p"]), str(mail.get("th", "")))
            case "msg":
                relayed = self._conns.get(key)
                if relayed is None:  # a dispatcher before this one had it: start it again
                    self.exchange.post(f"hub-{hub}", {"k": "close", "c": key[1],
                                                      "code": RECONNECT,
                                                      "reason": "connect again"})
                    return
                try:
                    msg = p.parse_client_message(str(mail["t"]))
                except p.ProtocolError as exc:  # the gateway parsed it: a version skew
                    relayed.conn.send(exc.to_error())
                    return
                relayed.inbox.put_nowait(msg)
            case "detach":
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
        """The connection is gone (closed, silent, or its gateway is dead)."""
        relayed = self._conns.get(key)
        if relayed is not None:
            relayed.inbox.put_nowait(None)

    def lose_hub(self, hub_id: str) -> int:
        """Every connection of a dead gateway is lost; returns how many."""
        keys = [k for k in self._conns if k[0] == hub_id]
        for key in keys:
            self.lose(key)
        return len(keys)

    async def stop(self, *, tell_clients: bool = True) -> None:
        """This hub stops dispatching. Its clients are told to connect again (and resume),
        unless the next dispatcher will reset them anyway (a hand-over)."""
        for key, relayed in list(self._conns.items()):
            conn = relayed.conn
            if tell_clients:
                conn.close(RECONNECT, "the hub's dispatcher is changing: connect again")
            else:  # forgotten here without a word to its gateway
                self.switchboard.presence.remove(conn)
                conn.forget()
            self.lose(key)
        tasks = [r.task for r in self._conns.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    def _attach(self, key: tuple[str, str], principal: Principal, token_hash: str) -> None:
        if key in self._conns:
            return
        conn = Connection(GatewaySocket(self.exchange, *key), principal, token_hash)
        conn.id = key[1]
        conn.relayed = True
        relayed = _Relayed(conn)
        self._conns[key] = relayed
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
            self._conns.pop(key, None)
            await self.switchboard.detach(conn)
