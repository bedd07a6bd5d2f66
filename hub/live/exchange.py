"""The exchange: frames between hubs through PostgreSQL, woken by LISTEN/NOTIFY, and the leases.

Each hub reads its own box (``hub-<id>``) and, while it dispatches, the box ``dispatch``
(docs/cluster.md). A post is a ``hub_mail`` row; the posts of one moment go in one
transaction with one ``NOTIFY telehub_<box>`` per box, whose payload is empty: the rows are
the state, a notification only wakes the box's reader, so no frame meets NOTIFY's 8,000-byte
limit. A reader takes its whole box in id order on every wake-up, every second whatever it
heard, and at once after its listening connection comes back (a listener hears nothing that
was sent while it was away). Posts to a box this hub reads itself skip the database; when that
box's reader is idle they are delivered at once, in the post (``take``), since each turn of the
event loop a frame waits for is a turn behind every other busy socket.

Every hub renews its lease row (``hub_nodes``) every heartbeat interval; :meth:`dead_hubs`
takes out the leases older than the heartbeat timeout, so connections a killed hub held are
noticed within the same 15 s as a silent client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from hub.errors import where
from hub.live.pg import connect

log = logging.getLogger("telehub.hub")

Mail = dict[str, Any]
MailHandler = Callable[[Mail], Awaitable[None]]
# Handles a mail at once, without waiting; False: it needs the (async) MailHandler after all.
MailTaker = Callable[[Mail], bool]
DISPATCH = "dispatch"
POLL_S = 1.0  # a box is read at least this often, notified or not
RETRY_S = 0.5  # after a database error, before the next try
LISTEN_WAIT_S = 0.2  # the listener takes up a new box's channel at least this often
# Mail waiting in memory for the database to come back. Past this the hub stops waiting: the
# mail is dropped and this hub's sockets are closed with 1012, so its clients reconnect (to a
# hub that reaches the database) and resume, rather than the hub's memory growing unbounded.
OUTGOING_LIMIT_BYTES = 64 * 2**20


def channel(box: str) -> str:
    return "telehub_" + box.replace("-", "_")


# The rows in the order given (their ids follow it), and a notification on each channel
# given (a data-modifying WITH runs whether or not the query reads it).
_POST = ("WITH posted AS (INSERT INTO hub_mail (box, body) "
         "SELECT box, body FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY "
         "AS m (box, body, n) ORDER BY n) "
         "SELECT pg_notify(c, '') FROM unnest(%s::text[]) AS c")


def _failed(box: _Box, mail: Mail, exc: Exception) -> None:
    log.error("handling a %r mail in box %s failed: %s", mail.get("k"), box.name, where(exc))


class _Box:
    """One box this hub reads: posts made here, and a reader that delivers them in order."""

    def __init__(self, name: str, handler: MailHandler, take: MailTaker | None) -> None:
        self.name = name
        self.handler = handler
        self.take = take
        self.busy = False  # delivering: a post made now waits its turn behind it
        self.local: list[Mail] = []
        self.wake = asyncio.Event()
        self.notified = True  # rows may be waiting: read the table on the next wake-up
        self.last_read = 0.0  # loop time of the last read of the table
        self.reader: asyncio.Task[None] | None = None
        # Its own connection: a read never waits behind another box's read or a lease.
        self.conn: psycopg.AsyncConnection[Any] | None = None


class Exchange:
    """This hub's boxes, its posts to others, and its lease (see the module docstring)."""

    def __init__(self, db_url: str, lease_s: float, hub_id: str | None = None) -> None:
        self.db_url = db_url
        self.lease_s = lease_s
        self.hub_id = hub_id or uuid.uuid4().hex[:12]
        self.box = f"hub-{self.hub_id}"
        self._boxes: dict[str, _Box] = {}
        self._outgoing: list[tuple[str, Mail, int]] = []  # box, mail, its size in bytes
        self._last: dict[str, Mail] = {}  # each box's last mail not yet being written
        self._outgoing_bytes = 0
        self.outgoing_limit_bytes = OUTGOING_LIMIT_BYTES
        self.overflows = 0  # times the outgoing mail was dropped (the metrics, the tests)
        self._dropped_at = 0
        self._sent = asyncio.Event()  # set whenever the outgoing list is empty
        self._sent.set()
        self._flusher: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._conn_lock = asyncio.Lock()
        # Posts go on a connection of their own, so a box's read (a frame on its way to a
        # client) never waits behind a batch of posts being written.
        self._post_conn: psycopg.AsyncConnection[Any] | None = None
        self._post_lock = asyncio.Lock()
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = False  # the listening connection is up (readiness)
        # This hub's sockets are sent to reconnect: its lease was found taken out, or its
        # outgoing mail overflowed.
        self._reset: Callable[[], Awaitable[None]] | None = None
        self._resetting: asyncio.Future[None] | None = None

    # --- life -----------------------------------------------------------------------------

    async def start(self, on_mail: MailHandler, take: MailTaker | None = None) -> None:
        """Take the lease and start reading this hub's own box; a ``reset`` mail is handed to
        it when the lease was found taken out (see :meth:`renew_lease`)."""
        self._reset = functools.partial(on_mail, {"k": "reset"})
        await self.renew_lease()
        self._tasks.append(asyncio.create_task(self._keep_lease(), name="hub-lease"))
        self._tasks.append(asyncio.create_task(self._listen(), name="hub-listen"))
        await self.open_box(self.box, on_mail, take=take)

    async def close(self) -> None:
        """Send what is still to go, give up the lease and the boxes, close."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flushed(), 5.0)
        for name in list(self._boxes):
            await self.close_box(name)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._flusher is not None:
            self._flusher.cancel()
        with contextlib.suppress(Exception):
            await self.execute("DELETE FROM hub_nodes WHERE id = %s", (self.hub_id,))
            await self.execute("DELETE FROM hub_mail WHERE box = %s", (self.box,))
        for conn in (self._conn, self._post_conn, self._listener):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def open_box(self, name: str, handler: MailHandler, *, take: MailTaker | None = None,
                       fresh: bool = False) -> None:
        """Read box ``name`` from now on; ``fresh`` throws away what was left in it. ``take``
        handles this hub's own posts at once when nothing of the box is waiting."""
        if fresh:
            await self.execute("DELETE FROM hub_mail WHERE box = %s", (name,))
        box = _Box(name, handler, take)
        self._boxes[name] = box
        box.reader = asyncio.create_task(self._read(box), name=f"hub-box-{name}")
        box.wake.set()  # and the listener takes up its channel within LISTEN_WAIT_S

    async def close_box(self, name: str) -> None:
        box = self._boxes.pop(name, None)
        if box is None or box.reader is None:
            return
        box.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await box.reader
        await self._close_quietly(box.conn)

    # --- posting --------------------------------------------------------------------------

    def post(self, box: str, mail: Mail) -> None:
        """Send ``mail`` to ``box``: in order after this hub's earlier posts to it."""
        mine = self._boxes.get(box)
        if mine is not None:
            if mine.take is not None and not mine.local and not mine.busy \
                    and self._take_now(mine, mine.take, mail):
                return
            mine.local.append(mail)
            mine.wake.set()
            return
        if self._merged(box, mail):
            return
        size = len(str(mail.get("t", ""))) + 160  # what it holds, near enough for a bound
        if self._outgoing_bytes + size > self.outgoing_limit_bytes:
            self._overflow()
            return
        self._outgoing.append((box, mail, size))
        self._last[box] = mail
        self._outgoing_bytes += size
        self._sent.clear()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="hub-mail-out")

    @staticmethod
    def _take_now(box: _Box, take: MailTaker, mail: Mail) -> bool:
        box.busy = True  # a post made while taking this one goes after it, in order
        try:
            return take(mail)
        except Exception as exc:
            _failed(box, mail, exc)
            return True
        finally:
            box.busy = False

    def _merged(self, box: str, mail: Mail) -> bool:
        """A frame for one socket, the same as the frame for another socket of the same box
        just before it (a queue update to every desk): one mail carries both (``c`` a list),
        so a broadcast to 25 desks on another hub is one row, not 25."""
        if mail.get("k") != "send" or "t" not in mail or "c" not in mail:
            return False
        last = self._last.get(box)
        if last is None or last.get("k") != "send" or "c" not in last or not (
                last["t"] is mail["t"] or last["t"] == mail["t"]):
            return False
        if isinstance(last["c"], str):
            last["c"] = [last["c"]]
        last["c"].append(mail["c"])
        self._outgoing_bytes += len(mail["c"]) + 3
        return True

    async def flushed(self) -> None:
        """Wait until every post made so far is in the database."""
        await self._sent.wait()

    async def _flush(self) -> None:
        while self._outgoing:
            batch = self._outgoing[:2000]
            generation = self._dropped_at
            self._last.clear()  # nothing is merged into mail being written
            rows = [(box, json.dumps(mail, separators=(",", ":"))) for box, mail, _ in batch]
            try:
                async with self._post_lock:
                    if self._post_conn is None or self._post_conn.closed:
                        self._post_conn = await connect(
                            self.db_url, name=f"telehub-post-{self.hub_id}", durable=False)
                    conn = self._post_conn
                    # One statement, its own transaction: one round trip to the database
                    # for the rows and their boxes' notifications (sent as it commits).
                    boxes = [b for b, _ in rows]
                    await conn.execute(_POST, (boxes, [m for _, m in rows],
                                               [channel(b) for b in dict.fromkeys(boxes)]))
            except psycopg.Error as exc:
                log.warning("posting to other hubs failed (%s); trying again",
                            type(exc).__name__)
                if self._post_conn is not None:
                    with contextlib.suppress(Exception):
                        await self._post_conn.close()
                    self._post_conn = None
                await asyncio.sleep(RETRY_S)
                continue
            if generation == self._dropped_at:  # else the list was dropped meanwhile
                del self._outgoing[: len(batch)]
                self._outgoing_bytes -= sum(size for _, _, size in batch)
        self._sent.set()

    def _overflow(self) -> None:
        """The database has been away too long for the mail to wait (OUTGOING_LIMIT_BYTES)."""
        self.overflows += 1
        log.error("the database has been unreachable too long: %d messages to other hubs "
                  "dropped; this hub's clients are sent to reconnect", len(self._outgoing))
        self._outgoing.clear()
        self._last.clear()
        self._outgoing_bytes = 0
        self._dropped_at += 1  # a batch being written goes in, and only it
        self._sent.set()
        if self._reset is not None and (self._resetting is None or self._resetting.done()):
            self._resetting = asyncio.ensure_future(self._reset())

    # --- reading --------------------------------------------------------------------------

    async def _read(self, box: _Box) -> None:
        while True:
            box.busy = False
            try:
                async with asyncio.timeout(POLL_S):  # no task of its own, unlike wait_for
                    await box.wake.wait()
            except TimeoutError:
                box.notified = True  # the poll: whatever was heard or not
            box.busy = True
            box.wake.clear()
            while box.local:
                mail = box.local.pop(0)
                await self._deliver(box, mail)
            loop = asyncio.get_running_loop()
            if not box.notified and loop.time() - box.last_read < POLL_S:
                continue  # only posts of this hub's own: no need to ask the table yet
            box.notified, box.last_read = False, loop.time()
            try:
                rows = await self._take_rows(box)
            except psycopg.Error as exc:
                log.warning("reading box %s failed (%s); trying again", box.name,
                            type(exc).__name__)
                await self._close_quietly(box.conn)
                box.conn = None
                await asyncio.sleep(RETRY_S)
                box.notified = True
                box.wake.set()
                continue
            for (body,) in rows:
                await self._deliver(box, json.loads(body))

    async def _take_rows(self, box: _Box) -> list[tuple[Any, ...]]:
        if box.conn is None or box.conn.closed:
            box.conn = await connect(self.db_url, name=f"telehub-read-{self.hub_id}",
                                     durable=False)
        cur = await box.conn.execute(
            "WITH taken AS (DELETE FROM hub_mail WHERE box = %s RETURNING id, body) "
            "SELECT body FROM taken ORDER BY id", (box.name,))
        return await cur.fetchall()

    @staticmethod
    async def _close_quietly(conn: psycopg.AsyncConnection[Any] | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    @staticmethod
    async def _deliver(box: _Box, mail: Mail) -> None:
        try:
            await box.handler(mail)
        except Exception as exc:
            _failed(box, mail, exc)

    async def _listen(self) -> None:
        """Keep a listening connection; after each reconnect, every box is read at once."""
        while True:
            try:
                self._listener = await connect(self.db_url, name=f"telehub-listen-{self.hub_id}")
                heard: set[str] = set()
                first = True
                while True:
                    # LISTEN and UNLISTEN between waits: notifies() holds the connection.
                    wanted = {channel(name) for name in self._boxes}
                    for name in wanted - heard:
                        await self._listener.execute(f'LISTEN "{name}"')
                    for name in heard - wanted:
                        await self._listener.execute(f'UNLISTEN "{name}"')
                    heard = wanted
                    if first:  # what was posted while this hub was not listening
                        self.listening, first = True, False
                        for box in self._boxes.values():
                            box.notified = True
                            box.wake.set()
                    async for note in self._listener.notifies(timeout=LISTEN_WAIT_S):
                        target = self._by_channel(note.channel)
                        if target is not None:
                            target.notified = True
                            target.wake.set()
            except psycopg.Error as exc:
                log.warning("listening for other hubs failed (%s); reconnecting",
                            type(exc).__name__)
            finally:
                self.listening = False
                if self._listener is not None:
                    with contextlib.suppress(Exception):
                        await self._listener.close()
                    self._listener = None
            await asyncio.sleep(RETRY_S)

    def _by_channel(self, name: str) -> _Box | None:
        return next((b for b in self._boxes.values() if channel(b.name) == name), None)

    # --- leases ---------------------------------------------------------------------------

    async def renew_lease(self) -> bool:
        """Renew this hub's lease; True if there was none (the first, or it was taken out:
        the dispatcher counted this hub dead and lost its connections)."""
        rows = await self.execute(
            "INSERT INTO hub_nodes (id, started_at, seen_at) VALUES (%s, now(), now()) "
            "ON CONFLICT (id) DO UPDATE SET seen_at = now() RETURNING (xmax = 0)",
            (self.hub_id,))
        return bool(rows and rows[0][0])

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s)
            try:
                if await self.renew_lease():
                    log.warning("hub %s was counted dead (its lease ran out); its clients "
                                "connect again", self.hub_id)
                    if self._reset is not None:
                        await self._reset()
            except psycopg.Error as exc:
                log.warning("renewing this hub's lease failed (%s)", type(exc).__name__)

    async def dead_hubs(self, timeout_s: float) -> list[str]:
        """Take out the leases not renewed for ``timeout_s`` (and those hubs' mail)."""
        rows = await self.execute(
            "DELETE FROM hub_nodes WHERE seen_at < now() - make_interval(secs => %s) "
            "RETURNING id", (timeout_s,))
        dead = [str(r[0]) for r in rows]
        # The boxes of hubs without a lease: theirs, and what was posted to them since.
        await self.execute(
            "DELETE FROM hub_mail WHERE box LIKE 'hub-%%' "
            "AND substr(box, 5) NOT IN (SELECT id FROM hub_nodes)", ())
        return dead

    async def live_hubs(self) -> list[str]:
        return [str(r[0]) for r in await self.execute("SELECT id FROM hub_nodes", ())]

    # --- the connection for posts, reads and leases ---------------------------------------

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await connect(self.db_url, name=f"telehub-hub-{self.hub_id}",
                                       durable=False)
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._conn_lock:
            try:
                conn = await self._connection()
                async with conn.cursor() as cur:
                    await cur.execute(sql, params)
                    return await cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                await self._drop_connection()
                raise
