"""The report's roll-ups give the live figures: a random hub history written through the real
writers (the call log and the record store), rebuilt now and then, compared with live reads
for many filters, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa

from hub import schema
from hub.calllog import CallLog
from hub.central_store import CentralStore
from hub.config import HubConfig
from hub.contract import rest
from hub.contract.identity import Principal
from hub.contract.signaling import EndReason, Participant
from hub.db import make_engine, unit_of_work
from hub.models import Call, Site
from hub.reporting import drill, report, rollup
from records.schema import AvoidedFlags, FollowUp, TriageRecord
from tests.helpers.hubserver import HubDatabase, ThreadedHub

FIRST_DAY = date(2025, 1, 27)  # the history crosses two month ends
DAYS = 40
SITES = {"Moor View": "care_home", "Beech House": "care_home", "Hawthorn Prison": "prison",
         "Gold Line 7": "home"}  # fmt: skip
OUTCOMES = ("advice_managed_in_place", "gp_referral", "hospital_admission", "ae_referral")
INTENDED = ("nothing", "gp", "ambulance_999", "ae")
DESK = Principal(kind="staff", id=1, name="Nina", role="nurse")


@dataclass
class Hub:
    """What the random writer has done so far, to choose its next write from."""

    db: HubDatabase
    rnd: random.Random
    staff_id: int
    sites: dict[str, int] = field(default_factory=dict)
    site_of: dict[str, str] = field(default_factory=dict)  # call -> site name
    waiting: list[str] = field(default_factory=list)
    connected: list[str] = field(default_factory=list)
    ended: dict[str, datetime] = field(default_factory=dict)  # answered calls -> answered at
    records: dict[UUID, TriageRecord] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def at(self) -> datetime:
        # Times near midnight now and then: a call's day is its UTC day.
        day = FIRST_DAY + timedelta(days=self.rnd.randrange(DAYS))
        second = self.rnd.choice([self.rnd.randrange(86400), 86399, 0, 86395])
        return datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=second)

    def participant(self, call_id: str) -> tuple[Participant, Participant]:
        return (Participant(participant_id=f"staff:{self.staff_id}", name="Nina", role="nurse"),
                Participant(participant_id=f"site:{call_id}", name="site", role="caller"))

    # --- calls, through CallLog's writers (several in one transaction, as GroupCommit does)

    def calls(self, s: Any, n: int) -> None:
        for _ in range(n):
            call_id = f"call-{next(self.ids)}"
            site = self.rnd.choice(list(SITES))
            CallLog.record_request(s, Call(
                id=call_id, site_id=self.sites[site], request_id=call_id, reason="unwell",
                urgency="urgent", state="waiting", requeued=False, requested_at=self.at(),
            ))  # fmt: skip
            self.waiting.append(call_id)
            self.site_of[call_id] = site

    def progress(self, s: Any, n: int) -> None:
        rnd = self.rnd
        for _ in range(n):
            if self.waiting and (not self.connected or rnd.random() < 0.5):
                call_id = self.waiting.pop(rnd.randrange(len(self.waiting)))
                requested = s.get(Call, call_id).requested_at
                if rnd.random() < 0.15:
                    CallLog.record_end(s, call_id, EndReason.ABANDONED, "caller",
                                       requested + timedelta(seconds=rnd.choice([10, 45, 90])))
                    continue
                desk, caller = self.participant(call_id)
                first = s.get(Call, call_id).answered_at is None
                wait = rnd.choice([5, 20, 45, 61, 100, 250, 301, 900])
                assert CallLog.record_answer(s, call_id, self.staff_id, desk, caller,
                                             requested + timedelta(seconds=wait), first)
                self.connected.append(call_id)
            elif self.connected:
                call_id = self.connected.pop(rnd.randrange(len(self.connected)))
                answered = s.get(Call, call_id).answered_at
                if rnd.random() < 0.15:
                    CallLog.record_requeue(s, call_id, f"staff:{self.staff_id}", answered)
                    self.waiting.append(call_id)
                    continue
                reason = EndReason.CALLER_LOST if rnd.random() < 0.1 else EndReason.COMPLETED
                CallLog.record_end(s, call_id, reason, "staff:1", answered + timedelta(minutes=9))
                self.ended[call_id] = answered

    # --- records, through CentralStore.apply (one batch a transaction)

    def record_batch(self, s: Any, n: int, amendments: float = 0.4) -> None:
        rnd = self.rnd
        batch: list[TriageRecord] = []
        for _ in range(n):
            if self.records and rnd.random() < amendments:
                batch.append(self.amend(rnd.choice(list(self.records.values()))))
            elif self.ended:
                batch.append(self.new_record(rnd.choice(list(self.ended))))
        # One version per record in a batch; the store keeps the newest it is given.
        by_uuid = {r.uuid: r for r in batch}
        stored = CentralStore(s, DESK).apply(list(by_uuid.values()))
        for result in stored:
            assert result.status == "stored", result
            self.records[result.uuid] = by_uuid[result.uuid]

    def new_record(self, call_id: str, *, surely_on_call: bool = False) -> TriageRecord:
        """A record of an answered call (now and then not naming it, or with no time)."""
        rnd = self.rnd
        site, answered = self.site_of[call_id], self.ended[call_id]
        requested = answered - timedelta(seconds=30)
        intended = rnd.choice(INTENDED)
        outcome = rnd.choice(OUTCOMES)
        claims = {}
        if intended in ("ambulance_999", "ae") and outcome in OUTCOMES[:2]:
            claims = {c: rnd.random() < 0.6 for c in ("admission", "ae_attendance")}
            if SITES[site] == "prison":
                claims["prison_transfer"] = True
            if any(claims.values()):
                claims |= {"confirmed_by": "nina", "confirmed_at": requested}
            else:
                claims = {}
        return TriageRecord(
            uuid=UUID(int=rnd.getrandbits(128)), version=1, status="signed_off",
            call_id=call_id if surely_on_call or rnd.random() > 0.1 else None,
            requested_at=requested if surely_on_call or rnd.random() > 0.05 else None,
            answered_at=answered,
            site_id=site, setting=SITES[site], presenting_problem="fall",
            intended_action=intended, outcome=outcome, nurse="nina",
            avoided=AvoidedFlags(**claims), signed_off_at=answered + timedelta(minutes=20),
            signed_off_by="nina", updated_at=answered + timedelta(minutes=20),
        )  # fmt: skip

    def amend(self, held: TriageRecord) -> TriageRecord:
        """A follow-up (confirming or withdrawing the claim), or a correction that moves the
        record to another call or day, or changes its outcome."""
        rnd = self.rnd
        update: dict[str, Any] = {"version": held.version + 1, "amendment_reason": "amended"}
        roll = rnd.random()
        if roll < 0.5:
            update["follow_ups"] = (*held.follow_ups, FollowUp(
                window=rnd.choice(["72h", "7d"]), checked_at=held.signed_off_at,
                checked_by="nina", unplanned_attendance=rnd.random() < 0.4,
                unplanned_admission=False))  # fmt: skip
        elif roll < 0.7:
            other = rnd.choice(list(self.ended))
            update["call_id"] = other
            update["requested_at"] = self.ended[other] - timedelta(seconds=30)
        elif roll < 0.85:
            update["requested_at"] = self.at()  # a corrected time: another day
        else:
            update["outcome"] = rnd.choice(OUTCOMES)
        return held.model_copy(update=update)


def filters_to_check(rnd: random.Random, sites: dict[str, int]) -> list[report.Filters]:
    f = report.Filters
    out = [f(start=date(2025, 1, 1), end=date(2025, 12, 31)),
           f(start=date(2025, 2, 1), end=date(2025, 2, 28)),
           f(start=date(2025, 1, 1), end=date(2025, 1, 31)),
           f(start=date(2025, 3, 1), end=date(2025, 3, 31)),
           f(start=date(2025, 1, 1), end=date(2025, 12, 31), site_id=sites["Hawthorn Prison"]),
           f(start=date(2025, 2, 1), end=date(2025, 2, 28), site_id=sites["Moor View"])]
    for kind in report.SITE_KINDS:
        out.append(f(start=date(2025, 1, 1), end=date(2025, 12, 31), site_kind=kind))
        out.append(f(start=date(2025, 2, 1), end=date(2025, 2, 28), site_kind=kind))
    for _ in range(6):  # partial ranges, across month ends
        a = FIRST_DAY + timedelta(days=rnd.randrange(-3, DAYS))
        b = a + timedelta(days=rnd.randrange(0, 25))
        out.append(f(start=a, end=b, site_kind=rnd.choice([None, *report.SITE_KINDS])))
    return out


def figures(r: rest.Report) -> dict[str, Any]:
    out = r.model_dump(exclude={"generated_at", "elapsed_ms"})
    for c in out["calls"]:
        c["answer_s_total"] = pytest.approx(c["answer_s_total"], rel=1e-9, abs=1e-6)
    return out


DRILL = ("calls", "over_60s", "no_record", "open", "abandoned_after_30s", "records",
         "outcome:none", "outcome:gp_referral", "pending:admission", "withdrawn:ae_attendance",
         "confirmed:prison_transfer")  # fmt: skip


def check(db: HubDatabase, rnd: random.Random, sites: dict[str, int]) -> int:
    """build() and the drill-down totals equal their live reads; how many days were rolled."""
    engine = db.sessions.kw["bind"]
    rolled = 0
    with engine.connect() as conn:
        for n, f in enumerate(filters_to_check(rnd, sites)):
            got, want = report.build(conn, f), report.build(conn, f, live=True)
            assert figures(got) == figures(want), f
            for figure in DRILL if n % 3 == 0 else ():  # a few: each is two queries
                assert drill.count(conn, f, figure) == drill.count(conn, f, figure, live=True)
        rolled = len(conn.execute(sa.select(report.ROLLUPS.days)).all())
    return rolled


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow),
                                  pytest.param(3, marks=pytest.mark.slow)])
def test_rollups_give_the_live_figures_through_the_writers(hubdb: HubDatabase,
                                                           seed: int) -> None:  # fmt: skip
    rnd = random.Random(seed)
    hub = Hub(hubdb, rnd, staff_id=hubdb.staff("nina", "nurse").principal.id)
    hub.sites = {name: hubdb.site(name, kind).principal.id for name, kind in SITES.items()}
    engine = hubdb.sessions.kw["bind"]
    rolled_ever = 0
    for step in range(6):
        with unit_of_work(hubdb.sessions) as s:
            hub.calls(s, rnd.randrange(5, 25))
        for _ in range(3):
            with unit_of_work(hubdb.sessions) as s:
                hub.progress(s, rnd.randrange(5, 20))
        for _ in range(2):
            with unit_of_work(hubdb.sessions) as s:
                hub.record_batch(s, rnd.randrange(1, 12))
        # Rebuild now and then, up to a random day: some days rolled up, some marked since.
        if step % 3 != 2:
            before = rnd.choice([None, FIRST_DAY + timedelta(days=rnd.randrange(DAYS))])
            rollup.refresh_now(engine, before=before)
        rolled_ever = max(rolled_ever, check(hubdb, rnd, hub.sites))
    rollup.refresh_now(engine, before=None)
    assert check(hubdb, rnd, hub.sites) >= DAYS  # the whole history was read from roll-ups
    assert rolled_ever > 0
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(report.ROLLUPS.dirty)) == 0
        year = report.Filters(start=date(2025, 1, 1), end=date(2025, 12, 31))
        assert report.build(conn, year).total("calls") > 50  # the history is not trivial
    # Amendments alone, on days otherwise quiet: each must mark every day it changes.
    for _ in range(3):
        with unit_of_work(hubdb.sessions) as s:
            hub.record_batch(s, 10, amendments=1.0)
        check(hubdb, rnd, hub.sites)


def test_a_write_marks_its_days_and_the_month_is_read_again(hubdb: HubDatabase) -> None:
    """A record stored after its days were rolled up is counted at once (its days read live),
    and once rebuilt the whole month is read from month rows again."""
    rnd = random.Random(3)
    hub = Hub(hubdb, rnd, staff_id=hubdb.staff("nina", "nurse").principal.id)
    hub.sites = {name: hubdb.site(name, kind).principal.id for name, kind in SITES.items()}
    for _ in range(4):
        with unit_of_work(hubdb.sessions) as s:
            hub.calls(s, 20)
            hub.progress(s, 60)
    engine = hubdb.sessions.kw["bind"]
    rollup.refresh_now(engine, before=None)
    feb = report.Filters(start=date(2025, 2, 1), end=date(2025, 2, 28))
    with engine.connect() as conn:
        assert report.rollup_plan(conn, feb, False) == report.RollupPlan(months=(date(2025, 2, 1),))
        before = report.build(conn, feb)
    call_id = next(c for c, at in hub.ended.items() if at.month == 2 and at.day > 1)
    with unit_of_work(hubdb.sessions) as s:
        CentralStore(s, DESK).apply([hub.new_record(call_id, surely_on_call=True)])
    with engine.connect() as conn:
        plan = report.rollup_plan(conn, feb, False)
        assert plan.months == () and plan.live  # the record's day is read live
        after = report.build(conn, feb)
        assert sum(after.outcome_totals().values()) == sum(before.outcome_totals().values()) + 1
        assert after.total("no_record") == before.total("no_record") - 1
        assert figures(after) == figures(report.build(conn, feb, live=True))
    assert rollup.refresh_now(engine, before=None) >= 1
    with engine.connect() as conn:
        assert report.rollup_plan(conn, feb, False) == report.RollupPlan(months=(date(2025, 2, 1),))
        assert figures(report.build(conn, feb)) == figures(after)


def test_migration_0005_rolls_up_the_calls_and_records_already_held(db_url: str) -> None:
    """A hub upgraded from 0004 with history reads it from the roll-ups, figures unchanged."""
    engine = make_engine(db_url)
    schema.upgrade(engine, "0004")
    times = [datetime(2025, 1, 30, 23, 59, 59, tzinfo=UTC), datetime(2025, 2, 3, 8, tzinfo=UTC),
             datetime(2025, 2, 3, 9, tzinfo=UTC), datetime(2025, 2, 27, tzinfo=UTC)]
    with engine.begin() as conn:
        conn.execute(sa.insert(Site.__table__), [{
            "id": 1, "name": "Moor View", "kind": "care_home", "credential_hash": "0" * 64,
            "active": True, "created_at": times[0]}])  # fmt: skip
        conn.execute(sa.insert(Call.__table__), [
            {"id": f"c{n}", "site_id": 1, "request_id": f"r{n}", "reason": "fall",
             "urgency": "urgent", "state": "ended", "requeued": False, "requested_at": at,
             "answered_at": at + timedelta(seconds=40 * n), "ended_at": at + timedelta(hours=1),
             "end_reason": "completed"} for n, at in enumerate(times)
        ])  # fmt: skip
        conn.execute(sa.insert(report.LOG), [
            {"uuid": UUID(int=n + 1), "occurred_at": times[n], "call_id": f"c{n}", "version": 1,
             "site_id": "Moor View", "setting": "care_home", "nurse": "nina",
             "outcome": "gp_referral", "intended_action": "ae", "admission_avoided": False,
             "ae_attendance_avoided": n == 1, "prison_transfer_avoided": False,
             "gp_visit_avoided": False, "follow_up_result": "confirmed"} for n in (0, 1)
        ])  # fmt: skip
    schema.upgrade(engine)
    year = report.Filters(start=date(2025, 1, 1), end=date(2025, 12, 31))
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(report.ROLLUPS.dirty)) == 0
        # Every day of the months with history is rolled up, the days without calls too.
        assert report.rollup_plan(conn, year, False) == report.RollupPlan(
            months=(date(2025, 1, 1), date(2025, 2, 1)),
            live=((date(2025, 3, 1), date(2025, 12, 31)),))  # fmt: skip
        r = report.build(conn, year)
        assert figures(r) == figures(report.build(conn, year, live=True))
        assert (r.total("calls"), r.total("no_record"), r.claim_total("ae_attendance", "confirmed"),
                [c.month for c in r.calls]) == (4, 2, 1, ["2025-01", "2025-02"])  # fmt: skip
    engine.dispose()


def test_calls_written_around_the_writers_count_after_rebuild_all(hubdb: HubDatabase) -> None:
    """A bulk load bypasses the marks, so a rolled-up day misses it until ``db rollup``."""
    rnd = random.Random(4)
    hub = Hub(hubdb, rnd, staff_id=hubdb.staff("nina", "nurse").principal.id)
    hub.sites = {name: hubdb.site(name, kind).principal.id for name, kind in SITES.items()}
    with unit_of_work(hubdb.sessions) as s:
        hub.calls(s, 30)
        hub.progress(s, 40)
    engine = hubdb.sessions.kw["bind"]
    rollup.refresh_now(engine, before=None)
    with unit_of_work(hubdb.sessions) as s:  # not through CallLog: no mark
        s.add(Call(id="bulk-1", site_id=hub.sites["Moor View"], request_id="bulk-1",
                   reason="fall", urgency="urgent", state="ended", requeued=False,
                   requested_at=datetime(2025, 2, 10, 12, tzinfo=UTC), end_reason="abandoned",
                   ended_at=datetime(2025, 2, 10, 12, 5, tzinfo=UTC)))  # fmt: skip
    feb = report.Filters(start=date(2025, 2, 1), end=date(2025, 2, 28))
    with engine.connect() as conn:
        stale = report.build(conn, feb)
        live = report.build(conn, feb, live=True)
    assert live.total("abandoned") == stale.total("abandoned") + 1
    assert rollup.rebuild_all(engine) > 0
    with engine.connect() as conn:
        assert figures(report.build(conn, feb)) == figures(live)


def test_the_summary_route_rebuilds_marked_days_first(hubdb: HubDatabase) -> None:
    rnd = random.Random(5)
    hub = Hub(hubdb, rnd, staff_id=hubdb.staff("nina", "nurse").principal.id)
    hub.sites = {name: hubdb.site(name, kind).principal.id for name, kind in SITES.items()}
    with unit_of_work(hubdb.sessions) as s:
        hub.calls(s, 30)
        hub.progress(s, 40)
    with unit_of_work(hubdb.sessions) as s:
        hub.record_batch(s, 10)
    engine = hubdb.sessions.kw["bind"]
    dirty = sa.select(sa.func.count()).select_from(report.ROLLUPS.dirty)
    with engine.connect() as conn:
        assert conn.scalar(dirty) and not conn.scalar(
            sa.select(sa.func.count()).select_from(report.ROLLUPS.days))  # fmt: skip
        want = report.build(conn, report.Filters(start=date(2025, 1, 1), end=date(2025, 12, 31)),
                            live=True)  # fmt: skip
    served = ThreadedHub(HubConfig(db_url=hubdb.url)).start()
    try:
        token = hubdb.staff("meg", "manager").token
        r = httpx.get(f"{served.http}/api/v1/reports/summary",
                      params={"from": "2025-01-01", "to": "2025-12-31"},
                      headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert r.status_code == 200, r.text
    finally:
        served.stop()
    with engine.connect() as conn:
        assert conn.scalar(dirty) == 0
        assert report.rollup_plan(conn, want.filters, False).months  # now read from the roll-ups
    assert figures(rest.Report.model_validate_json(r.content)) == figures(want)
