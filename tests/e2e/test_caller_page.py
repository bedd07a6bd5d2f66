"""The browser caller page end to end: real hub, headless Chromium, an aiortc nurse desk."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from calls import protocol as p
from calls.engine import CallEngine, QueueChanged
from calls.session import CallState, Role
from calls.signaling import Backoff
from hub.config import HubConfig
from tests.calls.conftest import EventLog
from tests.conftest import need
from tests.helpers.chromium import DENY_FLAGS, FLAGS, Chromium, chromium_binary
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub

pytestmark = pytest.mark.slow
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TABLET = (1024, 768)


@pytest.fixture
def hubdb(tmp_path: Path) -> Iterator[HubDatabase]:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.db'}")
    yield db
    db.dispose()


@pytest.fixture
def hub(hubdb: HubDatabase) -> Iterator[ThreadedHub]:
    started = ThreadedHub(HubConfig(db_url=hubdb.url, heartbeat_interval=1.0,
                                    heartbeat_timeout=6.0, reconnect_grace=5.0)).start()
    yield started
    started.stop()


@pytest.fixture
def nurse(hubdb: HubDatabase) -> Seeded:
    return hubdb.staff("nina", "nurse")


def invite(hub: ThreadedHub, nurse: Seeded, name: str = "M. Patel") -> dict[str, str]:
    r = httpx.post(f"{hub.http}/api/v1/invitations",
                   json={"patient": {"name": name, "nhs_number": "9000000009"}},
                   headers={"Authorization": f"Bearer {nurse.token}"})
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def open_browser(flags: tuple[str, ...] | None = None) -> Chromium:
    binary = chromium_binary()
    if binary is None:
        need("Chromium is not installed (apt-get install chromium)")
    assert binary is not None
    browser = Chromium(binary, flags or FLAGS)
    return await browser.start()


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    b = await open_browser()
    yield b
    await b.close()


def visible(section: str) -> str:
    return f"!document.getElementById({json.dumps(section)}).hidden"


async def test_a_home_patient_calls_from_the_page_and_an_aiortc_desk_answers(
    hub: ThreadedHub, nurse: Seeded, browser: Chromium,
) -> None:
    invitation = invite(hub, nurse)
    desk = CallEngine(hub.ws, nurse.token, Role.NURSE,
                      backoff=Backoff(initial=0.05, maximum=0.5))
    events = EventLog(desk)
    await desk.start()
    try:
        # The invitation link signs the page in; the code leaves the address bar at once.
        await browser.goto(hub.http + invitation["link"])
        await browser.wait_for(visible("prepare"))
        assert await browser.evaluate("location.hash") == ""
        assert "M. Patel" in await browser.evaluate("document.getElementById('who').textContent")
        await browser.wait_for("document.getElementById('check-camera').className === 'ok'")
        await browser.wait_for("document.getElementById('check-hub').className === 'ok'")
        await browser.evaluate("document.getElementById('reason').value = "
                               "'Pain not controlled by the breakthrough dose'")
        await browser.screenshot(SHOTS / "caller-page-prepare.png", *TABLET)
        await browser.screenshot(SHOTS / "caller-page-prepare-portrait.png", 768, 1024)
        await browser.evaluate("document.querySelector('input[value=emergency]').click();"
                               "document.getElementById('call-button').click()")

        # The same queue as the stations: the desk sees the home call with its patient.
        queued = await events.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
        assert isinstance(queued, QueueChanged)
        entry = queued.entries[0]
        assert entry.site_kind is p.SiteKind.HOME and entry.urgency is p.Urgency.EMERGENCY
        assert entry.patient is not None and entry.patient.name == "M. Patel"
        assert entry.reason == "Pain not controlled by the breakthrough dose"
        text = await browser.wait_for(
            "document.getElementById('position').textContent.includes('next') && "
            "document.getElementById('wait').textContent")
        assert "Expected wait" in text
        await browser.screenshot(SHOTS / "caller-page-waiting.png", *TABLET)

        session = await desk.claim(entry.call_id)
        await events.state(CallState.IN_CALL, within=20)
        site_pid = f"site:{entry.site_id}"
        # Frames both ways: the page decodes the desk's video; the desk gets the fake camera.
        await browser.wait_for("TelehubCaller.stats().then(s => s.videoFramesDecoded > 30 "
                               "&& s.audioPacketsReceived > 20)", within=20)
        for _ in range(200):
            link = session.links.get(site_pid)
            if link and link.video and link.video.frames > 30 and link.audio \
                    and link.audio.frames > 20:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the desk received no video and audio from the page")
        await browser.wait_for("document.getElementById('remote-status').hidden")
        await browser.screenshot(SHOTS / "caller-page-in-call.png", *TABLET)

        # Mute and camera off act on the page's own tracks.
        await browser.evaluate("document.getElementById('mute-button').click();"
                               "document.getElementById('camera-button').click()")
        assert await browser.evaluate(
            "TelehubCaller.state.local.getTracks().every(t => !t.enabled)")

        # The nurse writes the plan and hangs up; the page shows the plan.
        r = httpx.put(f"{hub.http}/api/v1/calls/{entry.call_id}/plan",
                      json={"decision": "Take a second breakthrough dose now; the district "
                                        "nurse visits by 14:00.",
                            "call_again": "If the pain is not better within an hour."},
                      headers={"Authorization": f"Bearer {nurse.token}"})
        assert r.status_code == 200, r.text
        await desk.hang_up(entry.call_id)
        await browser.wait_for(visible("ended"))
        await browser.wait_for(visible("plan"), within=10)
        assert "district nurse" in await browser.evaluate(
            "document.getElementById('plan-decision').textContent")
        await browser.screenshot(SHOTS / "caller-page-plan.png", *TABLET)

        # Every frame the page sent is a valid protocol message.
        sent = await browser.evaluate("TelehubCaller.state.sent")
        types = [p.parse_client_message(json.dumps(frame)).type for frame in sent]
        assert {"hello", "call_request", "answer"} <= set(types), types
    finally:
        await desk.close()


async def test_every_message_the_page_builds_or_handles_is_in_the_protocol(
    hub: ThreadedHub, nurse: Seeded, browser: Chromium,
) -> None:
    await browser.goto(hub.http + "/call")
    await browser.wait_for(visible("signin"))
    examples = {
        "hello": "['tok']", "pong": "[1.5]", "ping": "[2.5]",
        "call_request": "['req-1', 'Short of breath', 'urgent', {name: 'M. Patel'}]",
        "call_cancel": "['c1']", "call_resume": "['c1']", "call_end": "['c1']",
        "answer": "['c1', 'staff:3', 'v=0']",
    }
    names = await browser.evaluate("Object.keys(TelehubMessages.build)")
    assert sorted(names) == sorted(examples)
    for name, args in examples.items():
        frame = await browser.evaluate(f"TelehubMessages.build.{name}(...{args})")
        assert p.parse_client_message(json.dumps(frame)).type == name
    server_types = {m.model_fields["type"].default
                    for m in p.ServerMessage.__args__[0].__args__}
    handled = await browser.evaluate("Object.keys(TelehubCaller.handlers)")
    assert set(handled) == set(await browser.evaluate("TelehubMessages.HANDLED"))
    assert set(handled) <= server_types
    await browser.screenshot(SHOTS / "caller-page-sign-in.png", *TABLET)


async def test_refused_camera_and_microphone_are_explained_in_plain_words(
    hub: ThreadedHub, nurse: Seeded,
) -> None:
    browser = await open_browser(DENY_FLAGS)
    try:
        await browser.goto(hub.http + invite(hub, nurse)["link"])
        await browser.wait_for(visible("media-help"))
        problem = await browser.evaluate("document.getElementById('media-problem').textContent")
        assert "said no to the camera and microphone" in problem
        assert "You can still call" in problem
        assert await browser.evaluate("document.getElementById('media-howto').textContent")
        assert await browser.evaluate("document.getElementById('check-camera').className") \
            == "bad"
        await browser.screenshot(SHOTS / "caller-page-permission-refused.png", *TABLET)
    finally:
        await browser.close()


async def test_a_wrong_or_revoked_code_is_refused_on_the_page(
    hub: ThreadedHub, nurse: Seeded, browser: Chromium,
) -> None:
    invitation = invite(hub, nurse)
    r = httpx.delete(f"{hub.http}/api/v1/invitations/{invitation['id']}",
                     headers={"Authorization": f"Bearer {nurse.token}"})
    assert r.status_code == 204
    await browser.goto(hub.http + invitation["link"])
    await browser.wait_for(visible("signin") + " && !document.getElementById('notice').hidden")
    assert "did not work" in await browser.evaluate(
        "document.getElementById('notice').textContent")
