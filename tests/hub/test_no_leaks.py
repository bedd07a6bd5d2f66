"""Nothing sensitive in answers or the log: a refused or failed request names the field, never
the value, and the hub's log (the output of ``telehub-hub serve``) never holds a password or
a patient's name, even when a write fails inside the database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.contract import signaling as p
from tests.helpers.hubserver import HubDatabase, ProcessHub
from tests.helpers.waiting import wait_until
from tests.helpers.wsclient import HubClient

PASSWORD = "Plum-Tree-Orchard-7741"
PATIENT = "Zebedee Quux-Marlowe"


@pytest.fixture
def hub_db_url(tmp_path: Path) -> str:
    """SQLite: its triggers make a write fail inside the database, as a real fault would."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def served(hubdb: HubDatabase) -> Iterator[ProcessHub]:
    hub = ProcessHub(hubdb.url)
    try:
        yield hub
    finally:
        hub.stop()


def _fail_inserts(hubdb: HubDatabase, table: str) -> None:
    path = hubdb.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                   "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")


@pytest.mark.slow
async def test_no_secret_or_patient_name_in_answers_or_the_log(
    served: ProcessHub, hubdb: HubDatabase
) -> None:
    admin = {"Authorization": f"Bearer {hubdb.staff('ada', 'admin').token}"}
    nurse = {"Authorization": f"Bearer {hubdb.staff('nina', 'nurse').token}"}
    hubdb.staff("pat", "nurse", password=PASSWORD)
    site_token = hubdb.site("Elm House").token  # before sign-ins fail below
    answers: list[str] = []
    with httpx.Client(base_url=served.http, timeout=30) as http:
        # Refusals (422): each names the field and holds no value sent.
        refused = [
            http.post("/api/v1/auth/login", json={"username": "nina", "password": PASSWORD,
                                                  "surprise": PASSWORD}),
            http.post("/api/v1/auth/login", json={"username": PASSWORD * 10,
                                                  "password": PASSWORD}),
            http.post("/api/v1/staff", headers=admin, json={
                "username": "new", "role": "nurse", "password": PASSWORD[:6],
                "display_name": PATIENT}),
            http.post("/api/v1/invitations", headers=nurse, json={
                "patient": {"name": PATIENT * 5}}),
            http.post("/api/v1/invitations", headers=nurse, json={
                "patient": {"name": PATIENT, "date_of_birth": f"{PATIENT}-01"}}),
        ]
        for r in refused:
            assert r.status_code == 422, r.text
            detail = r.json()["detail"]  # the fields and rules, or one sentence naming a rule
            assert isinstance(detail, str) or all("loc" in e and "msg" in e for e in detail)
        answers += [r.text for r in refused]
        # Failures inside the database (500): a plain answer, the fault logged without values.
        _fail_inserts(hubdb, "invitations")
        _fail_inserts(hubdb, "auth_tokens")
        failed = [
            http.post("/api/v1/invitations", headers=nurse, json={"patient": {"name": PATIENT}}),
            http.post("/api/v1/auth/login", json={"username": "pat", "password": PASSWORD}),
        ]
        for r in failed:
            assert r.status_code == 500, r.text
            assert r.json()["detail"].startswith("the hub failed to handle this request")
        answers += [r.text for r in failed]
    # The same over the WebSocket: the call request cannot be saved.
    _fail_inserts(hubdb, "calls")
    site = await HubClient.connect(served.ws, site_token)
    await site.send(p.CallRequest(request_id="r", reason="fall",
                                  patient=p.Patient(name=PATIENT)))
    err = await site.expect(p.Error, timeout=15)
    assert err.code == p.ErrorCode.INTERNAL
    answers.append(err.to_json())

    def logged() -> str:
        return "".join(served.output)

    wait_until(lambda: "could not save a call request" in logged(), 10, logged)
    served.stop()
    log = logged()
    for text in [*answers, log]:
        assert PASSWORD not in text and PASSWORD[:6] not in text, text
        assert PATIENT not in text and "Quux" not in text, text
    # What the log does say: which route failed, with what, where.
    assert "unhandled IntegrityError at hub/routes/invitations.py" in log, log
    assert "on POST /api/v1/invitations" in log and "on POST /api/v1/auth/login" in log, log
    assert "Traceback" not in log, log
