"""Sign-in on one database only (SQLite), where the database does not matter: password
checks bounded to a few slots, a hub whose key file differs, and the administrator's CLI
for locks and second factors."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub.db import unit_of_work
from hub.models import SignInEvent
from hub.signin import SignInGuard
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from tests.helpers.totp import code_at, enrol
from tests.hub.test_cli import hub_cli

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def hub_db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


def guard_of(hub: ThreadedHub) -> SignInGuard:
    guard = hub.server.config.app.state.services.signin
    assert isinstance(guard, SignInGuard)
    return guard


@pytest.mark.slow
def test_forty_sign_ins_at_once_hash_a_bounded_few_and_the_rest_hear_busy(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
) -> None:
    hub = start_hub(password_hash_slots=1, password_hash_queue=2,
                    signin_account_failures=100, signin_address_failures=100)
    for i in range(4):
        hubdb.staff(f"nurse-{i}", "nurse")

    def sign_in(i: int) -> httpx.Response:
        with httpx.Client(base_url=hub.http, timeout=60) as http:
            return http.post(LOGIN, json={"username": f"nurse-{i % 4}", "password": PASSWORD})

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(sign_in, range(40)))
    codes = [r.status_code for r in answers]
    assert set(codes) == {200, 503}, codes
    busy = [r for r in answers if r.status_code == 503]
    assert all(r.headers["Retry-After"] == "1" and "try again" in r.json()["detail"]
               for r in busy)
    assert guard_of(hub).slots.peak <= 3  # one hashing, two waiting, never more
    # busy is not a failure: nobody is nearer a lock for it
    with unit_of_work(hubdb.sessions) as s:
        assert s.scalar(select(SignInEvent.id)) is None
    assert httpx.post(f"{hub.http}{LOGIN}", json={"username": "nurse-0", "password": PASSWORD},
                      timeout=60).status_code == 200


def test_a_hub_with_another_key_file_says_so_instead_of_failing(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase, tmp_path: Path,
) -> None:
    hubdb.staff("meg", "manager")
    first = start_hub(secret_key_file=tmp_path / "one.key")
    other = start_hub(secret_key_file=tmp_path / "two.key")
    with httpx.Client(base_url=first.http, timeout=20) as http:
        secret, _codes, _answer = enrol(http, "meg")
    assert (tmp_path / "one.key").stat().st_mode & 0o777 == 0o600
    with httpx.Client(base_url=other.http, timeout=20) as http:
        r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD,
                                   "code": code_at(secret, 1)})
        assert r.status_code == 503 and "key file" in r.json()["detail"]
        assert secret not in r.text


@pytest.mark.slow
def test_the_cli_unlocks_an_account_and_resets_a_second_factor(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
) -> None:
    hub = start_hub(signin_account_failures=2, signin_lock_s=600)
    hubdb.staff("meg", "manager")
    with httpx.Client(base_url=hub.http, timeout=20) as http:
        secret, _codes, _answer = enrol(http, "meg")
        for _ in range(2):
            http.post(LOGIN, json={"username": "meg", "password": "not it"})
        r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD,
                                   "code": code_at(secret, 1)})
        assert r.status_code == 429
        done = hub_cli("unlock", "--db", hubdb.url, "--username", "meg")
        assert done.returncode == 0 and "forgotten: 1" in done.stdout, done.stderr
        r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD,
                                   "code": code_at(secret, 1)})
        assert r.status_code == 200
        done = hub_cli("reset-second-factor", "--db", hubdb.url, "--username", "meg")
        assert done.returncode == 0 and "removed" in done.stdout, done.stderr
        assert secret not in done.stdout + done.stderr
        r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD})
        assert r.json()["second_factor"] == "enrol"
    missing = hub_cli("reset-second-factor", "--db", hubdb.url, "--username", "nobody")
    assert missing.returncode == 2 and "no member of staff" in missing.stderr
    assert hub_cli("unlock", "--db", hubdb.url).returncode == 2
