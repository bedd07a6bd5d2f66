"""A photo into the record, end to end (issue 17): the nurse asks from the desk, the station
asks the care-home worker for consent and sends its camera's own full-size frame (larger
than the call's video), the desk shows it and attaches it while offline, keeps it, and syncs
it after the record; the central store holds it with the record, the FHIR export has it as
Media of the Encounter, and the desk's fetch is audited."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from calls.media import MediaSource, SyntheticVideoTrack, ToneAudioTrack, VideoProfile
from hub.contract import signaling as p
from hub.photos import WoundPhotoEvent
from records.photos import LocalPhotos, PhotoSyncState
from tests.helpers.fixtures import SHOTS, People
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.tcprelay import TcpRelay
from tests.ui.conftest import signed_in
from ui.station.media import SwitchedAudio, SwitchedVideo, Switches
from ui.station.window import StationWindow

pytestmark = pytest.mark.slow

# A document camera's picture: larger than the call sends (the call's profile scales it down).
CAMERA = VideoProfile("camera", 1280, 960, 15.0)


def document_camera(switches: Switches) -> Callable[[], MediaSource]:
    """The station's synthetic camera at a camera's size, behind the station's switches:
    the same path a USB camera's frames take."""
    def make() -> MediaSource:
        return MediaSource(SwitchedAudio(ToneAudioTrack(), switches),
                           SwitchedVideo(SyntheticVideoTrack(CAMERA), switches))
    return make


@pytest.fixture
def relay(hub: ThreadedHub) -> Iterator[TcpRelay]:
    """The desk reaches the hub through a relay the test can cut (the desk offline)."""
    relay = TcpRelay(hub.port)
    yield relay
    relay.close()


def click(qtbot: QtBot, button: Any) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_the_nurse_asks_the_site_consents_and_the_photo_reaches_the_record_and_the_export(
        qtbot: QtBot, hub: ThreadedHub, hubdb: HubDatabase, people: People, relay: TcpRelay,
        desk_factory: Any, make_station: Callable[..., StationWindow]) -> None:
    desk = desk_factory()
    signed_in(qtbot, desk, relay, "nina")  # type: ignore[arg-type]  # a hub's address
    station = make_station(people.site, camera=document_camera)
    station.start_call({"reason": "Pressure sore on the left heel, worse since Monday",
                        "urgency": p.Urgency.URGENT, "intended_action": p.IntendedAction.GP,
                        "request_id": uuid.uuid4().hex})
    qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 1, timeout=10_000)
    desk.activateWindow()  # the station's window came up last; the desk's keys need focus
    qtbot.waitUntil(desk.isActiveWindow, timeout=5_000)
    qtbot.keyClick(desk.queue.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: desk.call.remote.painted >= 3, timeout=20_000)
    video = desk.call.remote.image
    assert video is not None
    video_size = (video.width(), video.height())

    # The nurse asks (Ctrl+Shift+P); the station asks the worker for the resident's consent.
    panel = desk.call.photos
    assert panel.ask.isEnabled() and panel.ask.accessibleName()
    qtbot.keyClick(desk.call.end, Qt.Key.Key_P,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    consent = station.photo_panel
    qtbot.waitUntil(consent.isVisible, timeout=10_000)
    assert "Nina asks for a photo" in consent.question.text()
    assert consent.agree_button.accessibleName() and consent.decline_button.accessibleName()
    assert station.pages.currentWidget() is station.call_page
    # The resident says no: nothing is taken, and the nurse is told.
    click(qtbot, consent.decline_button)
    qtbot.waitUntil(lambda: "did not consent" in panel.status.text(), timeout=10_000)
    assert panel.image.photo is None and not consent.agree_button.isVisible()
    # Asked again, the resident agrees.
    click(qtbot, panel.ask)
    qtbot.waitUntil(consent.agree_button.isVisible, timeout=10_000)
    station.grab().save(str(SHOTS / "station-photo-consent.png"))
    click(qtbot, consent.agree_button)
    qtbot.waitUntil(lambda: "Photo sent" in consent.status.text(), timeout=15_000)

    # The desk shows the still at the camera's full size, larger than the call's video.
    qtbot.waitUntil(lambda: panel.image.photo is not None, timeout=15_000)
    photo = panel.image.photo
    assert photo is not None
    assert (photo.width, photo.height) == (CAMERA.width, CAMERA.height)
    assert Image.open(io.BytesIO(photo.data)).size == (CAMERA.width, CAMERA.height)
    assert photo.width * photo.height > video_size[0] * video_size[1], video_size
    assert photo.consent == "given" and photo.consent_by_name == "Beech House"
    assert panel.attach.isEnabled()
    desk.grab().save(str(SHOTS / "desk-call-photo.png"))

    # The call ends; the desk goes offline; the nurse attaches the photo and signs off.
    form = desk.triage
    qtbot.keyClick(desk.call.end, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: desk.current is None, timeout=10_000)
    relay.cut()
    qtbot.waitUntil(lambda: not desk.hub_up, timeout=10_000)
    click(qtbot, panel.attach)
    qtbot.waitUntil(lambda: panel.attach.text() == "Attached to the record", timeout=5_000)
    signed: list[Any] = []
    form.signedOff.connect(signed.append)
    form.outcome.setCurrentIndex(form.outcome.findData("advice_managed_in_place"))
    click(qtbot, form.sign_button)
    qtbot.waitUntil(lambda: signed != [], timeout=10_000)
    record = signed[0].uuid
    assert desk.store is not None
    with desk.store.unit_of_work() as uow:  # the desk keeps it, waiting to sync
        [held] = LocalPhotos(uow.session).of_record(record)
    assert held.sync_state is PhotoSyncState.PENDING and held.data == photo.data

    # History shows it beside its record, offline, from the desk's own store.
    desk.tabs.setCurrentWidget(desk.history)
    qtbot.waitUntil(lambda: desk.history.model.rowCount() >= 1, timeout=10_000)
    desk.history.table.setFocus()
    desk.history.table.selectRow(0)
    strip = desk.history_photos
    qtbot.waitUntil(lambda: strip.title.text() == "Photos: 1", timeout=15_000)
    assert strip.images[0].isVisible() and "1280 × 960" in strip.images[0].accessibleName()
    desk.grab().save(str(SHOTS / "desk-history-photo.png"))

    # Back online: the record syncs, then the photo's attachment after it.
    relay.restore()
    nurse = {"Authorization": f"Bearer {people.nurse.token}"}

    def attached_at_hub() -> bool:
        r = httpx.get(f"{hub.http}/api/v1/records/{record}/photos", headers=nurse)
        return r.status_code == 200 and [x["photo_id"] for x in r.json()] == [
            str(photo.photo_id)]

    qtbot.waitUntil(attached_at_hub, timeout=30_000)

    def synced_here() -> bool:  # the desk's sync thread records the answer after the hub
        assert desk.store is not None
        with desk.store.unit_of_work() as uow:
            [held] = LocalPhotos(uow.session).of_record(record)
        return held.sync_state is PhotoSyncState.SYNCED

    qtbot.waitUntil(synced_here, timeout=10_000)

    # In the FHIR export: Media of the record's Encounter; the desk's fetch was audited.
    manager = hubdb.staff("max", "manager")
    bundle = json.loads(httpx.get(
        f"{hub.http}/api/v1/records:export", params={"from": "2020-01-01", "to": "2099-12-31",
                                                     "format": "fhir"},
        headers={"Authorization": f"Bearer {manager.token}"}, timeout=30).content)
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    [media] = [r for r in resources.values() if r["resourceType"] == "Media"]
    assert resources[media["encounter"]["reference"]]["id"] == str(record)
    assert (media["width"], media["height"]) == (CAMERA.width, CAMERA.height)
    with hubdb.sessions() as session:
        e = WoundPhotoEvent
        trail = [(a, b) for a, b in session.execute(sa.select(e.actor, e.action).where(
            e.photo_id == UUID(str(photo.photo_id))).order_by(e.id))]
    assert trail == [(people.site.principal.participant_id, "upload"),
                     (people.nurse.principal.participant_id, "view"),
                     (people.nurse.principal.participant_id, "attach")]
