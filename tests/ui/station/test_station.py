"""The site station's window against a real hub: the form, the queue, the call and the plan."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import keyring.backend
import keyring.backends.fail
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from calls.cameras import synthetic_camera, which_camera
from calls.media import read_pattern
from hub.client import Backoff
from hub.contract import signaling as p
from hub.contract.identity import SiteKind
from hub.contract.rest import PlanOut as Plan
from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.waiting import holds_for, qt_pause, wait_until
from tests.ui.station.conftest import Desk
from ui.station.credential import CredentialVault
from ui.station.media import CameraChoice
from ui.station.waiting import position_words, wait_words
from ui.station.window import StationWindow

Station = Callable[..., StationWindow]


def click(qtbot: QtBot, button: object) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[arg-type]


def type_into(qtbot: QtBot, widget: object, text: str) -> None:
    widget.clear()  # type: ignore[attr-defined]
    qtbot.keyClicks(widget, text)  # type: ignore[arg-type]


def fill_observations(qtbot: QtBot, w: StationWindow) -> None:
    for name, value in (("respiration_rate", "22"), ("spo2", "94"), ("systolic_bp", "108"),
                        ("pulse", "104"), ("temperature", "37.9")):
        type_into(qtbot, w.details_page.observations.obs[name], value)
    form = w.details_page.observations
    form.oxygen.setCurrentIndex(form.oxygen.findData(False))
    form.acvpu.setCurrentIndex(form.acvpu.findData("C"))


def test_the_form_needs_only_a_reason_scores_news2_live_and_keeps_residents(
    make_station: Station, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
) -> None:
    w = make_station(hubdb.site("Beech House"))
    call = w.home_page.call_button
    assert call.minimumSizeHint().height() >= 64 or call.height() >= 120
    click(qtbot, w.home_page.call_button)
    assert w.pages.currentWidget() is w.details_page
    # No reason: the call is not made and the form says why.
    click(qtbot, w.details_page.go_button)
    assert w.pages.currentWidget() is w.details_page
    assert "why you are calling" in w.details_page.reason.reason_error.text()
    assert desk.queue == ()

    # NEWS2 as the observations are typed: partial, then complete, and bad values named.
    type_into(qtbot, w.details_page.observations.obs["respiration_rate"], "22")
    news2 = w.details_page.observations.news2_label
    assert news2.text().startswith("NEWS2 at least 2 (partial")
    fill_observations(qtbot, w)
    assert w.details_page.observations.news2_label.text() == "NEWS2 8 – high"
    type_into(qtbot, w.details_page.observations.obs["pulse"], "900")
    assert w.details_page.observations.news2_label.text().startswith("Check Pulse / min")
    type_into(qtbot, w.details_page.observations.obs["pulse"], "104")

    # A new resident goes into the local store and is chosen; a bad NHS number is refused.
    type_into(qtbot, w.details_page.resident.new_name, "Edith Brown")
    type_into(qtbot, w.details_page.resident.new_nhs, "9000000000")
    w.details_page.resident.on_add_resident()
    assert "nhs number" in w.details_page.resident.resident_error.text().lower()
    assert w.residents.all() == []
    type_into(qtbot, w.details_page.resident.new_nhs, "943 476 5919")
    type_into(qtbot, w.details_page.resident.new_dob, "1936-04-02")
    w.details_page.resident.on_add_resident()
    assert w.details_page.resident.resident_error.text() == ""
    assert [x.name for x in w.residents.all()] == ["Edith Brown"]
    assert w.details_page.resident.resident.currentText().startswith("Edith Brown")

    w.details_page.soft_signs.signs["unsteadiness_or_falls"].setChecked(True)
    w.details_page.intended.setCurrentIndex(w.details_page.intended.findData("ambulance_999"))
    click(qtbot, w.details_page.reason.urgency_buttons[p.Urgency.EMERGENCY])
    check = w.details_page.check
    qtbot.waitUntil(lambda: "640 x 480" in check.check_camera.text(), timeout=10_000)
    qtbot.waitUntil(lambda: "✓ Network" in check.check_net.text(), timeout=10_000)
    type_into(qtbot, w.details_page.reason.reason, "Fall in the lounge, new confusion")
    SHOTS.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(SHOTS / "station-details.png"))
    click(qtbot, w.details_page.go_button)

    # The hub's queue has everything the form said; the station shows its place.
    qtbot.waitUntil(lambda: len(desk.queue) == 1, timeout=10_000)
    entry = desk.queue[0]
    assert entry.reason == "Fall in the lounge, new confusion"
    assert entry.urgency is p.Urgency.EMERGENCY
    assert entry.intended_action is p.IntendedAction.AMBULANCE_999
    assert entry.patient == p.Patient(name="Edith Brown", nhs_number="9434765919",
                                      date_of_birth="1936-04-02")
    assert entry.news2 is not None and entry.news2.total == 8 and entry.news2.complete
    assert entry.soft_signs == ["unsteadiness_or_falls"]
    qtbot.waitUntil(lambda: w.waiting_page.position.text() == "You are next", timeout=5000)
    assert w.waiting_page.wait.text().startswith("Expected wait")
    w.grab().save(str(SHOTS / "station-waiting.png"))

    # Cancel while waiting: the call leaves the queue.
    click(qtbot, w.waiting_page.cancel_button)
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.after_page, timeout=5000)
    assert w.after_page.after_title.text() == "The call was cancelled"
    qtbot.waitUntil(lambda: desk.queue == (), timeout=5000)


def test_the_reason_alone_is_enough(
    make_station: Station, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
) -> None:
    w = make_station(hubdb.site("Oak Lodge"))
    click(qtbot, w.home_page.call_button)
    type_into(qtbot, w.details_page.reason.reason, "Resident short of breath")
    # A half-typed value never holds up a call.
    type_into(qtbot, w.details_page.observations.obs["pulse"], "fast")
    click(qtbot, w.details_page.go_button)
    qtbot.waitUntil(lambda: len(desk.queue) == 1, timeout=10_000)
    entry = desk.queue[0]
    assert entry.reason == "Resident short of breath" and entry.urgency is p.Urgency.URGENT
    assert entry.patient is None and entry.observations is None and entry.soft_signs == []


def test_a_prison_joins_its_booked_clinic_at_its_time(
    make_station: Station, hub: ThreadedHub, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
) -> None:
    prison = hubdb.site("HMP Moorside", "prison")
    admin, doctor = hubdb.staff("ada", "admin"), hubdb.staff("sam", "specialist")
    now = datetime.now(UTC).replace(microsecond=0)
    # One clinic that started 5 minutes ago (open to join) and one in 15 (not yet), both on
    # today's list (UTC); within 15 minutes of midnight only the first can be.
    soon = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=0))
    later = now + timedelta(minutes=15)
    bookings = [(soon, "Dermatology clinic")]
    if later.date() == now.date():
        bookings.append((later, "Diabetes review"))
    ids = []
    for at, title in bookings:
        r = httpx.post(f"{hub.http}/api/v1/clinics", headers={
            "Authorization": f"Bearer {admin.token}"}, json={
            "site_id": prison.principal.id, "specialist_id": doctor.principal.id,
            "starts_at": at.isoformat(), "title": title, "patient": {"name": "A. Smith"}})
        assert r.status_code == 201
        ids.append(r.json()["id"])
    w = make_station(prison)
    qtbot.waitUntil(lambda: len(w.clinics) == len(bookings), timeout=5000)
    first = w.home_page.clinic_box.findChild(QPushButton, f"join-{ids[0]}")
    assert first is not None and first.isEnabled() and first.text() == "Join"
    # Every row's button reads "Join": a screen reader hears which clinic it joins.
    assert first.accessibleName().startswith("Join: ") and "Dermatology clinic with Sam" \
        in first.accessibleName()
    if len(ids) == 2:
        second = w.home_page.clinic_box.findChild(QPushButton, f"join-{ids[1]}")
        assert second is not None and not second.isEnabled()
        assert second.text().startswith("Join from")
    qtbot.waitUntil(first.isVisible, timeout=5000)  # rows added to a shown box show soon after
    w.grab().save(str(SHOTS / "station-prison-home.png"))
    click(qtbot, first)
    qtbot.waitUntil(lambda: len(desk.queue) == 1, timeout=10_000)
    entry = desk.queue[0]
    assert entry.reason.startswith("Booked clinic: Dermatology clinic with Sam")
    assert entry.urgency is p.Urgency.ROUTINE and entry.site_kind is SiteKind.PRISON
    # The call named its booking: the booked specialist is not signed in, so it went to the
    # nurses at once, and the station says so (issue 14).
    qtbot.waitUntil(lambda: "not signed in" in w.waiting_page.waiting_note.text(),
                    timeout=5000)
    w.grab().save(str(SHOTS / "station-clinic-fallback.png"))

    def attached() -> bool:
        r = httpx.get(f"{hub.http}/api/v1/clinics",
                      headers={"Authorization": f"Bearer {admin.token}"})
        return bool(r.json()[0]["call_id"] == entry.call_id)

    qtbot.waitUntil(attached, timeout=5000)
    click(qtbot, w.waiting_page.cancel_button)
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.after_page, timeout=5000)


@pytest.mark.slow
def test_a_call_with_an_aiortc_desk_shows_video_both_ways_and_the_plan_prints(
    make_station: Station, hub: ThreadedHub, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
    tmp_path: Path,
) -> None:
    # Two cameras: the synthetic one, and a second through the same code path (a USB
    # examination camera in a care home).
    cameras = [synthetic_camera(0), synthetic_camera(1)]
    w = make_station(hubdb.site("Beech House"), cameras=cameras)
    gets = count_plan_gets(w)
    click(qtbot, w.home_page.call_button)
    type_into(qtbot, w.details_page.reason.reason, "Fall in the lounge, new confusion")
    fill_observations(qtbot, w)
    click(qtbot, w.details_page.go_button)
    qtbot.waitUntil(lambda: len(desk.queue) == 1, timeout=10_000)
    call_id = desk.queue[0].call_id
    session = desk.run(desk.engine.claim(call_id))
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.call_page, timeout=10_000)
    # The nurse's video reaches the station, the station's own camera shows in its self view,
    # and the desk receives the station's video.
    call = w.call_page
    qtbot.waitUntil(lambda: call.remote_view.frames > 10 and call.self_view.frames > 5,
                    timeout=20_000)
    def desk_has_video() -> bool:
        links = list(session.links.values())
        return bool(links) and links[0].video is not None and links[0].video.frames > 10

    wait_until(desk_has_video, 15, "the desk to receive video from the station",
               pause=qt_pause(qtbot))
    # The quality reaches the station's indicator too, with the size and codec it receives.
    qtbot.waitUntil(lambda: "H.264" in call.quality.accessibleDescription(), timeout=10_000)
    w.grab().save(str(SHOTS / "station-in-call.png"))

    # Another camera, chosen by keyboard mid-call: the desk sees it on the same link, and the
    # station remembers it for the next call.
    link = next(iter(session.links.values()))
    assert link.video is not None and call.camera_choice.isEnabled()
    call.camera_choice.setFocus()
    qtbot.keyClick(call.camera_choice, Qt.Key.Key_Down)
    assert call.camera_choice.currentData() == cameras[1]

    def from_second_camera() -> bool:
        frame = link.video.latest if link.video else None
        stamp = read_pattern(frame) if frame is not None else None
        return stamp is not None and which_camera(stamp.counter) == 1

    wait_until(from_second_camera, 10, "frames from the second camera at the desk",
               pause=qt_pause(qtbot))
    assert next(iter(session.links.values())) is link  # no new offer
    assert w.camera_memory is not None
    assert CameraChoice(w.camera_memory.path).pick(cameras) == cameras[1]  # read anew
    click(qtbot, call.mute_button)
    click(qtbot, call.camera_button)
    assert w.bridge.switches.muted and w.bridge.switches.camera_off
    assert call.mute_button.text() == "Unmute" and call.camera_button.text() == "Camera on"

    # The nurse writes the plan during the call: the hub pushes it, the station keeps it for
    # the end of the call (the call goes on), then shows and prints it.
    write_plan(hub, desk, call_id, "Paracetamol 1 g now; GP to review tomorrow morning.")
    qtbot.waitUntil(lambda: call_id in w.plans, timeout=5000)
    assert w.pages.currentWidget() is w.call_page and w.after_page.plan is None
    click(qtbot, w.call_page.end_button)
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.after_page, timeout=10_000)
    after = w.after_page
    assert after.plan is not None and "GP to review" in after.plan_view.toPlainText()
    assert gets == []  # pushed, never asked for
    assert after.print_button.isEnabled() and after.pdf_button.isEnabled()
    w.grab().save(str(SHOTS / "station-plan.png"))
    pdf = tmp_path / "plan.pdf"
    after.save_plan_pdf(pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 1000


def write_plan(hub: ThreadedHub, desk: Desk, call_id: str, decision: str) -> None:
    r = httpx.put(f"{hub.http}/api/v1/calls/{call_id}/plan",
                  headers={"Authorization": f"Bearer {desk.token}"},
                  json={"decision": decision,
                        "call_again": "If she becomes drowsy or the NEWS2 rises to 5."})
    assert r.status_code == 200, r.text


def count_plan_gets(w: StationWindow) -> list[str]:
    """Records every GET of a plan the station makes (the real one still runs)."""
    gets: list[str] = []
    real = w.hub.call_plan

    def plan(call_id: str) -> Plan | None:
        gets.append(call_id)
        return real(call_id)

    w.hub.call_plan = plan  # type: ignore[method-assign]
    return gets


@pytest.mark.slow
def test_the_plan_is_pushed_after_the_call_and_asked_for_once_after_a_reconnect(
    make_station: Station, hub: ThreadedHub, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
) -> None:
    # A slow, fixed reconnect, so the nurse's correction surely lands while the station is away.
    w = make_station(hubdb.site("Larch Court"), Backoff(initial=1.5, maximum=1.5, jitter=0))
    gets = count_plan_gets(w)
    click(qtbot, w.home_page.call_button)
    type_into(qtbot, w.details_page.reason.reason, "Catheter blocked")
    click(qtbot, w.details_page.go_button)
    qtbot.waitUntil(lambda: len(desk.queue) == 1, timeout=10_000)
    call_id = desk.queue[0].call_id
    desk.run(desk.engine.claim(call_id))
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.call_page, timeout=10_000)
    desk.run(desk.engine.hang_up(call_id))
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.after_page, timeout=10_000)
    assert w.after_page.after_title.text() == "The call has ended"
    assert w.after_page.plan is None and not w.after_page.print_button.isEnabled()
    assert "will show here" in w.after_page.plan_view.toPlainText()

    # Written after the call: pushed to the station, shown at once, never polled.
    write_plan(hub, desk, call_id, "District nurse visits by 11:00 to change the catheter.")
    qtbot.waitUntil(lambda: w.after_page.plan is not None, timeout=3000)
    assert "District nurse" in w.after_page.plan_view.toPlainText()
    assert w.after_page.print_button.isEnabled()
    holds_for(lambda: gets == [], 0.5, "the station does not ask for a plan it was sent",
              pause=qt_pause(qtbot))

    # The connection drops; the nurse corrects the plan meanwhile; the station asks once.
    ws = w.bridge.engine.signaling._ws
    assert ws is not None
    w.bridge.loop.call(lambda: asyncio.get_running_loop().create_task(ws.close()))
    qtbot.waitUntil(lambda: not w.connected, timeout=3000)
    write_plan(hub, desk, call_id, "Corrected: the district nurse visits by 10:00.")
    qtbot.waitUntil(lambda: w.connected, timeout=10_000)
    qtbot.waitUntil(lambda: "Corrected" in w.after_page.plan_view.toPlainText(), timeout=5000)
    assert gets == [call_id]
    holds_for(lambda: gets == [call_id], 0.5, "the station asks for the plan only once",
              pause=qt_pause(qtbot))


# --- small pieces -------------------------------------------------------------------------


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


def test_a_call_made_while_the_hub_is_away_goes_as_soon_as_the_station_is_back(
    make_station: Station, hubdb: HubDatabase, qtbot: QtBot, desk: Desk,
) -> None:
    """The hub went away and the station waits out a long back-off (sites come back spread
    out after a hub dies): "Call the hub" connects it at once, the request goes with the
    welcome, and meanwhile the waiting page says the hub is not reached yet, never an error
    on a page out of sight."""
    w = make_station(hubdb.site("Rowan House"), Backoff(initial=30.0, maximum=30.0, jitter=0))
    assert w.waiting_page.offline.isHidden()
    ws = w.bridge.engine.signaling._ws
    assert ws is not None
    w.bridge.loop.call(lambda: asyncio.get_running_loop().create_task(ws.close()))
    qtbot.waitUntil(lambda: not w.connected, timeout=3000)
    assert "Not connected to the hub" in w.home_page.status.text()
    assert not w.waiting_page.offline.isHidden()  # shown with the page, if it comes up now
    assert "999" in w.waiting_page.offline.text()
    click(qtbot, w.home_page.call_button)
    type_into(qtbot, w.details_page.reason.reason, "Resident fell, hip pain")
    click(qtbot, w.details_page.go_button)
    qtbot.waitUntil(lambda: len(desk.queue) == 1, timeout=10_000)  # not 30 s later
    assert desk.queue[0].reason == "Resident fell, hip pain"
    qtbot.waitUntil(lambda: w.connected and w.waiting_page.offline.isHidden(), timeout=5000)
    assert w.pages.currentWidget() is w.waiting_page
    assert w.home_page.home_error.text() == ""


def test_the_credential_lives_in_the_keyring_and_never_without_one() -> None:
    memory = MemoryKeyring()
    vault = CredentialVault(memory)
    assert vault.available and vault.load("http://hub") is None
    assert vault.save("http://hub", "ths_secret")
    assert vault.load("http://hub") == "ths_secret"
    assert memory.values == {("telehub-site", "http://hub"): "ths_secret"}
    vault.forget("http://hub")
    assert vault.load("http://hub") is None
    none = CredentialVault(keyring.backends.fail.Keyring())
    assert not none.available and not none.save("http://hub", "ths_secret")


def test_queue_words() -> None:
    assert position_words(1) == "You are next"
    assert position_words(3) == "You are number 3 in the queue"
    assert wait_words(30) == "Expected wait: less than a minute"
    assert wait_words(61) == "Expected wait: about 2 minutes"
    assert wait_words(60) == "Expected wait: about 1 minute"
