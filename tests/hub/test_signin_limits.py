"""Failed sign-ins are limited per account and per address on every sign-in route, through a
real hub on SQLite and PostgreSQL: 429 with Retry-After, the right secret refused while
locked, locks that grow, counters shared by two hubs, and an audit row for every failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from hub.db import unit_of_work, utcnow
from hub.models import SignInEvent, SignInThrottle
from hub.signin_limits import account_key
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub

LOGIN = "/api/v1/auth/login"
# For rules the database does not change (the counts' own tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def client(hub: ThreadedHub, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127/8 reaches the hub)."""
    return httpx.Client(base_url=hub.http, timeout=20,
                        transport=httpx.HTTPTransport(local_address=address))


@pytest.fixture
def hub_client() -> Iterator[Callable[..., httpx.Client]]:
    made: list[httpx.Client] = []

    def make(hub: ThreadedHub, address: str = "127.0.0.1") -> httpx.Client:
        made.append(client(hub, address))
        return made[-1]

    yield make
    for c in made:
        c.close()


def events(hubdb: HubDatabase) -> list[tuple[str, str | None, str, str]]:
    with unit_of_work(hubdb.sessions) as s:
        return [(e.route, e.account, e.address, e.outcome)
                for e in s.scalars(select(SignInEvent).order_by(SignInEvent.id))]


def lock_of(hubdb: HubDatabase, scope: str, key: str) -> datetime | None:
    with unit_of_work(hubdb.sessions) as s:
        row = s.get(SignInThrottle, (scope, key))
        return row.locked_until if row is not None else None


def pass_the_lock(hubdb: HubDatabase, scope: str, key: str) -> None:
    """As if the lock's time had passed (the test cannot wait a minute)."""
    with unit_of_work(hubdb.sessions) as s:
        row = s.get(SignInThrottle, (scope, key))
        assert row is not None and row.locked_until is not None and row.locked_until > utcnow()
        row.locked_until = utcnow() - timedelta(seconds=1)


def test_an_account_locks_after_n_failures_the_right_password_waits_and_locks_grow(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
    hub_client: Callable[..., httpx.Client],
) -> None:
    hub = start_hub(signin_account_failures=3, signin_lock_s=60)
    hubdb.staff("nina", "nurse")
    http = hub_client(hub)
    wrong = {"username": "nina", "password": "not the password"}
    right = {"username": "nina", "password": PASSWORD}
    assert [http.post(LOGIN, json=wrong).status_code for _ in range(3)] == [401] * 3
    # 50 more wrong ones and then the right one: all refused without being checked
    for _ in range(50):
        r = http.post(LOGIN, json=wrong)
        assert r.status_code == 429 and 50 <= int(r.headers["Retry-After"]) <= 60, r.text
    r = http.post(LOGIN, json=right)
    assert r.status_code == 429 and "too many failed sign-ins" in r.json()["detail"]
    assert PASSWORD not in r.text

    key = account_key("nina")
    pass_the_lock(hubdb, "account", key)
    # One more wrong password after the lock: locked again, for twice as long
    assert http.post(LOGIN, json=wrong).status_code == 401
    r = http.post(LOGIN, json=right)
    assert r.status_code == 429 and 110 <= int(r.headers["Retry-After"]) <= 120
    pass_the_lock(hubdb, "account", key)
    assert http.post(LOGIN, json=right).status_code == 200
    with unit_of_work(hubdb.sessions) as s:
        row = s.get(SignInThrottle, ("account", key))
        assert row is not None and row.failures == 0 and row.refused == 52

    seen = events(hubdb)
    assert seen.count(("staff", "nina", "127.0.0.1", "wrong_password")) == 4
    assert seen.count(("staff", "nina", "127.0.0.1", "locked")) == 2
    with unit_of_work(hubdb.sessions) as s:
        details = " ".join(e.detail or "" for e in s.scalars(select(SignInEvent)))
    assert "account locked for 60 s after 3 failures" in details
    assert "account locked for 120 s after 4 failures" in details
    assert "not the password" not in details and PASSWORD not in details


@SQLITE_ONLY
def test_site_credentials_and_invitation_codes_are_limited_per_address(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
    hub_client: Callable[..., httpx.Client],
) -> None:
    hub = start_hub(signin_address_failures=3, signin_lock_s=60)
    site = hubdb.site("Beech House")
    nurse = hubdb.staff("nina", "nurse")
    made = httpx.post(f"{hub.http}/api/v1/invitations",
                      headers={"Authorization": f"Bearer {nurse.token}"},
                      json={"patient": {"name": "Margaret Jones"}, "valid_days": 1})
    assert made.status_code == 201
    code = made.json()["code"]

    guesser = hub_client(hub, "127.0.0.2")
    for _ in range(3):
        r = guesser.post("/api/v1/auth/site-login", json={"credential": "ths_guess"})
        assert r.status_code == 401
    r = guesser.post("/api/v1/auth/site-login", json={"credential": site.credential})
    assert r.status_code == 429 and 55 <= int(r.headers["Retry-After"]) <= 60
    # The address is locked on every route, an invitation code's too
    r = guesser.post("/api/v1/auth/invitation-login", json={"code": code})
    assert r.status_code == 429
    # Another address is not
    station = hub_client(hub, "127.0.0.3")
    assert station.post("/api/v1/auth/site-login",
                        json={"credential": site.credential}).status_code == 200

    patient_guesser = hub_client(hub, "127.0.0.4")
    for _ in range(3):
        r = patient_guesser.post("/api/v1/auth/invitation-login",
                                 json={"code": "AAAA-BBBB-CCCC"})
        assert r.status_code == 401
    r = patient_guesser.post("/api/v1/auth/invitation-login", json={"code": code})
    assert r.status_code == 429 and "Retry-After" in r.headers

    seen = events(hubdb)
    assert seen.count(("site", None, "127.0.0.2", "unknown_credential")) == 3
    assert seen.count(("invitation", None, "127.0.0.4", "unknown_code")) == 3
    assert ("site", None, "127.0.0.2", "locked") in seen


@SQLITE_ONLY
def test_an_address_trying_many_accounts_is_locked_for_all_of_them(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
    hub_client: Callable[..., httpx.Client],
) -> None:
    hub = start_hub(signin_account_failures=10, signin_address_failures=4, signin_lock_s=60)
    hubdb.staff("nina", "nurse")
    hubdb.staff("nora", "nurse")
    with unit_of_work(hubdb.sessions) as s:  # a name tried yesterday, long forgotten
        s.add(SignInThrottle(scope="account", key=account_key("yesterday"), failures=2,
                             last_attempt_at=utcnow() - timedelta(days=1), locked_until=None,
                             refused=0))
    sprayer = hub_client(hub, "127.0.0.5")
    for name in ("nina", "nora", "nobody", "admin"):
        r = sprayer.post(LOGIN, json={"username": name, "password": "Winter2026!"})
        assert r.status_code == 401
    r = sprayer.post(LOGIN, json={"username": "nina", "password": PASSWORD})
    assert r.status_code == 429
    # nina herself, at her own desk, is not locked out: her account has 1 failure of 10
    desk = hub_client(hub, "127.0.0.6")
    assert desk.post(LOGIN, json={"username": "nina", "password": PASSWORD}).status_code == 200
    with unit_of_work(hubdb.sessions) as s:
        assert s.get(SignInThrottle, ("account", account_key("yesterday"))) is None
    seen = events(hubdb)
    # Only accounts that exist are named: a name typed by mistake may be someone's password
    assert [e[1] for e in seen if e[3] == "wrong_password"] == ["nina", "nora", None, None]


@pytest.mark.slow
def test_forty_guesses_at_once_get_no_more_checks_than_the_limit(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
) -> None:
    hub = start_hub(signin_account_failures=3, signin_lock_s=60)
    hubdb.staff("nina", "nurse")

    def guess(i: int) -> int:
        with client(hub) as http:
            return http.post(LOGIN, json={"username": "nina",
                                          "password": f"guess number {i}"}).status_code

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(guess, range(40)))
    assert sorted(set(answers)) == [401, 429]
    assert answers.count(401) == 3, answers
    assert events(hubdb).count(("staff", "nina", "127.0.0.1", "wrong_password")) == 3


def test_two_hubs_on_one_database_share_the_counts(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
    hub_client: Callable[..., httpx.Client],
) -> None:
    first = start_hub(signin_account_failures=3, signin_lock_s=60)
    second = start_hub(signin_account_failures=3, signin_lock_s=60)
    hubdb.staff("nina", "nurse")
    a, b = hub_client(first), hub_client(second)
    wrong = {"username": "nina", "password": "not the password"}
    assert a.post(LOGIN, json=wrong).status_code == 401
    assert b.post(LOGIN, json=wrong).status_code == 401
    assert a.post(LOGIN, json=wrong).status_code == 401
    right = {"username": "nina", "password": PASSWORD}
    assert b.post(LOGIN, json=right).status_code == 429
    assert a.post(LOGIN, json=right).status_code == 429
