"""Several hubs on one PostgreSQL database, through a real HAProxy: claims across hubs, a call
between hubs with real frames, a hub killed under waiting callers and a call in progress, and a
rolling restart of every hub during a stream of calls. Loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from calls.engine import CallEngine, QueueChanged, SignalingChanged
from calls.session import CallState
from calls.signaling import Connected
from hub.client import Backoff
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from hub.db import unit_of_work
from hub.models import Call
from tests.helpers.cluster import HubCluster
from tests.helpers.engines import EventLog, frame_where, stamps_of
from tests.helpers.hubserver import HubDatabase, Seeded
from tests.helpers.metrics import scrape, value
from tests.helpers.wsclient import HubClient, KeptClient

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Short heartbeats so a lost connection is noticed in seconds; a grace long enough that no
# call is requeued or ended while its parties move to another hub.
CLUSTER_ARGS = ("--heartbeat-interval", "0.5", "--heartbeat-timeout", "3",
                "--reconnect-grace", "20")  # for the module's cluster (fixtures.module_cluster)
Whole = tuple[HubCluster, HubDatabase]
ROUNDS = 4


def request(reason: str, urgency: str = "urgent") -> p.CallRequest:
    return p.CallRequest(request_id=reason, reason=reason, urgency=p.Urgency(urgency))


def calls_in(db: HubDatabase, *sites: Seeded) -> dict[str, Call]:
    """The calls of these sites (the module's tests share one database), by reason."""
    ids = [site.principal.id for site in sites]
    with unit_of_work(db.sessions) as s:
        return {c.reason: c for c in s.scalars(sa.select(Call).where(Call.site_id.in_(ids)))}


@pytest.fixture
def name() -> Callable[[str], str]:
    """Names unique to the test: accounts live on in the module's shared database."""
    tag = uuid.uuid4().hex[:6]
    return lambda base: f"{base}-{tag}"


@pytest.fixture
async def kept() -> AsyncIterator[Callable[..., KeptClient]]:
    """Makes reconnecting clients (started by the test), closed after it."""
    made: list[KeptClient] = []

    def make(url: str, token: str) -> KeptClient:
        made.append(KeptClient(url, token))
        return made[-1]

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def engines() -> AsyncIterator[Callable[..., CallEngine]]:
    made: list[CallEngine] = []

    def make(url: str, token: str, role: CallRole) -> CallEngine:
        made.append(CallEngine(url, token, role, backoff=Backoff(initial=0.05, maximum=0.3)))
        return made[-1]

    yield make
    for engine in made:
        await asyncio.wait_for(engine.close(), 15)


async def test_concurrent_claims_by_desks_on_different_hubs_have_one_winner_every_round(
    whole_cluster: Whole, name: Callable[[str], str]
) -> None:
    cluster, cluster_db = whole_cluster
    desks, staff_ids = [], []
    for i in range(4):  # two desks on each hub
        nurse = cluster_db.staff(name(f"nurse{i}"), "nurse")
        staff_ids.append(nurse.principal.id)
        with cluster.lb.only(cluster.name(i % 2)):
            desks.append(await HubClient.connect(cluster.ws, nurse.token))
    assert sorted(cluster.lb.sessions().values()) == [2, 2]
    site_seed = cluster_db.site(name("Beech House"))
    site = await HubClient.connect(cluster.ws, site_seed.token)

    async def outcome(desk: HubClient, call_id: str) -> str:
        while True:
            m = await desk.next()
            if isinstance(m, p.CallConnected) and m.call_id == call_id:
                return "won"
            if isinstance(m, p.Error) and m.call_id == call_id:
                assert m.code is p.ErrorCode.ALREADY_CLAIMED
                return "refused"

    winners = []
    for round_ in range(ROUNDS):
        await site.send(request(f"round {round_}"))
        call_id = (await site.expect(p.CallQueued)).call_id
        for desk in desks:  # every desk, on either hub, sees the call
            await desk.expect(p.QueueUpdate, op="added", call_id=call_id)
        if round_ == 0:  # each hub's metrics: the one queue, its own desks, one dispatcher
            figures = [scrape(hub.metrics_url) for hub in cluster.hubs]
            for f in figures:
                assert value(f, "telehub_calls_waiting", urgency="urgent") == 1
                assert value(f, "telehub_desks_signed_in", role="nurse") == 2
                assert value(f, "telehub_connections", kind="staff") == 2
            assert sorted(value(f, "telehub_dispatching") for f in figures) == [0, 1]
            assert sum(value(f, "telehub_connections", kind="site") for f in figures) == 1
        await asyncio.gather(*(d.send(p.CallClaim(call_id=call_id)) for d in desks))
        outcomes = await asyncio.gather(*(outcome(d, call_id) for d in desks))
        assert sorted(outcomes) == ["refused", "refused", "refused", "won"], outcomes
        winner = desks[outcomes.index("won")]
        winners.append(outcomes.index("won"))
        await site.expect(p.CallConnected, call_id=call_id)
        await winner.send(p.CallEnd(call_id=call_id))
        await site.expect(p.CallEnded, call_id=call_id)
    rows = calls_in(cluster_db, site_seed)
    assert len(rows) == ROUNDS
    assert all(c.state == "ended" and c.answered_by is not None for c in rows.values())
    # the log names the one winner of each round
    answered_by = [rows[f"round {r}"].answered_by for r in range(ROUNDS)]
    assert answered_by == [staff_ids[w] for w in winners]


async def test_a_site_on_one_hub_and_a_desk_on_another_in_a_real_call_with_frames(
    whole_cluster: Whole, name: Callable[[str], str], engines: Callable[..., CallEngine],
) -> None:
    cluster, cluster_db = whole_cluster
    site_seed = cluster_db.site(name("Beech House"))
    nurse_seed = cluster_db.staff(name("nina"), "nurse")
    site = engines(cluster.ws, site_seed.token, CallRole.CALLER)
    desk = engines(cluster.ws, nurse_seed.token, CallRole.NURSE)
    site_log, desk_log = EventLog(site), EventLog(desk)
    with cluster.lb.only("hub1"):
        await site.start()
    with cluster.lb.only("hub2"):
        await desk.start()
    assert cluster.lb.sessions() == {"hub1": 1, "hub2": 1}
    caller = await site.request_call("short of breath since this morning")
    await site_log.state(CallState.QUEUED)
    await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
    assert caller.call_id is not None
    answerer = await desk.claim(caller.call_id)
    await desk_log.state(CallState.IN_CALL)
    await site_log.state(CallState.IN_CALL)
    # offer, answer and candidates crossed between the hubs: media flows both ways
    at_desk = answerer.links[site_seed.principal.participant_id]
    at_site = caller.links[nurse_seed.principal.participant_id]
    for link in (at_desk, at_site):
        assert link.video is not None
        await frame_where(link.video, lambda f: True, within=15)
    assert at_desk.video is not None
    counters = stamps_of(at_desk.video)
    async with asyncio.timeout(10):
        while len(counters) < 20:
            await frame_where(at_desk.video, lambda f: True)
    assert counters == sorted(counters)
    await desk.hang_up(caller.call_id)
    await site_log.state(CallState.ENDED)
    assert calls_in(cluster_db, site_seed)["short of breath since this morning"].state == "ended"


async def test_a_hub_killed_with_callers_waiting_and_a_call_in_progress_loses_nothing(
    whole_cluster: Whole, name: Callable[[str], str], engines: Callable[..., CallEngine],
    kept: Callable[..., KeptClient],
) -> None:
    cluster, cluster_db = whole_cluster
    doomed = cluster.dispatching()  # the hardest case: the hub running the live side
    other = 1 - doomed
    site_seed = cluster_db.site(name("Beech House"))
    nurse_seed = cluster_db.staff(name("nina"), "nurse")
    site = engines(cluster.ws, site_seed.token, CallRole.CALLER)
    desk = engines(cluster.ws, nurse_seed.token, CallRole.NURSE)
    site_log, desk_log = EventLog(site), EventLog(desk)
    waiting_seeds = [cluster_db.site(name(f"Home {i}")) for i in range(3)]
    waiting = [kept(cluster.ws, seed.token) for seed in waiting_seeds]
    watcher = kept(cluster.ws, cluster_db.staff(name("nora"), "nurse").token)
    with cluster.lb.only(cluster.name(doomed)):  # every party on the hub about to die...
        await site.start()
        await desk.start()
        for w in waiting:
            await w.start()
    with cluster.lb.only(cluster.name(other)):  # ...but one desk, watching the queue
        await watcher.start()
    caller = await site.request_call("in a call when the hub died")
    await site_log.state(CallState.QUEUED)
    assert caller.call_id is not None
    await desk_log.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
    answerer = await desk.claim(caller.call_id)
    await site_log.state(CallState.IN_CALL)
    for i, (w, urgency) in enumerate(zip(waiting, ["routine", "emergency", "urgent"],
                                         strict=True)):
        await w.send(request(f"waiting {i}", urgency))
        queued = await w.expect(p.CallQueued)
        w.signaling.hold(queued.call_id)  # as the station does: resumed after a reconnect
    in_order = ["waiting 1", "waiting 2", "waiting 0"]  # emergency, urgent, routine
    assert await _queue_of(watcher, 3) == in_order
    at_desk = answerer.links[site_seed.principal.participant_id]
    assert at_desk.video is not None
    counters = stamps_of(at_desk.video)

    marks = (site_log.mark(), desk_log.mark())
    cluster.kill(doomed)
    # media is peer to peer: frames keep arriving while the signaling moves
    seen = len(counters)
    await frame_where(at_desk.video, lambda f: True, within=5)
    async with asyncio.timeout(10):
        while len(counters) < seen + 10:
            await frame_where(at_desk.video, lambda f: True)
    # every waiting caller is back in the queue at its place, told by the hub that is left
    for i, w in enumerate(waiting):
        again = await w.expect(p.CallQueued, timeout=20)
        assert again.position == in_order.index(f"waiting {i}") + 1
    # the desk on the other hub sees the same queue (the call in progress is not in it)
    assert await _queue_of(watcher, 3, timeout=20) == in_order
    # the call in progress resumes its signaling at the other hub: the nurse ends it, once
    for log, mark in zip((site_log, desk_log), marks, strict=True):
        await log.wait(lambda e: isinstance(e, SignalingChanged) and not e.connected,
                       within=10, since=mark)
        await log.wait(lambda e: isinstance(e, SignalingChanged) and e.connected,
                       within=20, since=mark)
    assert caller.state is CallState.IN_CALL and answerer.state is CallState.IN_CALL
    await desk.hang_up(caller.call_id)
    await site_log.state(CallState.ENDED, within=20)
    rows = calls_in(cluster_db, site_seed, *waiting_seeds)
    assert rows["in a call when the hub died"].state == "ended"
    assert rows["in a call when the hub died"].answered_by == nurse_seed.principal.id
    assert sorted(c.state for r, c in rows.items() if r.startswith("waiting")) == [
        "waiting"] * 3
    assert len(rows) == 4


async def _queue_of(desk: KeptClient, n: int, timeout: float = 10) -> list[str]:
    """The reasons of the waiting calls in answering order, from a fresh snapshot, once the
    queue holds ``n`` (asked again until it does: a desk that moved asks its new hub)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with contextlib.suppress(Exception):
            await desk.send(p.QueueSync())
        with contextlib.suppress(TimeoutError):
            snap = await desk.expect(p.QueueSnapshot, timeout=0.5)
            if len(snap.entries) == n:
                return [e.reason for e in snap.entries]
        if loop.time() > deadline:
            raise AssertionError(f"the desk never held a queue of {n}")


TALK_S = 0.5  # how long each call of the stream lasts


class _Stream:
    """Sites calling one call after another and desks answering and ending each at once,
    all through the balancer on reconnecting clients, for as long as it runs."""

    def __init__(self, sites: list[KeptClient], desks: list[KeptClient]) -> None:
        self.sites, self.desks = sites, desks
        self.queued: dict[str, str] = {}  # request id -> call id
        self.completed: dict[str, str] = {}  # request id -> end reason
        self.given: dict[str, set[int]] = {}  # call id -> the desks connected to it
        self.running = True
        self.tasks: list[asyncio.Task[None]] = []
        self.asking: dict[int, str] = {}  # site -> the request it is on (for a failure)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._site(i, s)) for i, s in enumerate(self.sites)]
        self.tasks += [asyncio.create_task(self._desk(i, d)) for i, d in enumerate(self.desks)]

    async def _site(self, i: int, site: KeptClient) -> None:
        n = 0
        while self.running:
            rid = f"site{i}-call{n}"
            self.asking[i] = rid
            call_id = None
            while call_id is None:  # a request lost with its hub is sent again on reconnect
                with contextlib.suppress(Exception):
                    await site.send(request(rid))
                while True:
                    try:
                        got = await site.expect(p.CallQueued | Connected | p.Error,  # type: ignore[arg-type]
                                                timeout=30)
                    except TimeoutError:  # named here: settle's own timeout may come later
                        raise AssertionError(
                            f"{rid} had no call_queued in 30 s; the site was sent meanwhile: "
                            f"{[type(m).__name__ for m in site.inbox][-12:]}") from None
                    if isinstance(got, Connected):
                        break
                    if isinstance(got, p.Error):
                        if got.ref != "call_request" or got.request_id != rid:
                            continue  # (a resume of a call that has ended meanwhile)
                        # A station takes any refusal of its request as the end of its call.
                        assert got.code is p.ErrorCode.WRONG_STATE and got.call_id, got
                        # Its call_queued was lost in a move, and a desk answered and ended
                        # the call before the request came again: the hub names the call
                        # (how it ended is checked in its row, below).
                        call_id = got.call_id
                        self.queued[rid] = call_id
                        self.completed[rid] = p.EndReason.COMPLETED
                        break
                    if got.request_id == rid:
                        call_id = got.call_id
                        break
            if rid in self.completed:
                n += 1
                continue
            self.queued[rid] = call_id
            site.signaling.hold(call_id)
            ended = await site.expect(p.CallEnded, timeout=60, call_id=call_id)
            site.signaling.release(call_id)
            self.completed[rid] = ended.reason
            n += 1

    async def _desk(self, i: int, desk: KeptClient) -> None:
        from calls.signaling import Received

        while True:
            event = await desk.events.get()
            msg = event.message if isinstance(event, Received) else None
            entries: list[p.QueueEntry] = []
            if isinstance(msg, p.QueueSnapshot):
                entries = msg.entries
            elif isinstance(msg, p.QueueUpdate) and msg.entry is not None:
                entries = [msg.entry]
            for entry in entries:
                with contextlib.suppress(Exception):
                    await desk.send(p.CallClaim(call_id=entry.call_id))
            if isinstance(msg, p.CallConnected):
                # (again after a move: the end it sent may have been lost with its hub)
                self.given.setdefault(msg.call_id, set()).add(i)
                desk.signaling.hold(msg.call_id)
                self.tasks.append(asyncio.create_task(self._talk(desk, msg.call_id)))
            elif isinstance(msg, p.CallEnded):
                desk.signaling.release(msg.call_id)

    async def _talk(self, desk: KeptClient, call_id: str) -> None:
        """A short call, then the nurse ends it (again, if the end was lost in a move)."""
        await asyncio.sleep(TALK_S)  # the call's length is what is simulated
        with contextlib.suppress(Exception):
            await desk.send(p.CallEnd(call_id=call_id))

    async def settle(self, db: HubDatabase, sites: list[Seeded], timeout: float = 30) -> None:
        """Stop starting calls; wait for every site's last call to end."""
        self.running = False
        site_tasks = self.tasks[: len(self.sites)]
        # asyncio.wait, not wait_for: a timeout must leave the tasks as they are, to be
        # named below (wait_for would cancel them first).
        _done, pending = await asyncio.wait(site_tasks, timeout=timeout)
        if pending:
            open_ = {c for r, c in self.queued.items() if r not in self.completed}
            rows = {c.id: (c.state, c.end_reason) for c in calls_in(db, *sites).values()
                    if c.id in open_}
            inboxes = [[m for m in x.inbox if getattr(m, "call_id", None) in open_]
                       for x in self.sites]
            stuck = {self.asking.get(i): [type(m).__name__ for m in self.sites[i].inbox][-8:]
                     for i, t in enumerate(site_tasks) if not t.done()}
            for task in self.tasks:
                task.cancel()
            raise AssertionError(f"calls that never ended: {rows}; {inboxes}; sites still "
                                 f"on a request, and what they were sent: {stuck}")
        for task in site_tasks:  # a site that failed fails the test with its own error
            task.result()
        for task in self.tasks[len(self.sites):]:
            task.cancel()


async def test_a_rolling_restart_of_every_hub_during_a_stream_of_calls_drops_none(
    whole_cluster: Whole, name: Callable[[str], str], kept: Callable[..., KeptClient],
) -> None:
    cluster, cluster_db = whole_cluster
    site_seeds = [cluster_db.site(name(f"Home {i}")) for i in range(4)]
    sites = [kept(cluster.ws, seed.token) for seed in site_seeds]
    desks = [kept(cluster.ws, cluster_db.staff(name(f"nurse{i}"), "nurse").token)
             for i in range(2)]
    for client in [*sites, *desks]:
        await client.start()
    stream = _Stream(sites, desks)
    stream.start()
    async def calls_done(at_least: int) -> None:
        while len(stream.completed) < at_least:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(calls_done(4), 20)
    for i in range(len(cluster.hubs)):  # one by one, as an upgrade does
        cluster.terminate(i)
        # the draining hub says so to the balancer until it has gone
        await asyncio.to_thread(cluster.hubs[i].proc.wait, 30)
        await asyncio.to_thread(cluster.restart, i)
        done = len(stream.completed)
        await asyncio.wait_for(calls_done(done + 4), 30)  # calls go on between restarts
    await stream.settle(cluster_db, site_seeds)
    # every request was queued once, answered by one desk once, and completed
    assert len(stream.queued) >= 12
    assert set(stream.completed.values()) == {p.EndReason.COMPLETED}
    assert {len(desks) for desks in stream.given.values()} == {1}  # one desk per call
    rows: dict[str, list[Call]] = {}
    ids = [seed.principal.id for seed in site_seeds]
    with unit_of_work(cluster_db.sessions) as s:
        for c in s.scalars(sa.select(Call).where(Call.site_id.in_(ids))):
            rows.setdefault(c.request_id, []).append(c)
    assert set(rows) == set(stream.queued)  # one row per request, none lost, none doubled
    for rid, found in rows.items():
        assert len(found) == 1, "; ".join(
            f"{c.id[:8]} {c.state} {c.end_reason} req {c.requested_at:%S.%f} "
            f"ans {c.answered_at and f'{c.answered_at:%S.%f}'} end {c.ended_at:%S.%f} "
            f"(site had {stream.queued[rid][:8]})" for c in found)
        (call,) = found
        assert call.id == stream.queued[rid]
        assert call.state == "ended" and call.end_reason == "completed"
        assert call.answered_by is not None
