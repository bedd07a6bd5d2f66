"""Issue 6 on the hub: invitations for home callers, call plans, prison clinics, the /call page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import resources
from hub import cli
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import SiteKind
from hub.routes.invitations import normalise_code
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(hub: ThreadedHub, token: str, **patient: Any) -> httpx.Response:
    return httpx.post(f"{hub.http}/api/v1/invitations",
                      json={"patient": patient or {"name": "M. Patel"}}, headers=bearer(token))


def count_invitations(hub: ThreadedHub, token: str) -> int:
    r = httpx.get(f"{hub.http}/api/v1/invitations", headers=bearer(token))
    assert r.status_code == 200
    return len(r.json())


# --- invitations --------------------------------------------------------------------------


async def test_an_invitation_code_signs_a_home_patient_into_the_same_queue(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse = hubdb.staff("nina", "nurse")
    r = issue(hub, nurse.token, name="M. Patel", nhs_number="900 000 0009",
              date_of_birth="1950-02-03")
    assert r.status_code == 201, r.text
    inv = r.json()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", inv["code"])
    assert inv["link"] == f"/call#code={inv['code']}"
    assert inv["site"]["role"] == "home" and inv["patient"]["nhs_number"] == "9000000009"
    # Typed in lower case with spaces, it still works.
    typed = inv["code"].lower().replace("-", " ")
    login = httpx.post(f"{hub.http}/api/v1/auth/invitation-login", json={"code": typed})
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["principal"] == inv["site"]
    assert body["patient"] == {"name": "M. Patel", "nhs_number": "9000000009",
                               "date_of_birth": "1950-02-03"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires - datetime.now(UTC) <= timedelta(hours=4, seconds=5)
    # The home caller is a site like any other to the queue.
    desk = await HubClient.connect(hub.ws, nurse.token)
    await desk.expect(p.QueueSnapshot)
    home = await HubClient.connect(hub.ws, body["token"])
    # the page claims to be about someone else: the hub uses the enrolled patient
    await home.send(p.CallRequest(request_id="r1", reason="Pain",
                                  patient=p.Patient(name="Someone Else",
                                                    nhs_number="9434765919")))
    await home.expect(p.CallQueued)
    added = await desk.expect(p.QueueUpdate, op="added")
    assert added.entry is not None and added.entry.site_kind is SiteKind.HOME
    assert added.entry.patient == p.Patient(**body["patient"])
    assert added.entry.site_name.startswith("Gold Line: M. Patel")
    listed = httpx.get(f"{hub.http}/api/v1/invitations", headers=bearer(nurse.token)).json()
    assert listed[0]["last_used_at"] is not None and "code" not in listed[0]


def test_revoking_stops_the_code_and_every_token_it_gave(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse = hubdb.staff("nina", "nurse")
    inv = issue(hub, nurse.token).json()
    token = httpx.post(f"{hub.http}/api/v1/auth/invitation-login",
                       json={"code": inv["code"]}).json()["token"]
    assert httpx.get(f"{hub.http}/api/v1/me", headers=bearer(token)).status_code == 200
    r = httpx.delete(f"{hub.http}/api/v1/invitations/{inv['id']}", headers=bearer(nurse.token))
    assert r.status_code == 204
    assert httpx.get(f"{hub.http}/api/v1/me", headers=bearer(token)).status_code == 401
    again = httpx.post(f"{hub.http}/api/v1/auth/invitation-login", json={"code": inv["code"]})
    assert again.status_code == 401 and "not valid" in again.json()["detail"]
    listed = httpx.get(f"{hub.http}/api/v1/invitations", headers=bearer(nurse.token)).json()
    assert listed[0]["revoked"] is True


async def test_revoking_cuts_off_a_patient_page_that_is_connected(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse = hubdb.staff("nina", "nurse")
    inv = issue(hub, nurse.token).json()
    token = httpx.post(f"{hub.http}/api/v1/auth/invitation-login",
                       json={"code": inv["code"]}).json()["token"]
    page = await HubClient.connect(hub.ws, token)
    other = await HubClient.connect(hub.ws, hubdb.site("Unrelated Home").token)
    r = httpx.delete(f"{hub.http}/api/v1/invitations/{inv['id']}", headers=bearer(nurse.token))
    assert r.status_code == 204
    assert await page.closed() == 4403
    with pytest.raises(PermissionError):  # and it cannot come back
        await HubClient.connect(hub.ws, token)
    await other.send(p.Ping(t=1.0))
    assert (await other.expect(p.Pong)).t == 1.0  # nobody else was touched


# Not the administrator: an invitation names a patient (docs/security.md, least privilege).
@pytest.mark.parametrize("role,allowed", [("nurse", True), ("admin", False),
                                          ("specialist", False), ("manager", False),
                                          ("site", False)])
def test_only_nurses_issue_invitations(
    hub: ThreadedHub, hubdb: HubDatabase, role: str, allowed: bool
) -> None:
    token = hubdb.site("Beech House").token if role == "site" else hubdb.staff("x1", role).token
    r = issue(hub, token)
    assert r.status_code == (201 if allowed else 403)
    revoke = httpx.delete(f"{hub.http}/api/v1/invitations/999", headers=bearer(token))
    assert revoke.status_code == (404 if allowed else 403)


@pytest.mark.parametrize("body,why", [
    ({"patient": {"name": ""}}, "name"),
    ({"patient": {"name": "A" * 81}}, "name"),
    ({"patient": {"name": "A", "nhs_number": "9000000000"}}, "NHS number"),
    ({"patient": {"name": "A", "date_of_birth": "3 May 1950"}}, "date_of_birth"),
    ({"patient": {"name": "A"}, "valid_days": 0}, "valid_days"),
    ({"patient": {"name": "A"}, "valid_days": 91}, "valid_days"),
    ({"patient": {"name": "A"}, "extra": 1}, "extra"),
    ({}, "patient"),
])
def test_bad_invitations_are_refused_with_a_reason_and_change_nothing(
    hub: ThreadedHub, hubdb: HubDatabase, body: dict[str, Any], why: str
) -> None:
    nurse = hubdb.staff("nina", "nurse")
    r = httpx.post(f"{hub.http}/api/v1/invitations", json=body, headers=bearer(nurse.token))
    assert r.status_code == 422
    assert why in str(r.json()["detail"])
    assert count_invitations(hub, nurse.token) == 0


@pytest.mark.parametrize("code", ["", "ABCD", "ABCD-EFGH-JKMN", "x" * 65, "ths_" + "a" * 40])
def test_wrong_codes_are_refused(hub: ThreadedHub, hubdb: HubDatabase, code: str) -> None:
    r = httpx.post(f"{hub.http}/api/v1/auth/invitation-login", json={"code": code})
    assert r.status_code in (401, 422)


def test_an_expired_invitation_is_refused(hub: ThreadedHub, hubdb: HubDatabase) -> None:
    from hub.db import unit_of_work
    from hub.models import Invitation

    nurse = hubdb.staff("nina", "nurse")
    inv = issue(hub, nurse.token).json()
    with unit_of_work(hubdb.sessions) as s:
        row = s.get(Invitation, inv["id"])
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    r = httpx.post(f"{hub.http}/api/v1/auth/invitation-login", json={"code": inv["code"]})
    assert r.status_code == 401


def test_codes_read_the_letters_people_confuse_as_digits() -> None:
    assert normalise_code(" abcd efgh jkmn ") == "ABCD-EFGH-JKMN"
    assert normalise_code("0O1I-L234-5678") == "0011-1234-5678"


# --- call plans ---------------------------------------------------------------------------


async def _answered_call(hub: ThreadedHub, hubdb: HubDatabase) -> tuple[str, str, str, str]:
    nurse, site = hubdb.staff("nina", "nurse"), hubdb.site("Beech House")
    desk = await HubClient.connect(hub.ws, nurse.token)
    caller = await HubClient.connect(hub.ws, site.token)
    await caller.send(p.CallRequest(request_id="r1", reason="Fall"))
    queued = await caller.expect(p.CallQueued)
    await desk.send(p.CallClaim(call_id=queued.call_id))
    await desk.expect(p.CallConnected)
    return queued.call_id, nurse.token, site.token, hubdb.staff("nora", "nurse").token


async def test_the_nurse_writes_the_plan_and_only_the_calling_site_reads_it(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    call_id, nurse, site, other_nurse = await _answered_call(hub, hubdb)
    url = f"{hub.http}/api/v1/calls/{call_id}/plan"
    assert httpx.get(url, headers=bearer(site)).status_code == 404  # not written yet
    plan = {"decision": "Paracetamol; GP to review tomorrow", "call_again": "If she vomits"}
    assert httpx.put(url, json=plan, headers=bearer(other_nurse)).status_code == 403
    assert httpx.put(url, json=plan, headers=bearer(site)).status_code == 403
    station = await HubClient.connect(hub.ws, site)
    stranger_station = await HubClient.connect(hub.ws, hubdb.site("Nosy House").token)
    r = httpx.put(url, json=plan, headers=bearer(nurse))
    assert r.status_code == 200 and r.json()["written_by_name"] == "Nina"
    pushed = await station.expect(p.CallPlanReady)  # pushed at once to the calling site
    assert (pushed.call_id, pushed.decision, pushed.call_again, pushed.written_by) == (
        call_id, plan["decision"], "If she vomits", "Nina")
    await stranger_station.nothing_of(p.CallPlanReady)
    got = httpx.get(url, headers=bearer(site)).json()
    assert got["decision"] == plan["decision"] and got["call_again"] == "If she vomits"
    stranger = hubdb.site("Other House").token
    assert httpx.get(url, headers=bearer(stranger)).status_code == 404
    # A bad plan is refused and the written one stays.
    for bad in ({"decision": ""}, {"decision": "x" * 4001}, {"call_again": "x"},
                {"decision": "ok", "by": "me"}):
        assert httpx.put(url, json=bad, headers=bearer(nurse)).status_code == 422
    assert httpx.get(url, headers=bearer(site)).json()["decision"] == plan["decision"]
    missing = f"{hub.http}/api/v1/calls/no-such-call/plan"
    assert httpx.put(missing, json=plan, headers=bearer(nurse)).status_code == 404


# --- clinics ------------------------------------------------------------------------------


async def test_a_prison_lists_the_days_clinics_joins_one_and_the_outcome_is_recorded(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse, doctor = hubdb.staff("nina", "nurse"), hubdb.staff("sam", "specialist")
    prison, home = hubdb.site("HMP Moorside", "prison"), hubdb.site("Beech House")
    other_prison = hubdb.site("HMP Elsewhere", "prison")
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    if at.date() != datetime.now(UTC).date():
        at -= timedelta(minutes=10)
    booking = {"site_id": prison.principal.id, "specialist_id": doctor.principal.id,
               "starts_at": at.isoformat(), "minutes": 20, "title": "Dermatology clinic",
               "patient": {"name": "A. Prisoner"}}
    r = httpx.post(f"{hub.http}/api/v1/clinics", json=booking, headers=bearer(nurse.token))
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    for bad, code in (({**booking, "site_id": home.principal.id}, 422),
                      ({**booking, "specialist_id": nurse.principal.id}, 422),
                      ({**booking, "starts_at": at.replace(tzinfo=None).isoformat()}, 422),
                      ({**booking, "minutes": 1}, 422)):
        assert httpx.post(f"{hub.http}/api/v1/clinics", json=bad,
                          headers=bearer(nurse.token)).status_code == code
    assert httpx.post(f"{hub.http}/api/v1/clinics", json=booking,
                      headers=bearer(prison.token)).status_code == 403
    day = httpx.get(f"{hub.http}/api/v1/clinics", headers=bearer(prison.token)).json()
    assert [b["id"] for b in day] == [bid] and day[0]["specialist_name"] == "Sam"
    assert httpx.get(f"{hub.http}/api/v1/clinics",
                     headers=bearer(other_prison.token)).json() == []
    # The station asks for a call and attaches it to the booking.
    station = await HubClient.connect(hub.ws, prison.token)
    await station.send(p.CallRequest(request_id="clinic-1", reason="Booked clinic",
                                     urgency=p.Urgency.ROUTINE))
    queued = await station.expect(p.CallQueued)
    join = f"{hub.http}/api/v1/clinics/{bid}/join"
    assert httpx.post(join, json={"call_id": "nope"},
                      headers=bearer(prison.token)).status_code == 422
    assert httpx.post(join, json={"call_id": queued.call_id},
                      headers=bearer(other_prison.token)).status_code == 404
    r = httpx.post(join, json={"call_id": queued.call_id}, headers=bearer(prison.token))
    assert r.status_code == 200 and r.json()["call_id"] == queued.call_id
    out = f"{hub.http}/api/v1/clinics/{bid}/outcome"
    assert httpx.post(out, json={"transfer_avoided": True},
                      headers=bearer(prison.token)).status_code == 403
    assert httpx.post(out, json={"transfer_avoided": "maybe"},
                      headers=bearer(doctor.token)).status_code == 422
    r = httpx.post(out, json={"transfer_avoided": True}, headers=bearer(doctor.token))
    assert r.status_code == 200 and r.json()["transfer_avoided"] is True
    assert httpx.delete(f"{hub.http}/api/v1/clinics/{bid}",
                        headers=bearer(nurse.token)).status_code == 204
    assert httpx.post(join, json={"call_id": queued.call_id},
                      headers=bearer(prison.token)).status_code == 409


# --- the caller page ----------------------------------------------------------------------


def test_the_caller_page_is_served_without_a_token_and_allows_nothing_foreign(
    hub: ThreadedHub,
) -> None:
    with httpx.Client(base_url=hub.http) as http:
        page = http.get("/call")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "http" not in csp  # no CDN
        for asset in re.findall(r'(?:src|href)="(/call/[^"]+)"', page.text):
            assert http.get(asset).status_code == 200, asset
        for bad in ("/call/..%2Fpyproject.toml", "/call/.hidden.js", "/call/nothing.js",
                    "/call/index.py"):
            assert http.get(bad).status_code == 404, bad


def test_the_page_is_told_the_services_other_hubs_and_a_bad_address_is_refused(
    start_hub: Callable[..., ThreadedHub],
) -> None:
    """``serve --peer-url`` (docs/admin.md): the page moves to the next hub when its own is
    lost (the move itself: tests/hub/test_cluster.py, in Chromium)."""
    one = start_hub(peer_urls=("http://hub1.example:8470/", "HTTPS://Hub2.example:443",
                               "https://hub2.example"))
    answer = httpx.get(f"{one.http}/call/hubs")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert answer.json() == {"hubs": ["http://hub1.example:8470", "https://hub2.example"]}
    # The page may ask the other hubs too once it has moved (its CSP, and their CORS)...
    csp = httpx.get(f"{one.http}/call").headers["content-security-policy"]
    assert "connect-src 'self' ws: wss: http://hub1.example:8470 https://hub2.example;" in csp
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}
    ok = httpx.options(f"{one.http}/api/v1/calls/c1/photos",
                       headers={"Origin": "https://hub2.example", **asked})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://hub2.example"
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    # ...and no other site may: no CORS answer for it, so its script reads nothing.
    other = httpx.options(f"{one.http}/api/v1/calls/c1/photos",
                          headers={"Origin": "https://elsewhere.example", **asked})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    plain = httpx.get(f"{one.http}/health", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in plain.headers
    assert httpx.get(f"{one.http}/health", headers={"Origin": "http://hub1.example:8470"}
                     ).headers["access-control-allow-origin"] == "http://hub1.example:8470"
    for bad in ("ftp://hub.example", "https://hub.example/call", "https://u:p@hub.example",
                "https://hub.example?x=1", "hub.example:8470", "https://hub.example:http"):
        with pytest.raises(ValueError, match="a peer URL must be") as caught:
            HubConfig(peer_urls=(bad,))
        assert bad not in str(caught.value)
    assert HubConfig.from_env().peer_urls == ()  # a single hub: the page's own alone


def test_serve_refuses_a_peer_url_that_is_not_a_hubs_address(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    assert cli.main(["serve", "--db", f"sqlite:///{tmp_path / 'hub.db'}", "--peer-url",
                     "http://hub1.example,ftp://hub2.example"]) == 2
    assert "a peer URL must be http(s)://host[:port]" in capsys.readouterr().err
    monkeypatch.setenv("TELEHUB_PEER_URLS", "https://hub1.example, https://hub2.example")
    assert HubConfig.from_env().peer_urls == ("https://hub1.example", "https://hub2.example")


def test_the_pages_message_builders_state_only_types_the_protocol_defines() -> None:
    """A quick check without a browser (the browser test validates real frames)."""
    js = resources.file("caller", "messages.js").read_text()
    sent = set(re.findall(r'type: "([a-z_]+)"', js))
    assert sent and sent <= p.CLIENT_TYPES
    handled = re.search(r"HANDLED = \[([^\]]*)\]", js)
    assert handled is not None
    server = {m.model_fields["type"].default
              for m in p.ServerMessage.__args__[0].__args__}
    names = set(re.findall(r'"([a-z_]+)"', handled.group(1)))
    assert names and names <= server
    page = resources.file("caller", "caller.js").read_text()
    # The page sends only through the builders: no message literal of its own.
    assert not re.search(r'type:\s*"', page)
