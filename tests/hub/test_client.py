"""HubClient against httpx.MockTransport: the token sent, answers parsed into the contract's
bodies, each kind of trouble raised as its HubError, and no secret in any error's text. And
the one Backoff, made deterministic by the random generator handed in."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from uuid import UUID, uuid4

import httpx
import pytest

from hub.client import (
    SITE_BUSY_SPREAD_S,
    SITE_RECONNECT_SPREAD_S,
    Backoff,
    HubAddresses,
    HubClient,
    HubConflict,
    HubError,
    HubFailed,
    HubNotFound,
    HubRefused,
    HubUnreachable,
    site_backoff,
)
from hub.contract.rest import Filters, RecordExportQuery
from tests.helpers.hubserver import ThreadedHub, free_port

HUB = "http://hub.test:8470"
TOKEN = "tht_secret-token-never-shown"
PATIENT_DATA = "9000000009"

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, token: str | None = TOKEN) -> HubClient:
    return HubClient(httpx.Client(transport=httpx.MockTransport(handler)), HUB, token)


def answer(status: int, body: object = None, **kw: object) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, **kw)  # type: ignore[arg-type]

    return handle


def raising(exc: type[httpx.HTTPError]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)  # type: ignore[call-arg]

    return handle


def put(hub: HubClient, record_uuid: UUID | None = None) -> object:
    return hub.put_record(record_uuid or uuid4(), 1, '{"nhs_number": "9000000009"}')


# --- the token and the bodies -------------------------------------------------------------


def test_the_bearer_token_goes_with_every_request_and_a_batch_is_parsed() -> None:
    seen: list[httpx.Request] = []
    u1, u2 = uuid4(), uuid4()

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": [
            {"uuid": str(u1), "version": 1, "status": "stored"},
            {"uuid": str(u2), "version": 2, "status": "conflict", "held_version": 3}]})

    answer_ = client(handle).put_records(['{"a": 1}', '{"b": 2}'])
    [request] = seen
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.url == f"{HUB}/api/v1/records:batch"
    assert json.loads(request.content) == {"records": [{"a": 1}, {"b": 2}]}
    assert [(r.uuid, r.version, r.status, r.held_version) for r in answer_.results] == [
        (u1, 1, "stored", None), (u2, 2, "conflict", 3)]  # fmt: skip


def test_no_token_no_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={})

    put(client(handle, token=None))
    assert "Authorization" not in seen[0].headers


@pytest.mark.parametrize(("status", "body", "expected"), [
    (201, {"status": "stored"}, ("stored", None)),
    (200, {"status": "unchanged"}, ("unchanged", None)),
    (409, {"detail": "newer version held", "held_version": 4}, ("conflict", 4)),
    (409, {"detail": "different content"}, ("conflict", None)),
])  # fmt: skip
def test_a_put_record_answer_is_the_stores_decision(
    status: int, body: object, expected: tuple[str, int | None]
) -> None:
    record_uuid = uuid4()
    result = client(answer(status, body)).put_record(record_uuid, 2, "{}")
    assert (result.uuid, result.version) == (record_uuid, 2)
    assert (result.status, result.held_version) == expected


# --- one kind of error for each kind of trouble -------------------------------------------


@pytest.mark.parametrize(("handler", "kind", "status"), [
    (raising(httpx.ConnectError), HubUnreachable, None),
    (raising(httpx.ReadTimeout), HubUnreachable, None),
    (raising(httpx.RemoteProtocolError), HubUnreachable, None),
    (answer(401, {"detail": "the token is unknown, expired or revoked"}), HubRefused, 401),
    (answer(403, {"detail": "this needs one of the roles: manager"}), HubRefused, 403),
    (answer(422, {"detail": [{"type": "missing", "loc": ["body", "outcome"]}]}),
     HubRefused, 422),
    (answer(413, {"detail": "too many records"}), HubRefused, 413),
    (answer(404, {"detail": "not found"}), HubNotFound, 404),
    (answer(500, {"detail": "Internal Server Error"}), HubFailed, 500),
    (answer(503, None, text="<html>down</html>"), HubFailed, 503),
    (answer(429, {"detail": "slow down"}), HubFailed, 429),
])  # fmt: skip
def test_each_kind_of_trouble_raises_its_error(
    handler: Handler, kind: type[HubError], status: int | None
) -> None:
    with pytest.raises(kind) as caught:
        client(handler).put_records(["{}", "{}"])
    assert type(caught.value) is kind and caught.value.status == status
    assert str(caught.value) and caught.value.summary


def test_a_conflict_elsewhere_is_hub_conflict_with_the_hubs_reason() -> None:
    with pytest.raises(HubConflict, match="this clinic was cancelled") as caught:
        client(answer(409, {"detail": "this clinic was cancelled"})).join_clinic(3, "c-1")
    assert caught.value.status == 409


def test_unreachable_names_the_hub_and_the_kind_of_failure_only() -> None:
    hub = HubClient(httpx.Client(transport=httpx.MockTransport(raising(httpx.ConnectError))),
                    "http://nurse:pa55word@hub.test:8470/", TOKEN)  # fmt: skip
    with pytest.raises(HubUnreachable) as caught:
        put(hub)
    assert str(caught.value) == (
        "the hub at http://hub.test:8470 cannot be reached (ConnectError): check the network "
        "and the address, and that the hub is running")
    assert caught.value.summary == "ConnectError"


def test_the_hubs_reason_is_quoted_but_a_validation_error_keeps_fields_and_kinds_only() -> None:
    refusal = {"detail": [{"type": "value_error", "loc": ["body", "patient", "nhs_number"],
                           "msg": f"Value error, {PATIENT_DATA} fails the check",
                           "input": PATIENT_DATA}]}  # fmt: skip
    with pytest.raises(HubRefused) as caught:
        put(client(answer(422, refusal)))
    assert "patient.nhs_number" in str(caught.value)
    assert caught.value.summary == "HTTP 422 (value_error)"
    with pytest.raises(HubRefused, match="wrong user name or password"):
        put(client(answer(401, {"detail": "wrong user name or password"})))


@pytest.mark.parametrize("body", [
    b"not json at all", b'{"results": "many"}', b'{"results": [{"uuid": "x"}]}', b"[]",
])  # fmt: skip
def test_a_malformed_answer_is_hub_failed_not_a_crash(body: bytes) -> None:
    with pytest.raises(HubFailed, match="does not follow the contract"):
        client(lambda r: httpx.Response(200, content=body)).put_records(["{}"])


@pytest.mark.parametrize("handler", [
    raising(httpx.ConnectError),
    answer(401, {"detail": f"token {TOKEN} is unknown"}),
    answer(422, {"detail": [{"type": "string_type", "loc": ["body", "name"],
                             "msg": f"bad {PATIENT_DATA}", "input": PATIENT_DATA}]}),
    answer(500, {"detail": f"crashed on {PATIENT_DATA} with {TOKEN}"}),
    lambda r: httpx.Response(200, content=f"{TOKEN} {PATIENT_DATA}".encode()),
])  # fmt: skip
def test_no_error_text_holds_the_token_or_what_was_sent(handler: Handler) -> None:
    hub = client(handler)
    with pytest.raises(HubError) as caught:
        hub.put_records(['{"nhs_number": "9000000009", "password": "pa55word"}'])
    texts = f"{caught.value} {caught.value.summary} {caught.value!r}"
    for secret in ("tht_secret", "pa55word", PATIENT_DATA):
        assert secret not in texts


# --- each route's answer as the contract's body -------------------------------------------

PRINCIPAL = {"kind": "staff", "id": 4, "name": "Nina Shah", "role": "nurse"}
EXPIRES = "2026-12-01T20:00:00Z"


def test_sign_in_sends_the_body_and_keeps_the_token_and_principal() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"token": TOKEN, "expires_at": EXPIRES,
                                         "principal": PRINCIPAL})  # fmt: skip

    hub = client(handle, token=None)
    answer_ = hub.sign_in("nina", "pa55word-long")
    assert json.loads(seen[0].content) == {"username": "nina", "password": "pa55word-long"}
    assert seen[0].url == f"{HUB}/api/v1/auth/login"
    assert answer_.token == hub.token == TOKEN
    assert hub.principal == answer_.principal and hub.principal.name == "Nina Shah"
    put(hub)
    assert seen[1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_value_that_cannot_be_sent_is_refused_naming_the_field_only() -> None:
    hub = client(answer(200, {}))
    with pytest.raises(HubRefused) as caught:
        hub.sign_in("nina", "x" * 2000)
    assert caught.value.status is None and caught.value.summary == "password"
    assert "xxxx" not in str(caught.value)


def test_a_sign_in_answer_without_a_token_is_hub_failed() -> None:
    with pytest.raises(HubFailed):
        client(answer(200, {"principal": PRINCIPAL})).sign_in_site("ths_credential")


def test_clinics_plans_and_sites_come_as_contract_bodies() -> None:
    booking = {"id": 3, "site_id": 2, "site_name": "HMP Leeds", "specialist_id": 5,
               "specialist_name": "Dr Dee", "starts_at": "2026-12-01T10:30:00Z", "minutes": 20,
               "title": "Wound review", "patient": {"name": "A. Prisoner"}, "cancelled": False,
               "call_id": None, "transfer_avoided": None}  # fmt: skip
    plan = {"call_id": "c-1", "decision": "Dress it daily", "call_again": None,
            "written_by_name": "Nina Shah", "written_at": "2026-12-01T11:00:00Z"}

    def handle(request: httpx.Request) -> httpx.Response:
        routes = {"/api/v1/clinics": [booking], "/api/v1/calls/c-1/plan": plan,
                  "/api/v1/sites": [{**PRINCIPAL, "kind": "site", "role": "prison"}]}
        if request.url.path in routes:
            return httpx.Response(200, json=routes[request.url.path])
        return httpx.Response(404, json={"detail": "no plan has been written for this call yet"})

    hub = client(handle)
    [clinic] = hub.clinics()
    assert clinic.title == "Wound review" and clinic.patient is not None
    assert clinic.patient.name == "A. Prisoner" and clinic.starts_at.tzinfo is not None
    got = hub.call_plan("c-1")
    assert got is not None and got.decision == "Dress it daily"
    assert hub.call_plan("c-2") is None  # not written yet: no plan, no error
    [site] = hub.sites()
    assert site.kind == "site" and site.role == "prison"


def test_a_download_streams_with_its_counts_and_a_refusal_raises_before_any_byte() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.params["format"] == "pdf":
            return httpx.Response(403, json={"detail": "this needs one of the roles: manager"})
        return httpx.Response(200, content=b"a,b\n1,2\n", headers={"X-Record-Count": "1"})

    hub = client(handle)
    query = RecordExportQuery(start=date(2025, 1, 1), end=date(2025, 1, 31))
    with hub.export_records(query) as download:
        assert download.records == 1
        assert b"".join(download.blocks) == b"a,b\n1,2\n"
    with pytest.raises(HubRefused, match="manager"), \
            hub.export_report(Filters(start=date(2025, 1, 1), end=date(2025, 1, 31)), "pdf"):
        pytest.fail("a refused download is never entered")


def test_a_download_cut_off_midway_is_hub_unreachable() -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield b"a,b\n"
            raise httpx.ReadError("connection reset")

    hub = client(lambda r: httpx.Response(200, stream=Broken()))
    query = RecordExportQuery(start=date(2025, 1, 1), end=date(2025, 1, 31))
    with pytest.raises(HubUnreachable, match="ReadError"), hub.export_records(query) as d:
        for _ in d.blocks:
            pass


# --- Backoff ------------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0, rng=random.Random(7))
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (4, 16), (5, 30), (39, 30), (5000, 30)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered, so a fleet does not come back in step


def test_backoff_is_deterministic_with_the_same_random_generator() -> None:
    def delays(seed: int) -> list[float]:
        backoff = Backoff(initial=0.5, maximum=4.0, factor=3.0, jitter=0.25,
                          rng=random.Random(seed))  # fmt: skip
        return [backoff.delay(n) for n in range(8)]

    assert delays(1) == delays(1) != delays(2)
    for n, d in enumerate(delays(1)):
        top = min(4.0, 0.5 * 3.0**n)
        assert top * 0.75 <= d <= top


def test_backoff_without_jitter_is_exact() -> None:
    backoff = Backoff(initial=1.5, maximum=1.5, jitter=0)
    assert {backoff.delay(n) for n in range(5)} == {1.5}


def test_a_sites_first_retry_is_spread_wider_when_it_holds_no_call() -> None:
    """site_backoff: a fleet of idle sites comes back over SITE_RECONNECT_SPREAD_S, a site
    holding a call within SITE_BUSY_SPREAD_S; later retries are the plain back-off."""
    assert SITE_BUSY_SPREAD_S < SITE_RECONNECT_SPREAD_S
    backoff = replace(site_backoff(), rng=random.Random(3))
    idle = [backoff.delay(0) for _ in range(500)]
    busy = [backoff.delay(0, busy=True) for _ in range(500)]
    assert all(0.25 <= d <= 0.5 + SITE_RECONNECT_SPREAD_S for d in idle)
    assert all(0.25 <= d <= 0.5 + SITE_BUSY_SPREAD_S for d in busy)
    assert max(idle) > 0.5 + SITE_RECONNECT_SPREAD_S * 0.9  # spread over the whole window
    assert max(busy) > 0.5 + SITE_BUSY_SPREAD_S * 0.9
    assert all(0.5 <= backoff.delay(1, busy=b) <= 1.0 for b in (False, True) for _ in range(50))
    # without a busy spread, a busy client's first retry is spread as any other's
    plain = Backoff(initial=0.0, jitter=0, spread=2.0, rng=random.Random(4))
    assert max(plain.delay(0, busy=True) for _ in range(200)) > 1.8


# --- several hubs of one service (docs/cluster.md) ----------------------------------------


def test_hub_addresses_are_read_as_typed_and_the_first_is_the_stable_name() -> None:
    hubs = HubAddresses(" hub1.test:8470, https://hub2.test  hub1.test:8470/,\thub3.test ")
    assert hubs.urls == ("http://hub1.test:8470", "https://hub2.test", "http://hub3.test")
    assert hubs.name == hubs.current == "http://hub1.test:8470"
    assert hubs.ws_urls == ["ws://hub1.test:8470/ws", "wss://hub2.test/ws", "ws://hub3.test/ws"]
    hubs.failed("http://hub1.test:8470")
    hubs.failed("http://hub1.test:8470")  # said twice (two threads): moved once
    assert hubs.current == "https://hub2.test" and hubs.name == "http://hub1.test:8470"
    assert hubs.ws_urls[0] == "wss://hub2.test/ws"  # a new connection starts where REST is
    hubs.use("ws://hub3.test/ws")
    assert hubs.current == "http://hub3.test"
    for bad, words in (("", "Enter the hub address."), (" , ", "Enter the hub address."),
                       ("hub1.test ftp://hub2.test", "must start with http")):
        with pytest.raises(HubRefused, match=words):
            HubAddresses(bad)


def test_a_request_that_cannot_connect_goes_to_the_next_hub_and_stays_there() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "hub1.test":
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/api/v1/clinics/7":
            return httpx.Response(404, json={"detail": "no such clinic"})
        return httpx.Response(200, json={"status": "ok", "protocol": 2})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    hubs = HubAddresses("hub1.test, hub2.test")
    first, second = HubClient(http, hubs, TOKEN), HubClient(http, hubs, TOKEN)
    assert first.round_trip_ms() >= 0 and seen == ["hub1.test", "hub2.test"]
    assert first.url == second.url == "http://hub2.test"  # one list: both moved
    assert second.name == "http://hub1.test"
    second.round_trip_ms()
    assert seen[2:] == ["hub2.test"]
    # An answer, even a refusal, is the service's: it is not asked again elsewhere.
    with pytest.raises(HubNotFound):
        second.cancel_clinic(7)
    assert seen[3:] == ["hub2.test"] and second.url == "http://hub2.test"


def test_a_request_cut_off_after_it_was_sent_is_not_sent_again_to_another_hub() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        raise httpx.ReadError("connection reset", request=request)

    hub = HubClient(httpx.Client(transport=httpx.MockTransport(handle)),
                    HubAddresses("hub1.test hub2.test"), TOKEN)
    with pytest.raises(HubUnreachable, match="ReadError"):
        put(hub)
    assert seen == ["hub1.test"]  # it may have been stored: the sync's retry decides


def test_when_no_hub_can_be_reached_the_error_names_every_address() -> None:
    hub = HubClient(httpx.Client(transport=httpx.MockTransport(raising(httpx.ConnectError))),
                    HubAddresses("hub1.test:8470, hub2.test:8471"), TOKEN)
    with pytest.raises(HubUnreachable) as caught:
        hub.round_trip_ms()
    assert str(caught.value).startswith("none of the hubs at http://hub1.test:8470, "
                                        "http://hub2.test:8471 can be reached (ConnectError)")
    assert TOKEN not in str(caught.value)


def test_a_real_hub_answers_after_an_address_where_nothing_listens(hub: ThreadedHub) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(timeout=5) as http:
        client_ = HubClient(http, HubAddresses([dead, hub.http]))
        assert client_.round_trip_ms() > 0
        assert client_.url == hub.http and client_.name == dead
