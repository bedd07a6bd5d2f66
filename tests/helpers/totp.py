"""An authenticator app for tests: enrol a member of staff's second factor over the hub's
REST API, and the codes of the current step or a later one (each step's code works once)."""

from __future__ import annotations

import time

import httpx
import pyotp

from tests.helpers.hubserver import PASSWORD

ENROL = "/api/v1/auth/second-factor/enrolment"
CONFIRM = "/api/v1/auth/second-factor/confirmation"


def code_at(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current 30-second step, or of one after it (the hub accepts one step
    either side)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def enrol(http: httpx.Client, username: str, password: str = PASSWORD
          ) -> tuple[str, list[str], dict[str, object]]:
    """Enrols ``username`` as the desk would (``http`` has the hub as its base URL); returns
    the secret, the recovery codes and the confirmation's answer (a token)."""
    r = http.post(ENROL, json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    r = http.post(CONFIRM, json={"username": username, "password": password,
                                 "code": code_at(secret)})
    assert r.status_code == 200, r.text
    return secret, r.json()["recovery_codes"], r.json()
