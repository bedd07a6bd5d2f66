"""A photo into the record at the hub (issue 17): only the call's nurse asks, only its caller
answers; the upload is size-, type- and content-checked; who may see it is least privilege;
every view is audited; it is attached to its call's record only and exported as FHIR Media."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from calls.media import make_pattern_frame
from calls.photos import encode_still
from hub.contract import signaling as p
from hub.contract.photos import MAX_PHOTO_BYTES
from hub.photos import WoundPhotoEvent
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub
from tests.helpers.waiting import wait_until_async
from tests.helpers.wsclient import HubClient
from tests.records.builders import make_record

pytestmark = pytest.mark.slow


def bearer(who: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def upload(http: httpx.Client, who: Seeded, call_id: str, data: bytes,
           content_type: str = "image/jpeg", **params: str) -> httpx.Response:
    query = {"request_id": "r2", "consent": "given", **params}
    return http.post(f"/calls/{call_id}/photos", params={k: v for k, v in query.items() if v},
                     content=data, headers={**bearer(who), "Content-Type": content_type})


def fields(answer: httpx.Response) -> list[str]:
    detail = answer.json()["detail"]
    return [".".join(str(x) for x in d["loc"]) for d in detail] if isinstance(detail, list) else []


def push_record(http: httpx.Client, nurse: Seeded, call_id: str) -> str:
    record = make_record(call_id=call_id, status="signed_off", outcome="advice_managed_in_place",
                         signed_off_at=datetime.now(UTC), signed_off_by="nina")
    answer = http.put(f"/records/{record.uuid}", headers=bearer(nurse),
                      content=record.model_dump_json())
    assert answer.status_code == 201, answer.text
    return str(record.uuid)


async def test_a_photo_is_asked_declined_sent_seen_attached_audited_and_exported(
        hub: ThreadedHub, hubdb: HubDatabase) -> None:
    site, other_site = hubdb.site("Beech House"), hubdb.site("Rowan Court")
    nurse, nurse2 = hubdb.staff("nina", "nurse"), hubdb.staff("nora", "nurse")
    specialist, manager = hubdb.staff("sam", "specialist"), hubdb.staff("max", "manager")
    # (the administrator's refusal is the role table's: test_least_privilege.py)
    desk = await HubClient.connect(hub.ws, nurse.token)
    caller = await HubClient.connect(hub.ws, site.token)
    stranger = await HubClient.connect(hub.ws, other_site.token)
    other_desk = await HubClient.connect(hub.ws, nurse2.token)
    await caller.send(p.CallRequest(request_id="q1", reason="Pressure sore on the heel"))
    call_id = (await caller.expect(p.CallQueued)).call_id
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected)
    await caller.expect(p.CallConnected)

    # Only the call's nurse asks; only its caller declines, an open request.
    await other_desk.send(p.PhotoRequest(call_id=call_id, request_id="x"))
    assert (await other_desk.expect(p.Error, ref="photo_request")).code is (
        p.ErrorCode.NOT_PARTICIPANT)
    await desk.send(p.PhotoRequest(call_id=call_id, request_id="r1"))
    asked = await caller.expect(p.PhotoRequested)
    assert (asked.request_id, asked.by) == ("r1", "Nina")
    await stranger.send(p.PhotoDecline(call_id=call_id, request_id="r1"))
    assert (await stranger.expect(p.Error, ref="photo_decline")).code is (
        p.ErrorCode.NOT_PARTICIPANT)
    await caller.send(p.PhotoDecline(call_id=call_id, request_id="nope"))
    assert (await caller.expect(p.Error, ref="photo_decline")).code is p.ErrorCode.NOT_FOUND
    await caller.send(p.PhotoDecline(call_id=call_id, request_id="r1"))
    assert (await desk.expect(p.PhotoDeclined)).request_id == "r1"
    await desk.send(p.PhotoRequest(call_id=call_id, request_id="r2"))
    await caller.expect(p.PhotoRequested, request_id="r2")

    still = encode_still(make_pattern_frame(1280, 960, 7, 0))
    with httpx.Client(base_url=f"{hub.http}/api/v1", timeout=20) as http:
        await wait_until_async(lambda: http.get(f"/calls/{call_id}", headers=bearer(nurse))
                               .json()["state"] == "connected", message="the call log")
        # Refusals: whose call, what type, what size, what content, what consent.
        assert upload(http, other_site, call_id, still.data).status_code == 404
        assert upload(http, nurse, call_id, still.data).status_code == 403
        assert upload(http, site, "no-such-call", still.data).status_code == 404
        for kind in ("image/gif", "text/plain", "application/octet-stream"):
            refused = upload(http, site, call_id, still.data, kind)
            assert (refused.status_code, fields(refused)) == (415, ["header.content-type"])
        for data, kind in ((png(64, 48), "image/jpeg"), (still.data[:5000], "image/jpeg"),
                           (b"\xff\xd8 not a picture", "image/jpeg"), (png(15, 15), "image/png"),
                           (png(9000, 20, "1"), "image/png"), (b"", "image/png")):
            refused = upload(http, site, call_id, data, kind)
            assert (refused.status_code, fields(refused)) == (422, ["body"]), refused.text
        too_big = upload(http, site, call_id, b"\xff" * (MAX_PHOTO_BYTES + 1))
        assert too_big.status_code == 413
        for consent in ("", "declined", "maybe"):
            refused = upload(http, site, call_id, still.data, consent=consent)
            assert (refused.status_code, fields(refused)) == (422, ["query.consent"])
        assert upload(http, site, call_id, still.data, request_id="").status_code == 422

        kept = upload(http, site, call_id, still.data)
        assert kept.status_code == 201, kept.text
        photo = kept.json()
        assert (photo["width"], photo["height"], photo["consent"]) == (1280, 960, "given")
        assert photo["consent_by"] == site.principal.participant_id
        ready = await desk.expect(p.PhotoReady)
        assert (ready.photo_id, ready.width, ready.height) == (photo["photo_id"], 1280, 960)
        photo_id = photo["photo_id"]

        # Least privilege: the call's nurse sees it; a nurse not in the call does not (not
        # yet attached), nor a specialist not in it; managers, admins and sites never.
        seen = http.get(f"/photos/{photo_id}/image", headers=bearer(nurse))
        assert seen.status_code == 200 and seen.headers["content-type"] == "image/jpeg"
        assert seen.content == still.data
        assert Image.open(io.BytesIO(seen.content)).size == (1280, 960)
        for who in (nurse2, specialist):
            for path in (f"/photos/{photo_id}/image", f"/photos/{photo_id}"):
                assert http.get(path, headers=bearer(who)).status_code == 404, (who, path)
        for who in (manager, site):
            assert http.get(f"/photos/{photo_id}/image", headers=bearer(who)).status_code == 403

        # Attach: to this call's record only, once it is stored, by the call's nurse.
        attach = {"record_uuid": str(make_record().uuid)}
        answer = http.put(f"/photos/{photo_id}/record", headers=bearer(nurse), json=attach)
        assert answer.status_code == 409  # no such record in the store yet
        record = push_record(http, nurse, call_id)
        other_record = push_record(http, nurse, "another-call")
        refused = http.put(f"/photos/{photo_id}/record", headers=bearer(nurse),
                           json={"record_uuid": other_record})
        assert (refused.status_code, fields(refused)) == (422, ["body.record_uuid"])
        assert http.put(f"/photos/{photo_id}/record", headers=bearer(nurse2),
                        json={"record_uuid": record}).status_code == 404
        assert http.put(f"/photos/{photo_id}/record", headers=bearer(specialist),
                        json={"record_uuid": record}).status_code == 403
        for status in ("attached", "unchanged"):
            answer = http.put(f"/photos/{photo_id}/record", headers=bearer(nurse),
                              json={"record_uuid": record})
            assert (answer.status_code, answer.json()["status"]) == (200, status)
        # Attached, it is the record's: any nurse who reads the record sees it.
        listed = http.get(f"/records/{record}/photos", headers=bearer(nurse2)).json()
        assert [x["photo_id"] for x in listed] == [photo_id]
        assert http.get(f"/photos/{photo_id}/image", headers=bearer(nurse2)).status_code == 200
        assert http.get(f"/records/{record}/photos", headers=bearer(specialist)).json() == []

        # The FHIR export: a Media resource of the Encounter, without the image itself.
        bundle = json.loads(http.get("/records:export", headers=bearer(manager), params={
            "from": "2020-01-01", "to": "2030-01-01", "format": "fhir"}).content)
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    [media] = [r for r in resources.values() if r["resourceType"] == "Media"]
    encounter = resources[media["encounter"]["reference"]]
    assert encounter["resourceType"] == "Encounter" and encounter["id"] == record
    assert resources[media["subject"]["reference"]]["resourceType"] == "Patient"
    assert (media["id"], media["width"], media["height"]) == (photo_id, 1280, 960)
    assert media["content"]["contentType"] == "image/jpeg"
    assert media["content"]["size"] == len(still.data)
    assert media["content"]["url"].endswith(f"/photos/{photo_id}/image")
    assert "data" not in media["content"]
    from fhir.resources.R4B.media import Media

    Media.model_validate(media)  # structure and cardinality of R4's Media

    # Every upload, view and attachment is in the photo's audit trail; refusals are not.
    with hubdb.sessions() as session:
        e = WoundPhotoEvent
        trail = [(actor, action) for actor, action in session.execute(
            sa.select(e.actor, e.action).where(e.photo_id == UUID(photo_id)).order_by(e.id))]
    assert trail == [(site.principal.participant_id, "upload"),
                     (nurse.principal.participant_id, "view"),
                     (nurse.principal.participant_id, "attach"),
                     (nurse2.principal.participant_id, "view")]

