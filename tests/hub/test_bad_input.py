"""Bad input of every kind gets a clear error to that client only and changes nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hub.contract import signaling as p
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient
from tests.records.builders import make_record

BAD_FRAMES = [
    ("{not json", p.ErrorCode.BAD_JSON),
    ("[1, 2, 3]", p.ErrorCode.INVALID),
    ('{"no_type": 1}', p.ErrorCode.INVALID),
    ('{"type": "launch_missiles"}', p.ErrorCode.UNKNOWN_TYPE),
    ('{"type": "call_request", "request_id": "x", "reason": 42}', p.ErrorCode.INVALID),
    ('{"type": "call_request", "request_id": "x", "reason": "fall", "urgency": "whenever"}',
     p.ErrorCode.INVALID),
    ('{"type": "call_request", "request_id": "x", "reason": "fall", "surprise": true}',
     p.ErrorCode.INVALID),
    ('{"type": "call_request", "request_id": "x", "reason": "fall",'
     ' "observations": {"pulse": 900}}', p.ErrorCode.INVALID),
    ('{"type": "call_claim"}', p.ErrorCode.INVALID),
    (json.dumps({"type": "call_request", "request_id": "x", "reason": "x" * 70_000}),
     p.ErrorCode.TOO_LARGE),
]


async def test_bad_frames_are_refused_to_the_sender_only_and_the_hub_goes_on(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    assert (await desk.expect(p.QueueSnapshot)).entries == []
    site = await HubClient.connect(hub.ws, hubdb.site("Noisy Home").token)
    bystander = await HubClient.connect(hub.ws, hubdb.site("Quiet Home").token)
    for frame, code in BAD_FRAMES:
        await site.send_raw(frame)
        err = await site.expect(p.Error)
        assert err.code == code, (frame[:60], err)
        assert err.message
    # the cap counts bytes, not characters: 30,000 three-byte characters are over 64 KiB
    await site.send_raw(json.dumps({"type": "call_request", "request_id": "x",
                                    "reason": "\u20ac" * 30_000}, ensure_ascii=False))
    assert (await site.expect(p.Error)).code == p.ErrorCode.TOO_LARGE
    await site.send_raw(b"\x00\x01binary")
    assert (await site.expect(p.Error)).code == p.ErrorCode.INVALID
    # nothing reached the desk or the other site, and the queue is still empty
    await desk.nothing_of(p.QueueUpdate)
    await bystander.nothing_of(p.Error)
    await desk.send(p.QueueSync())
    assert (await desk.expect(p.QueueSnapshot)).entries == []
    # the same connection still works
    await site.send(p.CallRequest(request_id="ok", reason="fall"))
    assert (await site.expect(p.CallQueued)).position == 1
    assert (await desk.expect(p.QueueUpdate)).op == "added"


async def test_messages_in_the_wrong_state_or_role_are_refused_and_change_nothing(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    assert (await nurse.expect(p.QueueSnapshot)).entries == []
    manager = await HubClient.connect(hub.ws, hubdb.staff("boss", "manager").token)
    dr = await HubClient.connect(hub.ws, hubdb.staff("dr", "specialist").token)
    site = await HubClient.connect(hub.ws, hubdb.site("Pine").token)
    other_site = await HubClient.connect(hub.ws, hubdb.site("Fir").token)
    await site.send(p.CallRequest(request_id="r", reason="fall"))
    call_id = (await site.expect(p.CallQueued)).call_id

    cases: list[tuple[HubClient, p._Message, p.ErrorCode]] = [
        (nurse, p.CallRequest(request_id="n", reason="x"), p.ErrorCode.FORBIDDEN),
        (manager, p.CallClaim(call_id=call_id), p.ErrorCode.FORBIDDEN),
        (dr, p.CallClaim(call_id=call_id), p.ErrorCode.FORBIDDEN),
        (site, p.CallClaim(call_id=call_id), p.ErrorCode.FORBIDDEN),
        (nurse, p.CallClaim(call_id="no-such-call"), p.ErrorCode.ALREADY_CLAIMED),
        (other_site, p.CallCancel(call_id=call_id), p.ErrorCode.NOT_PARTICIPANT),
        (other_site, p.CallResume(call_id=call_id), p.ErrorCode.NOT_PARTICIPANT),
        (nurse, p.CallEnd(call_id=call_id), p.ErrorCode.NOT_PARTICIPANT),
        (site, p.Offer(call_id=call_id, to="staff:1", sdp="v=0"), p.ErrorCode.NOT_PARTICIPANT),
        (nurse, p.InviteSpecialist(call_id=call_id), p.ErrorCode.NOT_PARTICIPANT),
        (dr, p.InviteAccept(call_id=call_id), p.ErrorCode.ALREADY_CLAIMED),
        (site, p.QueueSync(), p.ErrorCode.FORBIDDEN),
        (nurse, p.CallCancel(call_id="nope"), p.ErrorCode.NOT_FOUND),
        (nurse, p.Hello(protocol=1, token="again"), p.ErrorCode.WRONG_STATE),
    ]
    for client, msg, code in cases:
        await client.send(msg)
        err = await client.expect(p.Error)
        assert err.code == code, (msg, err)
        assert err.ref == msg.type  # type: ignore[attr-defined]
        # a refused call request names its request id, so a station can match it up
        assert err.request_id == getattr(msg, "request_id", None)
    # the call is still waiting, untouched, and can be answered normally
    await nurse.send(p.QueueSync())
    snap = await nurse.expect(p.QueueSnapshot)
    assert [e.call_id for e in snap.entries] == [call_id]
    await nurse.send(p.CallClaim(call_id=call_id))
    assert (await nurse.expect(p.CallConnected)).call_id == call_id
    # answering a call that is already taken is refused clearly
    await nurse.send(p.CallClaim(call_id=call_id))
    err = await nurse.expect(p.Error)
    assert err.code == p.ErrorCode.ALREADY_CLAIMED and "already answered by Nurse" in err.message


@pytest.mark.parametrize(
    "body,status",
    [
        (b"{not json", 422),
        (b'{"username": 5, "password": []}', 422),
        (b'{"username": "a", "password": "b", "extra": 1}', 422),
        (b"x" * (2 * 1024 * 1024), 413),
    ],
)
def test_bad_http_bodies_get_clear_4xx(hub: ThreadedHub, body: bytes, status: int) -> None:
    r = httpx.post(f"{hub.http}/api/v1/auth/login", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == status
    assert r.json()["detail"]
    assert httpx.get(f"{hub.http}/health").json()["status"] == "ok"


def test_bad_query_values_get_422(hub: ThreadedHub, hubdb: HubDatabase) -> None:
    token = hubdb.staff("mgr", "manager").token
    h = {"Authorization": f"Bearer {token}"}
    for params in ({"limit": "0"}, {"limit": "lots"}, {"from": "yesterday"},
                   {"from": "2026-01-01T00:00:00"}, {"state": "sideways"}):
        r = httpx.get(f"{hub.http}/api/v1/calls", params=params, headers=h)
        assert r.status_code == 422, params
    assert httpx.get(f"{hub.http}/api/v1/calls/nope", headers=h).status_code == 404


# --- values the databases cannot hold: refused where they enter, naming the field ----------

PAST_SQLITE = str(2**63)  # past SQLite's integer
PAST_PG = str(2**31)  # past PostgreSQL's integer
SECRET = "Zebedee Quux"  # a value that must never come back in an answer


def _signed_off(**patient: object) -> dict[str, Any]:
    record = make_record(status="signed_off", outcome="advice_managed_in_place",
                         signed_off_at=datetime(2025, 1, 6, 9, 30, tzinfo=UTC),
                         signed_off_by="nurse-ann").model_dump(mode="json")
    record["patient"].update(patient)
    return record


# (role, method, path, query, JSON body as text, the field the answer must name)
OUT_OF_RANGE: list[tuple[str, str, str, dict[str, str], str | None, str]] = [
    ("manager", "GET", "/api/v1/calls", {"site_id": PAST_SQLITE}, None, "site_id"),
    ("manager", "GET", "/api/v1/calls", {"site_id": PAST_PG}, None, "site_id"),
    ("manager", "GET", "/api/v1/calls", {"offset": PAST_PG}, None, "offset"),
    ("manager", "GET", "/api/v1/calls", {"from": "0001-01-01T00:00:00Z"}, None, "from"),
    ("nurse", "GET", "/api/v1/clinics", {"site_id": PAST_SQLITE}, None, "site_id"),
    ("nurse", "GET", "/api/v1/clinics", {"day": "9999-12-31"}, None, "day"),
    ("nurse", "DELETE", f"/api/v1/clinics/{PAST_PG}", {}, None, "booking_id"),
    ("nurse", "DELETE", f"/api/v1/invitations/{PAST_SQLITE}", {}, None, "invitation_id"),
    ("nurse", "GET", f"/api/v1/records/{uuid.uuid4()}", {"version": PAST_PG}, None, "version"),
    ("nurse", "GET", "/api/v1/records", {"from": "0001-01-01"}, None, "from"),
    ("nurse", "GET", "/api/v1/records", {"site_id": "a\x00b"}, None, "site_id"),
    ("manager", "GET", "/api/v1/reports/summary", {"from": "0001-01-01", "to": "0001-01-02"},
     None, "from"),
    ("manager", "GET", "/api/v1/reports/summary", {"from": "2026-01-01", "to": "9999-12-31"},
     None, "to"),
    ("manager", "GET", "/api/v1/reports/drill", {"from": "2026-01-01", "to": "2026-01-02",
                                                "figure": "calls", "offset": PAST_PG},
     None, "offset"),
    ("nurse", "POST", "/api/v1/clinics", {}, json.dumps(
        {"site_id": int(PAST_PG), "specialist_id": 1, "starts_at": "2026-01-01T10:00:00Z",
         "title": "Clinic"}), "site_id"),
    ("nurse", "POST", "/api/v1/clinics", {}, json.dumps(
        {"site_id": 1, "specialist_id": 1, "starts_at": "9999-12-31T23:59:59Z",
         "title": "Clinic"}), "starts_at"),
    ("admin", "POST", "/api/v1/sites", {}, json.dumps({"name": f"{SECRET}\x00", "kind": "home"}),
     "name"),
    # a lone surrogate: valid JSON, but no UTF-8 can hold it
    ("admin", "POST", "/api/v1/sites", {}, '{"name": "Zebedee Quux\\ud800", "kind": "home"}',
     "name"),
    ("admin", "POST", "/api/v1/staff", {}, json.dumps(
        {"username": "u\x00", "role": "nurse", "password": "long enough password"}),
     "username"),
    ("nurse", "POST", "/api/v1/invitations", {}, json.dumps(
        {"patient": {"name": f"{SECRET}\x00"}}), "name"),
    ("nurse", "PUT", "/api/v1/calls/x%00y/plan", {}, json.dumps({"decision": "d"}), "call_id"),
    ("nurse", "POST", "/api/v1/auth/login", {}, json.dumps(
        {"username": "nina\x00", "password": SECRET}), "username"),
    ("nurse", "POST", "/api/v1/records:batch", {}, json.dumps(
        {"records": [_signed_off(name=f"{SECRET}\x00")]}), "name"),
    ("nurse", "POST", "/api/v1/records:batch", {}, json.dumps(
        {"records": [_signed_off(date_of_birth="0001-01-01")]}), "date_of_birth"),
    ("nurse", "POST", "/api/v1/records:batch", {}, json.dumps(
        {"records": [{**_signed_off(), "version": int(PAST_PG), "amendment_reason": "x"}]}),
     "version"),
]


def test_values_no_database_can_hold_get_422_naming_the_field(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    tokens = {role: hubdb.staff(f"u{role}", role).token
              for role in ("nurse", "manager", "admin")}  # fmt: skip
    with httpx.Client(base_url=hub.http, timeout=30) as http:
        for role, method, path, query, body, field in OUT_OF_RANGE:
            r = http.request(method, path, params=query,
                             content=body.encode("utf-8", "surrogatepass") if body else None,
                             headers={"Authorization": f"Bearer {tokens[role]}",
                                      "Content-Type": "application/json"})
            assert r.status_code == 422, (method, path, r.status_code, r.text)
            named = [e["loc"] for e in r.json()["detail"]]
            assert any(field in loc for loc in named), (path, named)
            assert SECRET not in r.text and "input" not in r.text, r.text
        assert http.get("/health").json()["status"] == "ok"


async def test_a_call_request_the_database_cannot_hold_is_refused_and_the_next_one_works(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    """On PostgreSQL a request with a NUL used to be "could not be saved" for ever."""
    desk = await HubClient.connect(hub.ws, hubdb.staff("nurse", "nurse").token)
    await desk.expect(p.QueueSnapshot)
    site = await HubClient.connect(hub.ws, hubdb.site("Elm").token)
    frames = [
        ('{"type": "call_request", "request_id": "a", "reason": "fall\\u0000"}', "reason"),
        ('{"type": "call_request", "request_id": "b", "reason": "fall",'
         ' "patient": {"name": "Zebedee Quux\\ud800"}}', "patient.name"),
        ('{"type": "call_request", "request_id": "c", "reason": "fall",'
         ' "soft_signs": ["ok", "\\udc00"]}', "soft_signs.1"),
        # A wrong check digit (modulus 11) is refused, never queued unchecked (issue 13).
        ('{"type": "call_request", "request_id": "d", "reason": "fall",'
         ' "patient": {"nhs_number": "9000000000"}}', "patient.nhs_number"),
        ('{"type": "offer", "call_id": "x\\u0000", "to": "site:1", "sdp": "v=0"}', "call_id"),
    ]
    for frame, field in frames:
        await site.send_raw(frame)
        err = await site.expect(p.Error)
        assert err.code == p.ErrorCode.INVALID and err.message.startswith(field), err
        assert SECRET not in err.message and "9000000000" not in err.message
    await desk.nothing_of(p.QueueUpdate)
    await site.send(p.CallRequest(request_id="ok", reason="fall",
                                  patient=p.Patient(name="Zebedee Quux")))
    assert (await site.expect(p.CallQueued)).position == 1
    assert (await desk.expect(p.QueueUpdate)).op == "added"
