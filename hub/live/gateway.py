"""The gateway: this hub's WebSockets when several hubs share one database (docs/cluster.md).

The gateway keeps each socket alive (its heartbeat, its bounded outbox: a ``Connection`` as
on a single hub) and forwards what the client says to the dispatching hub's box; the
dispatching hub's frames for the socket come back into this hub's box. It decides nothing
about calls.

Mail to the dispatcher (``k``): ``attach`` (``h`` hub, ``c`` connection, ``p`` principal,
``th`` the hash of its token; ``w`` when attached again), ``msg`` (``t``: the client message),
``detach``, and for REST routes ``tell_site``, ``tell_staff``, ``disconnect``,
``disconnect_tokens``, ``opening`` (the hub's opening was set: read it again) and
``snapshot`` (answered with ``reply``). Mail to a gateway: ``send`` (``t``: a frame; ``c``
one connection, or a list of them for the same frame), ``close`` (``code``, ``reason``),
``again`` (a new dispatcher took over: every socket is attached to it again; the client gets
a second ``welcome`` and resumes its calls as after a reconnect, without reconnecting),
``reset`` (no dispatcher can have these sockets: each is closed with 1012 so its client
reconnects and resumes), ``reply``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.live.exchange import DISPATCH, Exchange, Mail
from hub.live.presence import Connection, Presence
from hub.live.sessions import SignIns

log = logging.getLogger("telehub.hub")

RECONNECT = 1012  # "service restart": the client connects again, to any hub
ANSWER_TIMEOUT_S = 5.0
AGAIN_CHUNK = 100  # sockets attached again at a time after a change of dispatcher...
AGAIN_PAUSE_S = 0.02  # ... and the pause between two chunks (3,000 sockets in 0.6 s)


class Gateway:
    """The sockets of this hub and their way to the dispatching hub."""

    def __init__(self, config: HubConfig, sessions: sessionmaker[Session],
                 exchange: Exchange) -> None:
        self.config = config
        self.exchange = exchange
        self.presence = Presence(config)  # for its heartbeat only: welcomes come from dispatch
        self._by_id: dict[str, Connection] = {}
        self._asked: dict[int, asyncio.Future[str]] = {}
        self._ask_ids = itertools.count(1)
        self._heartbeat: asyncio.Task[None] | None = None
        self.draining = False  # SIGTERM: this hub's clients move to another hub
        self._again: set[asyncio.Task[None]] = set()
        # Sign-ins in batches: a dead hub's clients arrive here all at once.
        self._sign_ins = SignIns(sessions, asyncio.to_thread, config.db_url)

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(
            self.presence.heartbeat(self.detach, self._tick), name="gateway-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for conn in list(self._by_id.values()):
            conn.close(RECONNECT, "hub restarting: connect again")
            await self.detach(conn)
        await self._sign_ins.close()

    @staticmethod
    async def _tick(now: float) -> None:
        return None

    # --- the signaling route's side -------------------------------------------------------

    async def authenticate(self, token: str) -> Principal | None:
        return await self._sign_ins.principal(token)

    def attach(self, conn: Connection) -> None:
        self._by_id[conn.id] = conn
        # Heartbeats start with the dispatcher's first frame (the welcome): a ping sent
        # before it would reach the client where the protocol promises the welcome.
        self._post(self._attach_mail(conn))

    @staticmethod
    def _attach_mail(conn: Connection, again: bool = False) -> dict[str, Any]:
        mail: dict[str, Any] = {"k": "attach", "c": conn.id, "th": conn.token_hash,
                                "p": conn.principal.model_dump(mode="json")}
        if again:
            mail["w"] = 1
        return mail

    async def handle(self, conn: Connection, msg: p.ClientMessage) -> None:
        match msg:
            case p.Ping():
                conn.send(p.Pong(t=msg.t))
            case p.Pong():
                return
            case _:
                self._post({"k": "msg", "c": conn.id, "t": msg.to_json()})

    async def detach(self, conn: Connection) -> None:
        if self._by_id.pop(conn.id, None) is None:
            return
        self.presence.remove(conn)
        self._post({"k": "detach", "c": conn.id})
        await conn.drain()

    # --- what REST routes ask -------------------------------------------------------------

    def tell_site(self, site_id: int, msg: p._Message) -> None:
        self._post({"k": "tell_site", "site": site_id, "t": msg.to_json()})

    def tell_staff(self, staff_id: int, msg: p._Message) -> None:
        self._post({"k": "tell_staff", "staff": staff_id, "t": msg.to_json()})

    def disconnect(self, kind: str, principal_id: int, reason: str,
                   keep_token: str | None = None) -> None:
        self._post({"k": "disconnect", "kind": kind, "id": principal_id, "reason": reason,
                    "keep": keep_token})

    def disconnect_tokens(self, token_hashes: set[str], reason: str) -> None:
        self._post({"k": "disconnect_tokens", "tokens": sorted(token_hashes),
                    "reason": reason})

    def opening_changed(self) -> None:
        self._post({"k": "opening"})

    async def ask(self, kind: str) -> str:
        """Ask the dispatching hub for ``kind`` (``snapshot``) and wait for its answer."""
        ref = next(self._ask_ids)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._asked[ref] = future
        self._post({"k": kind, "r": ref})
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        finally:
            self._asked.pop(ref, None)

    # --- mail from the dispatching hub ----------------------------------------------------

    async def on_mail(self, mail: Mail) -> None:
        self.take(mail)

    def take(self, mail: Mail) -> bool:
        """Every mail a gateway gets is handled at once (the exchange's ``take``)."""
        self._take(mail)
        return True

    def _take(self, mail: Mail) -> None:
        kind = mail.get("k")
        if kind == "again" and not self.draining:
            # Only the dispatcher's side started again: the sockets stay open, so only a
            # dead hub's own clients reconnect, not the whole service (docs/cluster.md).
            task = asyncio.create_task(self._attach_again(), name="gateway-attach-again")
            self._again.add(task)
            task.add_done_callback(self._again.discard)
            return
        if kind in ("reset", "again"):
            for each in list(self._by_id.values()):
                each.close(RECONNECT, "the hub's dispatcher changed: connect again")
            return
        if kind == "reply":
            future = self._asked.get(int(mail["r"]))
            if future is not None and not future.done():
                future.set_result(str(mail["t"]))
            return
        if kind == "send":  # to one socket, or the same frame to several (a broadcast)
            ids = mail.get("c")
            text = str(mail["t"])
            for conn_id in ids if isinstance(ids, list) else [ids]:
                target = self._by_id.get(str(conn_id))
                if target is None:
                    continue  # it closed meanwhile (its detach is on its way)
                target.send_text(text)
                if target not in self.presence.connections:  # welcomed: heartbeats from now
                    target.last_seen = time.monotonic()
                    self.presence.join(target)
            return
        conn = self._by_id.get(str(mail.get("c")))
        if conn is None:
            return  # it closed meanwhile (its detach is on its way to the dispatcher)
        if kind == "close":
            conn.close(int(mail["code"]), str(mail.get("reason") or ""))

    async def _attach_again(self) -> None:
        """Every socket attached to the new dispatcher again: the desks first (the nurses
        have the queue back first), then the sites, AGAIN_CHUNK at a time with a pause
        between, so the calls being made meanwhile are not held up behind thousands of
        welcomes at once."""
        conns = sorted(self._by_id.values(), key=lambda c: c.principal.kind != "staff")
        for start in range(0, len(conns), AGAIN_CHUNK):
            if start:
                await asyncio.sleep(AGAIN_PAUSE_S)
            for conn in conns[start:start + AGAIN_CHUNK]:
                if conn.id in self._by_id:
                    self._post(self._attach_mail(conn, again=True))

    def _post(self, mail: dict[str, Any]) -> None:
        mail["h"] = self.exchange.hub_id
        self.exchange.post(DISPATCH, mail)
