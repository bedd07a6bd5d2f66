"""The second factor through a real hub on SQLite and PostgreSQL: required for admin and
manager (and nurses where configured), enrolment, codes checked and accepted once, recovery
codes used once, wrong codes counted towards the lock, an administrator's reset, and no
secret readable in the database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import inspect, select, text

from hub.db import unit_of_work
from hub.models import SignInEvent
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from tests.helpers.totp import CONFIRM, ENROL, code_at, enrol

LOGIN = "/api/v1/auth/login"
# For rules the database does not change (enrolment and replay run on both).
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def http(hub: ThreadedHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.http, timeout=20) as client:
        yield client


def outcomes(hubdb: HubDatabase, account: str) -> list[str]:
    with unit_of_work(hubdb.sessions) as s:
        return list(s.scalars(select(SignInEvent.outcome).where(SignInEvent.account == account)
                              .order_by(SignInEvent.id)))


def test_an_admin_enrols_and_then_signs_in_with_codes_each_used_once(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hub")
    hubdb.staff("ada", "admin")
    with httpx.Client(base_url=start_hub(signin_account_failures=20).http, timeout=20) as http:
        secret, codes = admin_signs_in(http, hubdb)
    # The hub's log says what happened to whom, and never a secret
    assert "sign-in wrong_password: route=mfa account=ada address=127.0.0.1" in caplog.text
    assert "sign-in replayed_code: route=staff account=ada" in caplog.text
    for secret_text in (secret, PASSWORD, "guess", *codes):
        assert secret_text not in caplog.text


def admin_signs_in(http: httpx.Client, hubdb: HubDatabase) -> tuple[str, list[str]]:
    r = http.post(LOGIN, json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 401
    assert r.json()["second_factor"] == "enrol" and r.json()["role"] == "admin"
    assert "token" not in r.json()
    # enrolment needs the password
    assert http.post(ENROL, json={"username": "ada", "password": "guess"}).status_code == 401
    r = http.post(ENROL, json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 201
    body = r.json()
    secret = body["secret"]
    assert body["uri"].startswith("otpauth://totp/telehub:ada?secret=" + secret)
    assert "issuer=telehub" in body["uri"] and len(secret) == 32
    # pending, not yet a factor: the sign-in still says to enrol; a wrong code confirms nothing
    r = http.post(LOGIN, json={"username": "ada", "password": PASSWORD})
    assert r.json()["second_factor"] == "enrol"
    bad = http.post(CONFIRM, json={"username": "ada", "password": PASSWORD, "code": "000000"})
    assert bad.status_code == 401 and "not right" in bad.json()["detail"]
    first = code_at(secret)
    r = http.post(CONFIRM, json={"username": "ada", "password": PASSWORD, "code": first})
    assert r.status_code == 200, r.text
    confirmed = r.json()
    codes = confirmed["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10 and len(codes[0]) == 19
    me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {confirmed['token']}"})
    assert me.json()["role"] == "admin"

    # From now on a sign-in needs a code, and each code works once
    r = http.post(LOGIN, json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["second_factor"] == "code"
    replay = http.post(LOGIN, json={"username": "ada", "password": PASSWORD, "code": first})
    assert replay.status_code == 401 and "used already" in replay.json()["detail"]
    following = code_at(secret, 1)
    r = http.post(LOGIN, json={"username": "ada", "password": PASSWORD, "code": following})
    assert r.status_code == 200 and r.json()["principal"]["role"] == "admin"
    again = http.post(LOGIN, json={"username": "ada", "password": PASSWORD, "code": following})
    assert again.status_code == 401
    # the wrong password with a right code is still the wrong password
    r = http.post(LOGIN, json={"username": "ada", "password": "guess", "code": code_at(secret)})
    assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"
    # a second enrolment is refused: only an administrator replaces a factor
    r = http.post(ENROL, json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 409

    # A recovery code, typed loosely, works once
    loose = codes[3].lower().replace("-", " ")
    r = http.post(LOGIN, json={"username": "ada", "password": PASSWORD, "code": loose})
    assert r.status_code == 200, r.text
    r = http.post(LOGIN, json={"username": "ada", "password": PASSWORD, "code": codes[3]})
    assert r.status_code == 401

    seen = outcomes(hubdb, "ada")
    for outcome in ("wrong_password", "enrolment_started", "enrolled", "replayed_code",
                    "recovery_code_used", "wrong_code"):
        assert outcome in seen, (outcome, seen)

    # Nothing in the database gives the secret or a recovery code away
    with hubdb.sessions() as s:
        engine = s.get_bind()
        dump = []
        for table in inspect(engine).get_table_names():
            dump += [str(tuple(row)) for row in s.execute(text(f'SELECT * FROM "{table}"'))]
    everything = "\n".join(dump)
    assert secret not in everything and secret.lower() not in everything
    assert not any(c in everything or c.replace("-", "") in everything for c in codes)
    assert PASSWORD not in everything
    return secret, codes


@SQLITE_ONLY
def test_managers_need_a_second_factor_nurses_only_where_configured(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
) -> None:
    hubdb.staff("meg", "manager")
    hubdb.staff("nina", "nurse")
    hubdb.staff("sam", "specialist")
    plain = start_hub()
    strict = start_hub(mfa_for=("nurse",))
    with httpx.Client(base_url=plain.http, timeout=20) as http:
        assert http.post(LOGIN, json={"username": "meg", "password": PASSWORD}
                         ).json()["second_factor"] == "enrol"
        assert http.post(LOGIN, json={"username": "nina", "password": PASSWORD}
                         ).status_code == 200
    with httpx.Client(base_url=strict.http, timeout=20) as http:
        r = http.post(LOGIN, json={"username": "nina", "password": PASSWORD})
        assert r.status_code == 401 and r.json()["second_factor"] == "enrol"
        assert http.post(LOGIN, json={"username": "sam", "password": PASSWORD}
                         ).status_code == 200
        # A nurse who enrolled needs her code on every hub, whatever its setting
        secret, _codes, _answer = enrol(http, "nina")
    with httpx.Client(base_url=plain.http, timeout=20) as http:
        r = http.post(LOGIN, json={"username": "nina", "password": PASSWORD})
        assert r.status_code == 401 and r.json()["second_factor"] == "code"
        r = http.post(LOGIN, json={"username": "nina", "password": PASSWORD,
                                   "code": code_at(secret, 1)})
        assert r.status_code == 200


@SQLITE_ONLY
def test_wrong_codes_count_towards_the_lock_and_asking_for_a_code_resets_nothing(
    start_hub: Callable[..., ThreadedHub], hubdb: HubDatabase,
) -> None:
    hub = start_hub(signin_account_failures=3, signin_lock_s=60)
    hubdb.staff("meg", "manager")
    with httpx.Client(base_url=hub.http, timeout=20) as http:
        secret, _codes, _answer = enrol(http, "meg")
        with_code = {"username": "meg", "password": PASSWORD}
        for _ in range(3):
            # The right password alone is not a sign-in: it must not wipe the count
            r = http.post(LOGIN, json=with_code)
            assert r.status_code == 401 and r.json()["second_factor"] == "code"
            r = http.post(LOGIN, json={**with_code, "code": "123456"})
            assert r.status_code == 401 and "not right" in r.json()["detail"]
        r = http.post(LOGIN, json={**with_code, "code": code_at(secret, 1)})
        assert r.status_code == 429 and "Retry-After" in r.headers
    assert outcomes(hubdb, "meg").count("wrong_code") == 3


@SQLITE_ONLY
def test_an_administrator_resets_a_lost_second_factor(
    http: httpx.Client, hubdb: HubDatabase,
) -> None:
    admin = hubdb.staff("ada", "admin")
    meg = hubdb.staff("meg", "manager")
    nurse = hubdb.staff("nina", "nurse")
    enrol(http, "meg")
    path = f"/api/v1/staff/{meg.principal.id}/second-factor"
    assert http.delete(path, headers={"Authorization": f"Bearer {nurse.token}"}
                       ).status_code == 403
    assert http.delete(path).status_code == 401
    assert http.delete("/api/v1/staff/999999/second-factor",
                       headers={"Authorization": f"Bearer {admin.token}"}).status_code == 404
    assert http.delete("/api/v1/staff/99999999999999999999/second-factor",
                       headers={"Authorization": f"Bearer {admin.token}"}).status_code == 422
    r = http.delete(path, headers={"Authorization": f"Bearer {admin.token}"})
    assert r.status_code == 204
    # meg enrols a new phone at her next sign-in
    r = http.post(LOGIN, json={"username": "meg", "password": PASSWORD})
    assert r.json()["second_factor"] == "enrol"
    enrol(http, "meg")
    with unit_of_work(hubdb.sessions) as s:
        reset = s.scalar(select(SignInEvent).where(SignInEvent.outcome == "second_factor_reset"))
        assert reset is not None and reset.account == "meg" and reset.detail == "by Ada"
