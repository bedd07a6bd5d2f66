"""The browser caller page end to end: real hub, headless Chromium and headless Firefox, an
aiortc nurse desk."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from calls.conversation import ChatReceived
from calls.engine import CallEngine, QueueChanged
from calls.media import HD, MediaSource
from calls.photos import PhotoEvent
from calls.session import CallState, HandOverReceived, SessionOptions
from hub.client import Backoff
from hub.contract import signaling as p
from hub.contract.identity import CallRole, SiteKind
from tests.helpers.chromium import DENY_FLAGS, Chromium
from tests.helpers.engines import EventLog
from tests.helpers.firefox import PREFS
from tests.helpers.fixtures import SHOTS, STEADY, Browser, open_chromium, open_firefox
from tests.helpers.hubserver import HubDatabase, LoopbackHub, Seeded, ThreadedHub
from tests.helpers.waiting import holds_for_async, wait_until_async

pytestmark = pytest.mark.slow
TABLET = (1024, 768)


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    return STEADY


@pytest.fixture
def nurse(hubdb: HubDatabase) -> Seeded:
    return hubdb.staff("nina", "nurse")


def invite(hub: LoopbackHub, nurse: Seeded, name: str = "M. Patel") -> dict[str, str]:
    r = httpx.post(f"{hub.http}/api/v1/invitations",
                   json={"patient": {"name": name, "nhs_number": "9000000009"}},
                   headers={"Authorization": f"Bearer {nurse.token}"})
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


# Firefox with camera and microphone left to the user, who is not there: every request
# is refused, as when a patient presses "Block".
DENY_PREFS = {**PREFS, "media.navigator.permission.disabled": False,
              "permissions.default.camera": 2, "permissions.default.microphone": 2}


def shots(browser: Browser, tmp_path: Path) -> Path:
    """Chromium's screenshots are the ones in the docs; Firefox's go beside the test."""
    return SHOTS if isinstance(browser, Chromium) else tmp_path


def visible(section: str) -> str:
    return f"!document.getElementById({json.dumps(section)}).hidden"


# The synthetic pattern's stamp (calls.media.read_pattern) read off the page's remote video:
# the frame counter, or -1 when the frame is not the pattern or its CRC does not hold.
READ_PATTERN = """(() => {
  const v = document.getElementById('remote'), w = v.videoWidth, h = v.videoHeight;
  if (!w || !h) return -1;
  const c = document.createElement('canvas'); c.width = w; c.height = h;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0, w, h);
  const px = g.getImageData(0, 0, w, h / 2).data, bw = w / 16, bh = (h / 2) / 6;
  const bits = [];
  for (let i = 0; i < 96; i++) {
    const r = Math.floor(i / 16), col = i % 16;
    const y = Math.floor((r + 0.5) * bh), x = Math.floor((col + 0.5) * bw);
    bits.push(px[(y * w + x) * 4 + 1] > 128 ? 1 : 0);
  }
  const bytes = [];
  for (let b = 0; b < 10; b++) {
    let v8 = 0; for (let k = 0; k < 8; k++) v8 = (v8 << 1) | bits[b * 8 + k]; bytes.push(v8);
  }
  let crc = 0xFFFF;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let k = 0; k < 8; k++) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xFFFF
                                                     : (crc << 1) & 0xFFFF;
  }
  let sent = 0; for (let k = 80; k < 96; k++) sent = sent * 2 + bits[k];
  if (sent !== crc) return -1;
  let counter = 0; for (let k = 0; k < 32; k++) counter = counter * 2 + bits[k];
  return counter;
})()"""

PLAN_GETS = ("performance.getEntriesByType('resource')"
             ".filter(e => e.name.endsWith('/plan')).length")


async def gets_once(browser: Browser) -> bool:
    return bool(await browser.evaluate(PLAN_GETS) == 1)


async def write_plan(hub: ThreadedHub, nurse: Seeded, call_id: str, decision: str) -> None:
    r = await asyncio.to_thread(
        httpx.put, f"{hub.http}/api/v1/calls/{call_id}/plan",
        json={"decision": decision, "call_again": "If the pain is not better within an hour."},
        headers={"Authorization": f"Bearer {nurse.token}"})
    assert r.status_code == 200, r.text


async def test_a_home_patient_calls_from_the_page_and_an_aiortc_desk_answers(
    hub: ThreadedHub, hubdb: HubDatabase, nurse: Seeded, any_browser: Browser, tmp_path: Path,
) -> None:
    browser, shot_dir = any_browser, shots(any_browser, tmp_path)
    chromium = isinstance(browser, Chromium)
    invitation = invite(hub, nurse)
    # An HD desk camera; the desk slow to notice a dead link itself, so that the page has to
    # notice first (and ask it for a new connection).
    desk = CallEngine(hub.ws, nurse.token, CallRole.NURSE,
                      backoff=Backoff(initial=0.05, maximum=0.5),
                      media=lambda: MediaSource.synthetic(size=HD),
                      options=SessionOptions(stall_after=4.0))
    events = EventLog(desk)
    first_nurse = desk
    try:
        # The invitation link signs the page in; the code leaves the address bar at once.
        await browser.goto(hub.http + invitation["link"])
        await browser.wait_for(visible("prepare"))
        assert await browser.evaluate("location.hash") == ""
        assert "M. Patel" in await browser.evaluate("document.getElementById('who').textContent")
        # No nurse signed in yet: the page says so at once, with what to do instead.
        status = await browser.wait_for(
            "!document.getElementById('hub-status').hidden && "
            "document.getElementById('hub-status').textContent")
        assert "999" in status and "111" in status
        await desk.start()
        await browser.wait_for("document.getElementById('hub-status').hidden")
        await browser.wait_for("document.getElementById('check-camera').className === 'ok'")
        await browser.wait_for("document.getElementById('check-hub').className === 'ok'")
        await browser.evaluate("document.getElementById('reason').value = "
                               "'Pain not controlled by the breakthrough dose'")
        await browser.screenshot(shot_dir / "caller-page-prepare.png", *TABLET)
        await browser.screenshot(shot_dir / "caller-page-prepare-portrait.png", 768, 1024)
        await browser.evaluate("document.querySelector('input[value=emergency]').click();"
                               "document.getElementById('call-button').click()")

        # The same queue as the stations: the desk sees the home call with its patient.
        queued = await events.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
        assert isinstance(queued, QueueChanged)
        entry = queued.entries[0]
        assert entry.site_kind is SiteKind.HOME and entry.urgency is p.Urgency.EMERGENCY
        assert entry.patient is not None and entry.patient.name == "M. Patel"
        assert entry.reason == "Pain not controlled by the breakthrough dose"
        text = await browser.wait_for(
            "document.getElementById('position').textContent.includes('next') && "
            "document.getElementById('wait').textContent")
        assert "Expected wait" in text
        await browser.screenshot(shot_dir / "caller-page-waiting.png", *TABLET)

        # A nurse messages the waiting caller: shown large, with a sound, said assertively;
        # the caller answers from the page.
        urgent = "If they stop breathing or do not respond, call 999 now."
        await desk.conversation.say(entry.call_id, urgent)
        await browser.wait_for(f"document.getElementById('message-latest').textContent === "
                               f"{json.dumps(urgent)}")
        assert await browser.evaluate("TelehubCaller.state.chimes") == 1
        assert urgent in await browser.evaluate(
            "document.getElementById('live-assertive').textContent")
        size = await browser.evaluate(
            "parseFloat(getComputedStyle(document.getElementById('message-latest')).fontSize)"
            " / parseFloat(getComputedStyle(document.getElementById('wait')).fontSize)")
        assert size > 1.0
        await browser.screenshot(shot_dir / "caller-page-waiting-message.png", *TABLET)
        await browser.evaluate("document.getElementById('reply').value = 'He is breathing';"
                               "document.getElementById('reply-button').click()")
        reply = await events.wait(lambda e: isinstance(e, ChatReceived)
                                  and e.message.role == "caller")
        assert isinstance(reply, ChatReceived) and reply.message.text == "He is breathing"
        await browser.wait_for("document.getElementById('messages').textContent"
                               ".includes('He is breathing')")

        session = await desk.claim(entry.call_id)
        await events.state(CallState.IN_CALL, within=40)
        site_pid = f"site:{entry.site_id}"
        # Frames both ways: the page decodes the desk's video; the desk gets the fake camera.
        await browser.wait_for("TelehubCaller.stats().then(s => s.videoFramesDecoded > 30 "
                               "&& s.audioPacketsReceived > 20)", within=40)
        def desk_has_media() -> bool:
            link = session.links.get(site_pid)
            return bool(link and link.video and link.video.frames > 30 and link.audio
                        and link.audio.frames > 20)

        await wait_until_async(desk_has_media, 20, "the desk to receive video and audio "
                               "from the page", interval=0.1)
        await browser.wait_for("document.getElementById('remote-status').hidden")
        # The nurse's video really plays on the page (not only decoded): it has a size.
        await browser.wait_for("document.getElementById('remote').videoWidth > 0")
        await browser.screenshot(shot_dir / "caller-page-in-call.png", *TABLET)

        # HD where both ends can: H.264 with Chromium, VP8 with Firefox (no OpenH264 here).
        # The page sends its fake camera at 1280x720; the desk sends 720p over H.264 and
        # 480p over VP8 (VP8 cannot afford HD on a small PC); the page reads the desk's
        # pattern counter off the picture it shows.
        link = session.links[site_pid]
        assert link.codec == ("H264" if chromium else "VP8")
        await wait_until_async(lambda: bool(link.video and link.video.latest is not None
                                            and link.video.latest.height == 720), 20,
                               lambda: "720p from the page's camera at the desk (now "
                               f"{link.video and link.video.latest and link.video.latest.width}"
                               f"x{link.video and link.video.latest and link.video.latest.height})",
                               interval=0.1)
        height = 720 if chromium else 480
        stats = await browser.wait_for(
            f"TelehubCaller.stats().then(s => s.frameHeight === {height} && s)", within=20)
        assert stats["codecIn"].lower() == ("video/h264" if chromium else "video/vp8"), stats
        first = await browser.wait_for(f"{READ_PATTERN} >= 0 && {READ_PATTERN}", within=10)
        later = await browser.wait_for(f"{READ_PATTERN} > {int(first)} && {READ_PATTERN}",
                                       within=10)
        assert int(later) > int(first)

        # The page's camera choice: another camera, on the same connection (replaceTrack).
        cameras = await browser.evaluate("TelehubCaller.listCameras()")
        if chromium:  # three fake cameras (Firefox has one: the choice stays hidden)
            assert cameras == 3 and await browser.evaluate(visible("camera-choice-box"))
            generation = link.generation
            await browser.evaluate(
                "(() => { const s = document.getElementById('camera-choice');"
                " s.selectedIndex = 2; s.dispatchEvent(new Event('change')); })()")
            # the call's sender now carries the second camera, and the choice is remembered
            await browser.wait_for(
                "(() => { const id = document.getElementById('camera-choice').value;"
                " return TelehubCaller.state.pc.getSenders().some(s => s.track &&"
                " s.track.getSettings().deviceId === id) &&"
                " localStorage.getItem('telehub.camera') === id; })()")
            frames = link.video.frames if link.video else 0
            await wait_until_async(lambda: bool(link.video and link.video.frames > frames + 10),
                                   10, lambda: f"frames from the second camera ({frames} -> "
                                   f"{link.video and link.video.frames}, generation "
                                   f"{session.links[site_pid].generation}, "
                                   f"{browser.console[-5:]})", interval=0.1)
            assert session.links[site_pid].generation == generation  # not redialled
        else:
            assert cameras == 1 and not await browser.evaluate(visible("camera-choice-box"))

        # The desk's peer connection dies: within a second the page says no picture arrives
        # (and dims the last one) and asks the desk for a new connection; the desk offers
        # anew, and the picture comes back.
        dead = session.links[site_pid]
        cut_at = await browser.evaluate("Date.now()")
        await dead.pc.close()
        stall = await browser.wait_for(
            "(() => { const s = TelehubCaller.state.lastStall;"
            f" return s && s.at >= {cut_at} ? s : null; }})()", within=5)
        # The promise measured on the page's own clock: the silence since the last packet it
        # saw, when it said so. The test's cut_at is taken a round trip (and aiortc's close,
        # in this process) before the media really stops, so under load it over-counts.
        assert stall["silentMs"] <= 1000, f"the page said it after {stall['silentMs']} ms"
        said = await browser.wait_for(
            "document.getElementById('picture-status').textContent || "
            "TelehubCaller.state.stalledSaid", within=2)
        assert said == 1 or ("No picture for" in said and "reconnecting" in said), said
        # the desk (slow to notice by itself here) offers anew because the page asked
        await wait_until_async(lambda: session.links[site_pid].generation > dead.generation,
                               2, "the desk to offer anew at the page's request",
                               interval=0.05)
        await browser.wait_for("document.getElementById('picture-status').textContent === ''"
                               " && TelehubCaller.stats().then(s => s.videoFramesDecoded > 5)",
                               within=20)
        assert session.links[site_pid].generation > dead.generation

        # Handed over to another nurse (issue 14): the page does nothing, says who it is with
        # now, and plays the new nurse's video on a new peer connection.
        nora = hubdb.staff("nora", "nurse")
        desk = CallEngine(hub.ws, nora.token, CallRole.NURSE,
                          backoff=Backoff(initial=0.05, maximum=0.5))
        taken = EventLog(desk)
        await desk.start()
        await first_nurse.hand_over(entry.call_id, nora.principal.participant_id, "over to you")
        await taken.wait(lambda e: isinstance(e, HandOverReceived), within=20)
        session = await desk.take_hand_over(entry.call_id)
        await taken.state(CallState.IN_CALL, within=40)
        nora_pid = json.dumps(nora.principal.participant_id)
        await browser.wait_for(f"TelehubCaller.state.peer === {nora_pid}", within=20)
        await browser.wait_for("TelehubCaller.stats().then(s => s.videoFramesDecoded > 30)",
                               within=40)
        await wait_until_async(desk_has_media, 20, "the new nurse to receive the page's video",
                               interval=0.1)
        assert "Nora" in await browser.evaluate("document.getElementById('live-polite')"
                                                ".textContent + document.getElementById("
                                                "'live-assertive').textContent")
        # The nurse asks for a photo; the patient agrees; the page sends the camera's own
        # picture at its full size (ImageCapture in Chromium, the camera's frame in Firefox).
        await desk.ask_photo(entry.call_id)
        await browser.wait_for(visible("photo"))
        assert "asks for a photo" in await browser.evaluate(
            "document.getElementById('photo-question').textContent")
        await browser.screenshot(shot_dir / "caller-page-photo-consent.png", *TABLET)
        await browser.evaluate("document.getElementById('photo-agree').click()")
        # (the photo is ready for the nurse who asked: the one the call was handed to)
        ready = await taken.wait(lambda e: isinstance(e, PhotoEvent)
                                 and isinstance(e.message, p.PhotoReady), within=20)
        assert isinstance(ready, PhotoEvent) and isinstance(ready.message, p.PhotoReady)
        camera = await browser.evaluate(
            "(() => { const s = TelehubCaller.state.local.getVideoTracks()[0].getSettings();"
            " return [s.width, s.height]; })()")
        image = await asyncio.to_thread(
            httpx.get, f"{hub.http}/api/v1/photos/{ready.message.photo_id}/image",
            headers={"Authorization": f"Bearer {nurse.token}"})
        assert image.status_code == 200
        picture = Image.open(io.BytesIO(image.content))
        assert list(picture.size) == camera, (picture.size, camera)
        assert (ready.message.width, ready.message.height) == picture.size
        await browser.wait_for("document.getElementById('photo-status').textContent"
                               ".startsWith('Photo sent')")
        # The nurse holds the call: the page says so and counts the time; then resumes.
        await desk.conversation.hold(entry.call_id, True)
        await browser.wait_for("!document.getElementById('hold-status').hidden && "
                               "document.getElementById('hold-status').textContent"
                               ".startsWith('On hold for 0:0')")
        await browser.screenshot(shot_dir / "caller-page-on-hold.png", *TABLET)
        await desk.conversation.hold(entry.call_id, False)
        await browser.wait_for("document.getElementById('hold-status').hidden")

        # Mute and camera off act on the page's own tracks.
        await browser.evaluate("document.getElementById('mute-button').click();"
                               "document.getElementById('camera-button').click()")
        assert await browser.evaluate(
            "TelehubCaller.state.local.getTracks().every(t => !t.enabled)")

        # The nurse hangs up, then writes the plan: the hub pushes it (call_plan) and the
        # page shows it at once, without asking for it.
        await desk.hang_up(entry.call_id)
        await browser.wait_for(visible("ended"))
        assert await browser.evaluate(visible("plan-waiting"))
        await write_plan(hub, nurse, entry.call_id, "Take a second breakthrough dose now; "
                                                    "the district nurse visits by 14:00.")
        await browser.wait_for(visible("plan"), within=15)
        assert "district nurse" in await browser.evaluate(
            "document.getElementById('plan-decision').textContent")
        assert "Written by" in await browser.evaluate(
            "document.getElementById('plan-by').textContent")
        assert await browser.evaluate(PLAN_GETS) == 0  # pushed, never polled
        await browser.screenshot(shot_dir / "caller-page-plan.png", *TABLET)

        # A correction while the page is away: after the reconnect it asks once, and only once.
        await browser.evaluate("TelehubCaller.state.ws.close()")
        await browser.wait_for("TelehubCaller.state.ws.readyState === WebSocket.CLOSED")
        await write_plan(hub, nurse, entry.call_id, "Corrected: the district nurse visits "
                                                    "by 12:00.")
        await browser.wait_for("document.getElementById('plan-decision').textContent"
                               ".startsWith('Corrected')", within=20)
        assert await browser.evaluate(PLAN_GETS) == 1
        await holds_for_async(lambda: gets_once(browser), 1, "the page asks for the plan "
                              "only once", interval=0.1)
        # A hub given no other hubs (no --peer-url): the page came back to its own.
        assert await browser.evaluate("[TelehubCaller.state.hubs, TelehubCaller.state.ws.url]"
                                      ) == [[hub.ws], hub.ws]

        # Every frame the page sent is a valid protocol message.
        sent = await browser.evaluate("TelehubCaller.state.sent")
        types = [p.parse_client_message(json.dumps(frame)).type for frame in sent]
        assert {"hello", "call_request", "answer", "chat_send"} <= set(types), types
        photo_sent = await browser.evaluate("TelehubCaller.state.photoSent")
        assert photo_sent["consent"] == "given" and photo_sent["width"] == camera[0]
        assert types.count("hello") == 2
    finally:
        await desk.close()
        await first_nurse.close()


async def test_a_plan_written_during_the_call_shows_when_it_ends_and_the_page_calls_again(
    hub: ThreadedHub, nurse: Seeded, browser: Chromium,
) -> None:
    desk = CallEngine(hub.ws, nurse.token, CallRole.NURSE,
                      backoff=Backoff(initial=0.05, maximum=0.5))
    events = EventLog(desk)
    await desk.start()
    try:
        await browser.goto(hub.http + invite(hub, nurse)["link"])
        await browser.wait_for(visible("prepare"))
        await browser.evaluate("document.getElementById('reason').value = 'Breathless';"
                               "document.getElementById('call-button').click()")
        queued = await events.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1)
        assert isinstance(queued, QueueChanged)
        call_id = queued.entries[0].call_id
        await desk.claim(call_id)
        await events.state(CallState.IN_CALL, within=40)
        await browser.wait_for(visible("incall"))
        await write_plan(hub, nurse, call_id, "Sit upright; oxygen as prescribed.")
        await browser.wait_for(f"TelehubCaller.state.plans[{json.dumps(call_id)}]")
        assert not await browser.evaluate(visible("ended"))  # the call goes on
        await browser.evaluate("document.getElementById('end-button').click()")
        await browser.wait_for(visible("plan"), within=15)
        assert "oxygen" in await browser.evaluate(
            "document.getElementById('plan-decision').textContent")
        assert await browser.evaluate(PLAN_GETS) == 0

        # Calling again uses the same connection and reaches the queue again.
        await browser.evaluate("document.getElementById('again-button').click()")
        await browser.wait_for(visible("prepare"))
        assert await browser.evaluate(visible("plan")) is False
        await browser.evaluate("document.getElementById('reason').value = 'Still breathless';"
                               "document.getElementById('call-button').click()")
        again = await events.wait(lambda e: isinstance(e, QueueChanged) and len(e.entries) == 1
                                  and e.entries[0].call_id != call_id)
        assert isinstance(again, QueueChanged)
        assert again.entries[0].reason == "Still breathless"
        await browser.wait_for(visible("waiting"))
        sent = await browser.evaluate("TelehubCaller.state.sent.map(m => m.type)")
        assert sent.count("hello") == 1 and sent.count("call_request") == 2
    finally:
        await desk.close()


async def test_every_message_the_page_builds_or_handles_is_in_the_protocol(
    hub: ThreadedHub, nurse: Seeded, any_browser: Browser, tmp_path: Path,
) -> None:
    browser = any_browser
    await browser.goto(hub.http + "/call")
    await browser.wait_for(visible("signin"))
    examples = {
        "hello": "['tok']", "pong": "[1.5]", "ping": "[2.5]",
        "call_request": "['req-1', 'Short of breath', 'urgent', {name: 'M. Patel'}]",
        "call_cancel": "['c1']", "call_resume": "['c1']", "call_end": "['c1']",
        "answer": "['c1', 'staff:3', 'v=0']", "renegotiate": "['c1', 'staff:3']",
        "photo_decline": "['c1', 'r1']",
        "chat_send": "['c1', 'He is breathing']",
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
    assert {"call_plan", "chat_message", "call_held", "hub_status"} <= set(handled)
    await browser.screenshot(shots(browser, tmp_path) / "caller-page-sign-in.png", *TABLET)


@pytest.mark.parametrize("name", ["chromium", "firefox"])
async def test_refused_camera_and_microphone_are_explained_in_plain_words(
    hub: ThreadedHub, nurse: Seeded, name: str, tmp_path: Path,
) -> None:
    browser: Browser = (await open_chromium(DENY_FLAGS) if name == "chromium"
                        else await open_firefox(DENY_PREFS))
    try:
        await browser.goto(hub.http + invite(hub, nurse)["link"])
        await browser.wait_for(visible("media-help"))
        problem = await browser.evaluate("document.getElementById('media-problem').textContent")
        assert "said no to the camera and microphone" in problem
        assert "You can still call" in problem
        howto = await browser.evaluate("document.getElementById('media-howto').textContent")
        assert ("In Firefox" in howto) is (name == "firefox")
        assert await browser.evaluate("document.getElementById('check-camera').className") \
            == "bad"
        await browser.screenshot(shots(browser, tmp_path) / "caller-page-permission-refused.png",
                                 *TABLET)
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
