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

from hub.cli import main as cli_main
from hub.db import unit_of_work
from hub.models import SignInEvent
from hub.signin import SignInGuard
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from tests.helpers.totp import code_at, enrol

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
    with httpx.Client(base_url=first.http, timeout=20) as http:
        secret, _codes, _answer = enrol(http, "meg")
    assert (tmp_path / "one.key").stat().st_mode & 0o777 == 0o600
    first.stop()  # one hub at a time on an SQLite file: the next one is set up wrongly
    other = start_hub(secret_key_file=tmp_path / "two.key")
    with httpx.Client(base_url=other.http, timeout=20) as http:
        r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD,
                                   "code": code_at(secret, 1)})
        assert r.status_code == 503 and "key file" in r.json()["detail"]
        assert secret not in r.text


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """telehub-hub in this process (test_cli.py runs it as a real process; here the hub's
    state between commands matters, not the program's start)."""
    code = cli_main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_cli_unlocks_an_account_and_resets_a_second_factor(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
    capsys: pytest.CaptureFixture[str],
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
        code, out, err = cli(capsys, "unlock", "--db", hubdb.url, "--username", "meg")
        assert code == 0 and "forgotten: 1" in out, err
        r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD,
                                   "code": code_at(secret, 1)})
        assert r.status_code == 200
        code, out, err = cli(capsys, "reset-second-factor", "--db", hubdb.url,
                             "--username", "meg")
        assert code == 0 and "removed" in out, err
        assert secret not in out + err
        r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD})
        assert r.json()["second_factor"] == "enrol"
    code, _out, err = cli(capsys, "reset-second-factor", "--db", hubdb.url,
                          "--username", "nobody")
    assert code == 2 and "no member of staff" in err
    assert cli(capsys, "unlock", "--db", hubdb.url)[0] == 2
