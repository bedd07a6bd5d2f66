"""The live call queue against a real hub: order, broadcasts, claims, abandoned calls, waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from hub.contract import signaling as p
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.waiting import wait_until_async
from tests.helpers.wsclient import HubClient


def request(reason: str, urgency: str = "urgent", rid: str | None = None,
            **extra: object) -> p.CallRequest:
    return p.CallRequest(request_id=rid or reason, reason=reason, urgency=p.Urgency(urgency),
                         **extra)  # type: ignore[arg-type]


async def test_queue_orders_by_urgency_then_arrival_and_every_desk_sees_each_change(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desks = [await HubClient.connect(hub.ws, hubdb.staff(f"nurse{i}", "nurse").token)
             for i in range(3)]
    for d in desks:
        snap = await d.expect(p.QueueSnapshot)
        assert snap.entries == []
    sites = [await HubClient.connect(hub.ws, hubdb.site(f"Home {i}").token) for i in range(4)]
    plan = [("fall, no injury", "routine"), ("chest pain", "emergency"),
            ("new confusion", "urgent"), ("breathless", "emergency")]
    call_ids = {}
    for site, (reason, urgency) in zip(sites, plan, strict=True):
        await site.send(request(reason, urgency))
        queued = await site.expect(p.CallQueued)
        call_ids[reason] = queued.call_id
        # every desk gets this change as it happens, in order
        for d in desks:
            upd = await d.expect(p.QueueUpdate, call_id=queued.call_id)
            assert upd.op == "added" and upd.entry is not None
            assert upd.entry.reason == reason

    order = ["chest pain", "breathless", "new confusion", "fall, no injury"]
    snap_desk = await HubClient.connect(hub.ws, hubdb.staff("late", "nurse").token)
    snap = await snap_desk.expect(p.QueueSnapshot)
    assert [e.reason for e in snap.entries] == order
    assert [e.position for e in snap.entries] == [1, 2, 3, 4]
    assert all(e.site_kind == "care_home" for e in snap.entries)
    # each caller was told its position; the routine caller was pushed back to 4th
    routine = sites[0]
    last = None
    while True:
        try:
            last = await routine.expect(p.QueuePosition, timeout=0.3)
        except TimeoutError:
            break
    assert last is not None and last.position == 4
    # seq numbers let a desk notice a gap: one per change, strictly increasing
    seqs = [m.seq for m in desks[0].inbox if isinstance(m, p.QueueUpdate)]
    assert seqs == sorted(seqs)
    for c in [*desks, *sites, snap_desk]:
        await c.close()


async def test_exactly_one_of_many_concurrent_claims_wins(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desks = [await HubClient.connect(hub.ws, hubdb.staff(f"nurse{i}", "nurse").token)
             for i in range(8)]
    site = await HubClient.connect(hub.ws, hubdb.site("Oak Lodge").token)
    await site.send(request("fall", "urgent"))
    call_id = (await site.expect(p.CallQueued)).call_id
    for d in desks:
        await d.expect(p.QueueUpdate, op="added")
    await asyncio.gather(*(d.send(p.CallClaim(call_id=call_id)) for d in desks))

    async def outcome(d: HubClient) -> str:
        while True:
            m = await d.next()
            if isinstance(m, p.CallConnected):
                return "won"
            if isinstance(m, p.Error):
                assert m.code == p.ErrorCode.ALREADY_CLAIMED
                assert "already answered" in m.message
                return "refused"
            d.inbox.append(m)

    results = await asyncio.gather(*(outcome(d) for d in desks))
    assert results.count("won") == 1 and results.count("refused") == 7
    connected = await site.expect(p.CallConnected)
    roles = {x.role for x in connected.participants}
    assert roles == {"caller", "nurse"}
    # the call left the queue for everyone, with who took it
    for d in desks:
        upd = await d.expect(p.QueueUpdate, op="removed")
        assert upd.reason == "claimed" and upd.claimed_by is not None
    async with httpx.AsyncClient(base_url=hub.http) as http:
        admin = hubdb.staff("boss", "manager")
        log = (await http.get(f"/api/v1/calls/{call_id}",
                              headers={"Authorization": f"Bearer {admin.token}"})).json()
    assert log["state"] == "connected" and log["answered_at"] is not None
    assert sorted(x["role"] for x in log["participants"]) == ["caller", "nurse"]
    for c in [*desks, site]:
        await c.close()


async def test_caller_hanging_up_while_waiting_is_abandoned_and_leaves_the_queue(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    s1 = await HubClient.connect(hub.ws, hubdb.site("A").token)
    s2 = await HubClient.connect(hub.ws, hubdb.site("B").token)
    await s1.send(request("first"))
    c1 = (await s1.expect(p.CallQueued)).call_id
    await s2.send(request("second"))
    assert (await s2.expect(p.CallQueued)).position == 2
    await s1.send(p.CallCancel(call_id=c1))
    ended = await s1.expect(p.CallEnded)
    assert ended.reason == p.EndReason.ABANDONED
    upd = await desk.expect(p.QueueUpdate, op="removed", call_id=c1)
    assert upd.reason == "abandoned"
    assert (await s2.expect(p.QueuePosition)).position == 1
    # the desk can no longer claim it
    await desk.send(p.CallClaim(call_id=c1))
    err = await desk.expect(p.Error)
    assert err.code == p.ErrorCode.ALREADY_CLAIMED
    manager = hubdb.staff("mgr", "manager")
    async with httpx.AsyncClient(base_url=hub.http,
                                 headers={"Authorization": f"Bearer {manager.token}"}) as http:
        row = (await http.get(f"/api/v1/calls/{c1}")).json()
        assert row["state"] == "ended" and row["end_reason"] == "abandoned"
        assert row["answered_at"] is None and row["ended_at"] is not None
        listed = (await http.get("/api/v1/calls", params={"state": "ended"})).json()
        assert [r["id"] for r in listed] == [c1]
    for c in (desk, s1, s2):
        await c.close()


async def test_position_and_estimated_wait_reflect_desks_online(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    sites = [await HubClient.connect(hub.ws, hubdb.site(f"S{i}").token) for i in range(3)]
    for i, s in enumerate(sites):
        await s.send(request(f"r{i}"))
        q = await s.expect(p.CallQueued)
        assert q.position == i + 1
        # With nobody signed in no wait is promised (the caller is told why: hub_status).
        assert q.estimated_wait_s is None
    # A nurse signs in: every caller gets an estimate, growing with the position (one free
    # nurse: the first waits the time to answer, each further one a handling time more).
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    waits = [(await s.expect(p.QueuePosition)).estimated_wait_s for s in sites]
    assert None not in waits
    assert waits[0] < waits[1] < waits[2]  # type: ignore[operator]
    for s in [*sites, desk]:
        await s.close()


async def test_a_caller_that_drops_keeps_its_place_if_it_returns_in_time(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    home = hubdb.site("Rowan House")
    other = await HubClient.connect(hub.ws, hubdb.site("Elm").token)
    first = await HubClient.connect(hub.ws, home.token)
    await first.send(request("breathless", "emergency"))
    call_id = (await first.expect(p.CallQueued)).call_id
    await other.send(request("rash", "routine"))
    await other.expect(p.CallQueued)
    await first.ws.close()
    upd = await desk.expect(p.QueueUpdate, op="updated", call_id=call_id)
    assert upd.entry is not None and upd.entry.caller_connected is False
    back = await HubClient.connect(hub.ws, home.token)
    await back.send(p.CallResume(call_id=call_id))
    q = await back.expect(p.CallQueued)
    assert q.call_id == call_id and q.position == 1
    upd = await desk.expect(p.QueueUpdate, op="updated", call_id=call_id)
    assert upd.entry is not None and upd.entry.caller_connected
    for c in (desk, other, back):
        await c.close()


async def test_a_caller_gone_past_the_grace_period_is_logged_as_lost(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    site = await HubClient.connect(hub.ws, hubdb.site("Ash").token)
    await site.send(request("fall"))
    call_id = (await site.expect(p.CallQueued)).call_id
    await site.ws.close()
    upd = await desk.expect(p.QueueUpdate, op="removed", call_id=call_id, timeout=5)
    assert upd.reason == "caller_lost"
    await desk.close()


async def test_a_silent_peer_is_noticed_by_the_heartbeat(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    site = await HubClient.connect(hub.ws, hubdb.site("Quiet").token)
    await site.send(request("fall"))
    call_id = (await site.expect(p.CallQueued)).call_id
    site.auto_pong = False  # the socket stays open, but the peer stops answering

    async def silent() -> int | None:
        # read without answering pings until the hub closes the connection
        return await site.closed(timeout=8)

    code = await silent()
    assert code == 4408
    upd = await desk.expect(p.QueueUpdate, op="updated", call_id=call_id)
    assert upd.entry is not None and not upd.entry.caller_connected
    await desk.close()


async def test_the_pings_are_spread_over_the_heartbeat_interval(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase
) -> None:
    """Each connection is pinged once an interval, but not all in one burst: 3,000 sites
    pinged, and answering, at once would hold up a call request behind them."""
    interval = 1.0
    hub = start_hub(heartbeat_interval=interval, heartbeat_timeout=3 * interval)
    sites = [await HubClient.connect(hub.ws, hubdb.site(f"Spread {i}").token)
             for i in range(40)]
    await wait_until_async(lambda: all(len(s.pings) >= 3 for s in sites), timeout=15)
    # one whole interval, after every site has been pinged at least twice
    start = max(s.pings[1] for s in sites)
    window = [t for s in sites for t in s.pings if start <= t < start + interval]
    assert len(window) >= 30, len(window)  # nearly every site once per interval
    assert max(window) - min(window) >= interval / 2  # and spread across it
    for s in sites:
        gaps = [b - a for a, b in zip(s.pings, s.pings[1:], strict=False)]
        assert max(gaps) < 2.5 * interval, gaps  # none left unpinged for long
        await s.close()


async def test_when_the_desk_is_lost_the_caller_goes_back_to_the_front(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse_a = hubdb.staff("nurse-a", "nurse")
    desk_a = await HubClient.connect(hub.ws, nurse_a.token)
    desk_b = await HubClient.connect(hub.ws, hubdb.staff("nurse-b", "nurse").token)
    s1 = await HubClient.connect(hub.ws, hubdb.site("One").token)
    s2 = await HubClient.connect(hub.ws, hubdb.site("Two").token)
    await s1.send(request("first", "urgent"))
    c1 = (await s1.expect(p.CallQueued)).call_id
    first_add = await desk_b.expect(p.QueueUpdate, op="added", call_id=c1)
    assert first_add.entry is not None and not first_add.entry.requeued
    await desk_a.send(p.CallClaim(call_id=c1))
    await desk_a.expect(p.CallConnected)
    await s1.expect(p.CallConnected)
    await s2.send(request("second", "urgent"))
    c2 = (await s2.expect(p.CallQueued)).call_id
    await desk_a.ws.close()
    left = await s1.expect(p.ParticipantLeft)
    assert left.participant_id == nurse_a.principal.participant_id
    requeued = await s1.expect(p.CallRequeued, timeout=5)
    assert requeued.position == 1  # ahead of the later call of the same urgency
    snap_update = await desk_b.expect(p.QueueUpdate, op="added", call_id=c1, timeout=5)
    assert snap_update.entry is not None and snap_update.entry.requeued
    assert (await s2.expect(p.QueuePosition)).position == 2
    await desk_b.send(p.CallClaim(call_id=c1))
    await desk_b.expect(p.CallConnected)
    manager = hubdb.staff("max", "manager")  # the call log is clinical: not admin's
    async with httpx.AsyncClient(base_url=hub.http) as http:
        row = (await http.get(f"/api/v1/calls/{c1}",
                              headers={"Authorization": f"Bearer {manager.token}"})).json()
    nurses = [x for x in row["participants"] if x["role"] == "nurse"]
    assert [x["left_reason"] for x in nurses] == ["desk_lost", None]
    assert c2 != c1
    for c in (desk_b, s1, s2):
        await c.close()


async def test_a_repeated_request_id_does_not_queue_the_call_twice(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    site = hubdb.site("Retry House")
    a = await HubClient.connect(hub.ws, site.token)
    # sent twice back to back, before the first is even saved
    await a.send(request("fall", rid="req-1"))
    await a.send(request("fall", rid="req-1"))
    first = await a.expect(p.CallQueued)
    try:
        again = await a.expect(p.CallQueued, timeout=0.5)
        assert again.call_id == first.call_id
    except TimeoutError:
        err = await a.expect(p.Error)
        assert err.code == p.ErrorCode.WRONG_STATE and err.request_id == "req-1"
    # and sent again later (a retry after a reconnect): the same call comes back
    await a.send(request("fall", rid="req-1"))
    assert (await a.expect(p.CallQueued)).call_id == first.call_id
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    snap = await desk.expect(p.QueueSnapshot)
    assert len(snap.entries) == 1
    await a.close()
    await desk.close()


async def test_pre_call_observations_are_scored_with_news2(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    site = await HubClient.connect(hub.ws, hubdb.site("Birch").token)
    obs = p.PreCallObservations(respiration_rate=21, spo2=93, on_oxygen=False, systolic_bp=120,
                                pulse=95, consciousness="A", temperature=37.5)
    await site.send(request("breathless", observations=obs,
                            intended_action=p.IntendedAction.AMBULANCE_999,
                            soft_signs=["new shortness of breath"]))
    await site.expect(p.CallQueued)
    upd = await desk.expect(p.QueueUpdate, op="added")
    assert upd.entry is not None and upd.entry.news2 is not None
    # REFERENCE.md vector: 21, 93, air, 120, 95, A, 37.5 -> 5, medium
    assert (upd.entry.news2.total, upd.entry.news2.band, upd.entry.news2.complete) == (
        5, "medium", True)
    assert upd.entry.intended_action == p.IntendedAction.AMBULANCE_999
    await site.send(request("partial", rid="r2",
                            observations=p.PreCallObservations(pulse=131)))
    await site.expect(p.CallQueued)
    upd = await desk.expect(p.QueueUpdate, op="added")
    assert upd.entry is not None and upd.entry.news2 is not None
    assert upd.entry.news2.complete is False and upd.entry.news2.total == 3
    await site.close()
    await desk.close()


# Once, on SQLite: what it proves is the shipped timings (HubConfig's defaults), and it waits
# them out (12 s). Either database runs the same loop, Presence.heartbeat (a cluster
# gateway's on PostgreSQL, the Switchboard's on SQLite, whose tick also does database work:
# the slower of the two); test_a_silent_peer_is_noticed_by_the_heartbeat runs it on both.
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_dead_peer_is_noticed_within_the_default_15_seconds(
    start_hub: object, hubdb: HubDatabase
) -> None:
    """With the shipped defaults (no test speed-ups), silence is detected in time."""
    import time

    from hub.config import HubConfig

    defaults = HubConfig(db_url="sqlite://")
    hub = start_hub(heartbeat_interval=defaults.heartbeat_interval,  # type: ignore[operator]
                    heartbeat_timeout=defaults.heartbeat_timeout, reconnect_grace=30.0)
    site = await HubClient.connect(hub.ws, hubdb.site("Silent").token)
    site.auto_pong = False
    started = time.monotonic()
    assert await site.closed(timeout=20) == 4408
    assert time.monotonic() - started <= 15.0


async def test_a_request_the_database_refuses_is_taken_back_and_the_caller_told(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    """Desks see a call before it is durable; if saving fails, they see it withdrawn and the
    caller hears that it must send it again (it was never told it was queued). On
    PostgreSQL the queue is the calls rows (hub/live/pg_queue.py): a call no row holds is
    shown to no desk."""
    from sqlalchemy import text

    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    site = await HubClient.connect(hub.ws, hubdb.site("Fragile").token)
    engine = hubdb.sessions.kw["bind"]
    with engine.begin() as conn:  # the disk "fails": the table the request goes to is gone
        conn.execute(text("ALTER TABLE calls RENAME TO calls_away"))
    try:
        await site.send(request("fall", rid="lost-1"))
        err = await site.expect(p.Error)
        assert err.code == p.ErrorCode.INTERNAL and err.request_id == "lost-1"
        if hubdb.url.startswith("sqlite"):
            added = await desk.expect(p.QueueUpdate, op="added")
            removed = await desk.expect(p.QueueUpdate, op="removed", call_id=added.call_id)
            assert removed.reason == "not_saved"
        else:
            await desk.nothing_of(p.QueueUpdate)
        await site.nothing_of(p.CallQueued)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE calls_away RENAME TO calls"))
    # once the database is back, the same request goes through
    await site.send(request("fall", rid="lost-1"))
    assert (await site.expect(p.CallQueued)).position == 1


async def test_a_call_claimed_before_it_is_saved_still_reaches_the_caller_in_order(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    """A desk that answers the instant the queue update arrives (before the request's write
    finished) must not leave the caller without its call id."""
    desk = await HubClient.connect(hub.ws, hubdb.staff("quick", "nurse").token)
    await desk.expect(p.QueueSnapshot)
    site = await HubClient.connect(hub.ws, hubdb.site("Fast").token)
    await site.expect(p.HubStatus)  # after its welcome, before anything of its calls
    for i in range(10):
        await site.send(request(f"r{i}", rid=f"r{i}"))
        added = await desk.expect(p.QueueUpdate, op="added")
        await desk.send(p.CallClaim(call_id=added.call_id))
        queued = await site.next()
        assert isinstance(queued, p.CallQueued) and queued.call_id == added.call_id
        connected = await site.expect(p.CallConnected)
        assert connected.call_id == added.call_id
        await desk.expect(p.CallConnected, call_id=added.call_id)
        await desk.send(p.CallEnd(call_id=added.call_id))
        await site.expect(p.CallEnded, call_id=added.call_id)
