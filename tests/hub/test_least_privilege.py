"""Least privilege: the administrator sees no clinical data, a specialist reads only the records
of their own calls, and docs/security.md's route table is the app's routes and role checks."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route, WebSocketRoute

from hub.app import create_app
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.routes.deps import current_principal
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub
from tests.helpers.wsclient import HubClient
from tests.records.builders import make_record

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def bearer(who: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


async def answered_call(hub: ThreadedHub, site: Seeded, nurse: Seeded,
                        specialist: Seeded | None = None) -> str:
    """A call from ``site`` answered by ``nurse`` (and joined by ``specialist``), then ended:
    the call log holds who took part."""
    desk = await HubClient.connect(hub.ws, nurse.token)
    caller = await HubClient.connect(hub.ws, site.token)
    # A request id is the site's: a second call needs a new one (the same one again is a
    # retry of the first, refused once that call has ended).
    await caller.send(p.CallRequest(request_id=f"r-{uuid.uuid4().hex[:8]}",
                                    reason="Fall, hip pain",
                                    patient=p.Patient(name="Edith Brown",
                                                      nhs_number="9000000009")))
    call_id = (await caller.expect(p.CallQueued)).call_id
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected)
    if specialist is not None:
        dr = await HubClient.connect(hub.ws, specialist.token)
        await desk.send(p.InviteSpecialist(call_id=call_id))
        await dr.expect(p.SpecialistInvite, call_id=call_id)
        await dr.send(p.InviteAccept(call_id=call_id))
        await dr.expect(p.CallConnected)
    await desk.send(p.CallEnd(call_id=call_id))
    await caller.expect(p.CallEnded)
    return call_id


def push_record(hub: ThreadedHub, nurse: Seeded, call_id: str) -> str:
    record = make_record(call_id=call_id, status="signed_off", outcome="advice_managed_in_place",
                         signed_off_at=datetime.now(UTC), signed_off_by="nurse-nina")
    r = httpx.put(f"{hub.http}/api/v1/records/{record.uuid}", headers=bearer(nurse),
                  content=record.model_dump_json())
    assert r.status_code == 201, r.text
    return str(record.uuid)


@pytest.mark.slow
async def test_a_specialist_reads_only_the_records_of_their_calls(
        hub: ThreadedHub, hubdb: HubDatabase) -> None:
    site, nurse = hubdb.site("Beech House"), hubdb.staff("nina", "nurse")
    in_it, other = hubdb.staff("sam", "specialist"), hubdb.staff("dee", "specialist")
    joined = await answered_call(hub, site, nurse, specialist=in_it)
    theirs = push_record(hub, nurse, joined)
    not_theirs = push_record(hub, nurse, await answered_call(hub, site, nurse))
    plan = {"decision": "Paracetamol; GP to review tomorrow"}
    assert httpx.put(f"{hub.http}/api/v1/calls/{joined}/plan", json=plan,
                     headers=bearer(nurse)).status_code == 200
    with httpx.Client(base_url=f"{hub.http}/api/v1") as http:
        for path in (f"/records/{theirs}", f"/records/{theirs}/versions",
                     f"/calls/{joined}/plan"):
            assert http.get(path, headers=bearer(in_it)).status_code == 200, path
            # The other specialist learns nothing, not even that it exists.
            refused = http.get(path, headers=bearer(other))
            assert refused.status_code == 404, path
            assert "Edith" not in refused.text
        assert http.get(f"/records/{theirs}", headers=bearer(in_it)).json()["call_id"] == joined
        for path in (f"/records/{not_theirs}", f"/records/{not_theirs}/versions"):
            assert http.get(path, headers=bearer(in_it)).status_code == 404, path
            assert http.get(path, headers=bearer(nurse)).status_code == 200, path
        assert http.get("/records", headers=bearer(in_it)).status_code == 403


@pytest.mark.slow
async def test_the_administrator_sees_no_clinical_data(
        hub: ThreadedHub, hubdb: HubDatabase) -> None:
    site, nurse = hubdb.site("Beech House"), hubdb.staff("nina", "nurse")
    admin, manager = hubdb.staff("ada", "admin"), hubdb.staff("max", "manager")
    prison, doctor = hubdb.site("HMP Moorside", "prison"), hubdb.staff("sam", "specialist")
    # Over the WebSocket, the administrator is told nothing of the queue, then or now.
    admin_ws = await HubClient.connect(hub.ws, admin.token)
    call_id = await answered_call(hub, site, nurse)
    record = push_record(hub, nurse, call_id)
    assert httpx.put(f"{hub.http}/api/v1/calls/{call_id}/plan", headers=bearer(nurse),
                     json={"decision": "Paracetamol"}).status_code == 200
    with httpx.Client(base_url=f"{hub.http}/api/v1") as http:
        invited = http.post("/invitations", headers=bearer(nurse), json={
            "patient": {"name": "Margaret Ellis", "nhs_number": "900 000 0068"}})
        assert invited.status_code == 201
        waiting = await HubClient.connect(hub.ws, site.token)
        await waiting.send(p.CallRequest(request_id="r2", reason="Breathless",
                                         patient=p.Patient(nhs_number="9000000009")))
        await waiting.expect(p.CallQueued)
        assert http.get("/queue", headers=bearer(manager)).json()["entries"]  # it is there
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
        booked = http.post("/clinics", headers=bearer(admin), json={
            "site_id": prison.principal.id, "specialist_id": doctor.principal.id,
            "starts_at": starts.isoformat(), "title": "Dermatology clinic",
            "patient": {"name": "A. Prisoner", "nhs_number": "9000000009"}})
        assert booked.status_code == 201, booked.text
        refused = [
            http.get("/queue", headers=bearer(admin)),
            http.get("/calls", headers=bearer(admin)),
            http.get(f"/calls/{call_id}", headers=bearer(admin)),
            http.get(f"/calls/{call_id}/plan", headers=bearer(admin)),
            http.get(f"/records/{record}", headers=bearer(admin)),
            http.get(f"/records/{record}/versions", headers=bearer(admin)),
            http.get("/records", headers=bearer(admin)),
            http.get("/records:export?from=2020-01-01&to=2030-01-01", headers=bearer(admin)),
            http.get("/reports/summary?from=2020-01-01&to=2030-01-01", headers=bearer(admin)),
            http.get("/invitations", headers=bearer(admin)),
            http.post("/invitations", headers=bearer(admin),
                      json={"patient": {"name": "Someone"}}),
            http.delete(f"/invitations/{invited.json()['id']}", headers=bearer(admin)),
            http.get("/ice-servers", headers=bearer(admin)),
        ]
        for answer in refused:
            assert answer.status_code == 403, (answer.request.url, answer.status_code)
            for clinical in ("Edith", "Margaret", "9000000009", "Breathless", "Fall"):
                assert clinical not in answer.text
        # What the administrator does need, without the clinical part.
        sites = http.get("/sites", headers=bearer(admin)).json()
        assert {s["name"] for s in sites} == {"Beech House", "HMP Moorside"}  # no home site
        assert len(http.get("/sites", headers=bearer(nurse)).json()) == 3
        assert booked.json()["patient"] is None
        listed = http.get("/clinics", headers=bearer(admin)).json()
        assert [(c["title"], c["patient"], c["transfer_avoided"]) for c in listed] == [
            ("Dermatology clinic", None, None)]
        assert "Prisoner" not in http.get("/clinics", headers=bearer(admin)).text
        assert http.get("/clinics", headers=bearer(doctor)).json()[0]["patient"]["name"] == (
            "A. Prisoner")
    await admin_ws.send(p.QueueSync())
    assert (await admin_ws.expect(p.Error)).code == p.ErrorCode.FORBIDDEN
    await admin_ws.send(p.CallClaim(call_id=call_id))
    assert (await admin_ws.expect(p.Error)).code in (p.ErrorCode.FORBIDDEN,
                                                     p.ErrorCode.NOT_FOUND)
    await admin_ws.send(p.Ping(t=1.0))
    await admin_ws.expect(p.Pong)  # everything the hub sent before this is in the inbox
    assert [type(m).__name__ for m in admin_ws.inbox] == []


# --- the route table ----------------------------------------------------------------------

STAFF = {r.value: r for r in StaffRole}
SITES = {k.value: k for k in SiteKind}
EVERY_ROLE: set[str] = {*STAFF, *SITES}
# Routes that check the token in the handler, not in a dependency: the signaling socket's
# hello carries it (tests/hub/test_auth.py::test_websocket_needs_a_valid_live_token), and
# each message then checks its sender's role in hub/live/.
CHECKED_IN_THE_HANDLER = {"WS /ws": EVERY_ROLE}


def documented_routes() -> dict[str, set[str]]:
    """docs/security.md's route table: ``"GET /path"`` -> the roles it lets through (role
    names; ``anyone`` for no token at all)."""
    text = SECURITY_MD.read_text()
    section = text[text.index("## Least privilege"):]
    section = section[:section.index("\n## ", 5)]
    table: dict[str, set[str]] = {}
    for route, roles in re.findall(r"^\| `((?:[A-Z]+|WS) /[^`]*)` \| ([^|]+) \|", section,
                                   re.MULTILINE):
        assert route not in table, f"{route} has two rows"
        allowed: set[str] = set()
        for word in (w.strip() for w in roles.split(",")):
            if word == "anyone":
                allowed.add("anyone")
            elif word == "signed-in":
                allowed |= EVERY_ROLE
            elif word == "sites":
                allowed |= set(SITES)
            else:
                assert word in EVERY_ROLE, f"{route}: {word!r} is not a role"
                allowed.add(word)
        table[route] = allowed
    return table


def _routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route of the app, through the routers it includes (FastAPI keeps an included
    router whole: ``original_router``; if that changes, this fails loudly, never silently)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            assert isinstance(route, Route | WebSocketRoute), route
            yield route


def _nodes(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _nodes(sub)


def _principal(role: str) -> Principal:
    if role in STAFF:
        return Principal(kind="staff", id=1, name="Test", role=STAFF[role])
    return Principal(kind="site", id=1, name="Test", role=SITES[role])


def allowed_roles(route: Route | WebSocketRoute) -> set[str]:
    """The roles the route's own checks let through, found by running each role check (a
    dependency on the authenticated principal) with a principal of every role."""
    if not isinstance(route, APIRoute | APIWebSocketRoute):
        return {"anyone"}  # a plain Starlette route (the OpenAPI document) checks no token
    nodes = list(_nodes(route.dependant))
    if not any(n.call is current_principal for n in nodes):
        return {"anyone"}
    allowed = set(EVERY_ROLE)
    for node in nodes:
        takes = [sub.name for sub in node.dependencies if sub.call is current_principal]
        if not takes or node.call is None:
            continue
        for role in EVERY_ROLE:
            try:
                asyncio.run(node.call(**{name: _principal(role) for name in takes}))
            except HTTPException as exc:
                assert exc.status_code == 403, (route.path, role, exc)
                allowed.discard(role)
    return allowed


def test_the_route_table_is_the_apps_routes_and_role_checks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    HubDatabase(url).dispose()
    app = create_app(HubConfig(db_url=url))
    actual: dict[str, set[str]] = {}
    for route in _routes(app.routes):
        assert isinstance(route, Route | WebSocketRoute)
        methods = ["WS"] if isinstance(route, WebSocketRoute) else sorted(
            (route.methods or set()) - {"HEAD"})
        for method in methods:
            name = f"{method} {route.path}"
            actual[name] = CHECKED_IN_THE_HANDLER.get(name) or allowed_roles(route)
    documented = documented_routes()
    assert sorted(set(actual) - set(documented)) == [], (
        "routes without a row in docs/security.md's table (least privilege): say who may "
        "use them and what they see")
    assert sorted(set(documented) - set(actual)) == [], "rows for routes the app does not have"
    wrong = {route: (sorted(documented[route]), sorted(roles))
             for route, roles in actual.items() if documented[route] != roles}
    assert wrong == {}, "documented roles (left) differ from the route's checks (right)"
