"""The hub's Prometheus metrics against a real hub with real calls waiting and answered: the
figures are right, and they are served only on the metrics listener, never to sites."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from hub.contract import signaling as p
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.metrics import scrape, value
from tests.helpers.wsclient import HubClient


def request(reason: str, urgency: str) -> p.CallRequest:
    return p.CallRequest(request_id=reason, reason=reason, urgency=p.Urgency(urgency))


@pytest.fixture
def metered(start_hub: Callable[..., ThreadedHub]) -> ThreadedHub:
    return start_hub(metrics_port=0)


async def test_the_figures_follow_real_calls_waiting_and_answered(
    metered: ThreadedHub, hubdb: HubDatabase
) -> None:
    hub = metered
    empty = scrape(hub.metrics_url)
    for urgency in p.Urgency:
        assert value(empty, "telehub_calls_waiting", urgency=urgency.value) == 0
    assert value(empty, "telehub_longest_wait_seconds") == 0
    assert value(empty, "telehub_connections", kind="site") == 0
    writes_before = value(empty, "telehub_db_write_seconds_count", writer="calllog")

    nina = hubdb.staff("nina", "nurse")
    desks = [await HubClient.connect(hub.ws, nina.token),  # one nurse, two desks open
             await HubClient.connect(hub.ws, nina.token),
             await HubClient.connect(hub.ws, hubdb.staff("nora", "nurse").token),
             await HubClient.connect(hub.ws, hubdb.staff("sam", "specialist").token)]
    plan = [("chest pain", "emergency"), ("fall", "urgent"), ("confused", "urgent"),
            ("rash", "routine")]
    sites = [await HubClient.connect(hub.ws, hubdb.site(f"Home {i}").token)
             for i in range(len(plan))]
    first_sent = time.monotonic()
    call_ids = {}
    for site, (reason, urgency) in zip(sites, plan, strict=True):
        await site.send(request(reason, urgency))
        call_ids[reason] = (await site.expect(p.CallQueued)).call_id
        if len(call_ids) == 1:
            first_queued = time.monotonic()  # the hub stamped the request before this

    waiting = scrape(hub.metrics_url)
    assert value(waiting, "telehub_calls_waiting", urgency="emergency") == 1
    assert value(waiting, "telehub_calls_waiting", urgency="urgent") == 2
    assert value(waiting, "telehub_calls_waiting", urgency="routine") == 1
    assert value(waiting, "telehub_desks_signed_in", role="nurse") == 2  # nina counts once
    assert value(waiting, "telehub_desks_signed_in", role="specialist") == 1
    assert value(waiting, "telehub_desks_signed_in", role="manager") == 0
    assert value(waiting, "telehub_connections", kind="site") == 4
    assert value(waiting, "telehub_connections", kind="staff") == 4
    # every request was written to the call log, each write timed
    assert value(waiting, "telehub_db_write_seconds_count", writer="calllog") > writes_before
    assert value(waiting, "telehub_db_write_seconds_sum", writer="calllog") > 0

    # the longest wait is the first caller's, from its request to the scrape
    scraped = time.monotonic()
    waited = value(scrape(hub.metrics_url), "telehub_longest_wait_seconds")
    assert scraped - first_queued - 0.01 <= waited <= time.monotonic() - first_sent + 0.01

    # a nurse answers the emergency: it leaves the count, its time to answer is observed once
    before_claim = time.monotonic()
    await desks[2].send(p.CallClaim(call_id=call_ids["chest pain"]))
    await desks[2].expect(p.CallConnected)
    answered = scrape(hub.metrics_url)
    assert value(answered, "telehub_calls_waiting", urgency="emergency") == 0
    assert value(answered, "telehub_calls_waiting", urgency="urgent") == 2
    assert value(answered, "telehub_time_to_answer_seconds_count", urgency="emergency") == 1
    assert value(answered, "telehub_time_to_answer_seconds_count", urgency="urgent") == 0
    took = value(answered, "telehub_time_to_answer_seconds_sum", urgency="emergency")
    assert before_claim - first_sent - 0.05 <= took <= time.monotonic() - first_sent + 0.05
    assert value(answered, "telehub_time_to_answer_seconds_bucket", urgency="emergency",
                 le="5.0") == 1
    # a cancelled call leaves the count too; a caller hanging up leaves the connections
    await sites[3].send(p.CallCancel(call_id=call_ids["rash"]))
    await desks[0].expect(p.QueueUpdate, op="removed", call_id=call_ids["rash"])
    await sites[3].close()
    gone = scrape(hub.metrics_url)
    assert value(gone, "telehub_calls_waiting", urgency="routine") == 0
    for _ in range(50):  # the hub notices the close a moment after the client sends it
        if value(gone, "telehub_connections", kind="site") == 3:
            break
        await asyncio.sleep(0.02)
        gone = scrape(hub.metrics_url)
    assert value(gone, "telehub_connections", kind="site") == 3


async def test_metrics_are_not_served_on_the_port_sites_use(
    metered: ThreadedHub, hubdb: HubDatabase
) -> None:
    site = hubdb.site("Beech House")
    for headers in ({}, {"Authorization": f"Bearer {site.token}"}):
        answer = httpx.get(f"{metered.http}/metrics", headers=headers, timeout=5)
        assert answer.status_code == 404
        assert "telehub_" not in answer.text
    # the listener is bound to loopback and serves nothing but /metrics
    listener = metered.services.metrics_listener
    assert listener is not None and listener.sock.getsockname()[0] == "127.0.0.1"
    base = metered.metrics_url.removesuffix("/metrics")
    assert httpx.get(f"{base}/", timeout=5).status_code == 404
    assert httpx.post(metered.metrics_url, timeout=5).status_code == 405


async def test_a_metrics_token_is_required_when_one_is_set(
    start_hub: Callable[..., ThreadedHub]
) -> None:
    hub = start_hub(metrics_port=0, metrics_token="scrape-secret-123")
    assert httpx.get(hub.metrics_url, timeout=5).status_code == 401
    wrong = httpx.get(hub.metrics_url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401 and "scrape-secret" not in wrong.text
    assert "telehub_calls_waiting" in str(scrape(hub.metrics_url, "scrape-secret-123"))
