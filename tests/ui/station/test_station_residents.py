"""The station's resident form on real widgets against a real hub: what is normal for the
resident (RESTORE2) and their escalation plan (ReSPECT, DNACPR) typed in, checked, saved at
the station first and synced to the hub, where the nurse reads it on the call."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from tests.helpers.contrast import contrast
from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import HubDatabase
from tests.ui.station.test_station import click, type_into
from ui.station.resident_form import ResidentForm
from ui.station.window import StationWindow

Station = Callable[..., StationWindow]


def test_the_resident_form_keeps_what_is_normal_for_them_and_their_plan_at_the_hub(
    make_station: Station, hubdb: HubDatabase, qtbot: QtBot,
) -> None:
    site = hubdb.site("Beech House")
    w = make_station(site)
    click(qtbot, w.home_page.call_button)
    box = w.details_page.resident
    click(qtbot, box.details_button)
    qtbot.waitUntil(lambda: box.form is not None and box.form.isVisible(), timeout=5_000)
    form = box.form
    assert isinstance(form, ResidentForm)
    qtbot.waitUntil(form.name.hasFocus, timeout=5_000)

    type_into(qtbot, form.name, "Edith Brown")
    type_into(qtbot, form.nhs, "9000000000")
    click(qtbot, form.save_button)
    assert form.error.text().startswith("Check the NHS number")
    assert "9000000000" not in form.error.text() and form.isVisible()
    type_into(qtbot, form.nhs, "943 476 5919")
    type_into(qtbot, form.dob, "1936-04-02")
    for name, value in (("respiration_rate", "18"), ("spo2", "93"), ("systolic_bp", "118"),
                        ("pulse", "84"), ("temperature", "36.6")):
        type_into(qtbot, form.usual.obs[name], value)
    form.usual.oxygen.setCurrentIndex(form.usual.oxygen.findData(False))
    form.usual.acvpu.setCurrentIndex(form.usual.acvpu.findData("A"))
    assert form.usual.news2_label.text() == "NEWS2 2 – low"  # her usual score, shown
    click(qtbot, form.save_button)
    assert form.error.text() == "Check the date the usual values were taken: fill it in."
    type_into(qtbot, form.taken_on, "2026-11-20")
    type_into(qtbot, form.taken_by, "Carer J. Okafor")
    form.focus.setCurrentIndex(form.focus.findData("comfort"))
    form.cpr.setCurrentIndex(form.cpr.findData("not_attempt"))
    form.treatments.setFocus()
    qtbot.keyClicks(form.treatments, "Antibiotics by mouth at the home; no admission")
    type_into(qtbot, form.made_on, "2026-06-01")
    type_into(qtbot, form.made_by, "Dr A. Shah (GP)")
    form.dnacpr.setFocus()
    qtbot.keyClick(form.dnacpr, Qt.Key.Key_Space)
    assert form.dnacpr.isChecked()
    type_into(qtbot, form.decided_on, "2026-06-01")
    type_into(qtbot, form.dnacpr_source, "GP practice DNACPR form")

    # Every field is named and reached by Tab (the treatments box passes Tab on).
    fields = [form.name, form.nhs, form.dob, *form.usual.obs.values(), form.usual.oxygen,
              form.usual.acvpu, form.usual.scale, form.usual_news2, form.taken_on,
              form.taken_by, form.focus, form.cpr, form.treatments, form.made_on,
              form.made_by, form.reviewed_on, form.decided_on, form.dnacpr_source, form.dnacpr]
    assert all(f.accessibleName() for f in fields)
    form.name.setFocus()
    reached = set()
    for _ in range(len(fields) + 6):
        reached.add(QApplication.focusWidget())
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert set(fields) <= reached
    # Its text is readable on the kiosk's page colour (the style sheet paints the dialog).
    for label in (form.error, form.findChild(QLabel)):
        assert label is not None
        assert contrast(label.palette().windowText().color().name(), "#f5f6f8") >= 4.5
    assert form.error.text() == ""  # typing since the refusal cleared it
    SHOTS.mkdir(parents=True, exist_ok=True)
    form.page_scroll.widget().grab().save(str(SHOTS / "station-resident-form.png"))  # all of it
    form.grab().save(str(SHOTS / "station-resident-form-window.png"))
    click(qtbot, form.save_button)
    qtbot.waitUntil(lambda: not form.isVisible(), timeout=5_000)
    assert box.resident.currentText().startswith("Edith Brown")

    # Saved at the station first, then at the hub: scoped to the site, written by it.
    with httpx.Client(base_url=f"{w.hub.url}/api/v1",
                      headers={"Authorization": f"Bearer {site.token}"}) as http:
        def at_hub() -> list[dict[str, object]]:
            answer: list[dict[str, object]] = http.get("/residents").json()
            return answer

        qtbot.waitUntil(lambda: len(at_hub()) == 1, timeout=10_000)
        held = at_hub()[0]
    assert held["written_by"] == "Beech House" and held["version"] == 1
    details = held["details"]
    assert isinstance(details, dict)
    assert details["usual"]["news2_total"] == 2 and details["respect"]["cpr"] == "not_attempt"
    assert details["dnacpr"]["source"] == "GP practice DNACPR form"
    qtbot.waitUntil(lambda: not any(r.pending for r in w.residents.all()), timeout=10_000)

    # A change opens on what was saved and becomes version 2 at the hub.
    click(qtbot, box.details_button)
    qtbot.waitUntil(lambda: box.form is not None and box.form is not form
                    and box.form.isVisible(), timeout=5_000)
    again = box.form
    assert isinstance(again, ResidentForm)
    assert again.cpr.currentData() == "not_attempt" and again.usual.obs["spo2"].text() == "93"
    assert isinstance(again.made_by, QLineEdit) and again.made_by.text() == "Dr A. Shah (GP)"
    type_into(qtbot, again.reviewed_on, "2026-11-30")
    click(qtbot, again.save_button)
    with httpx.Client(base_url=f"{w.hub.url}/api/v1",
                      headers={"Authorization": f"Bearer {site.token}"}) as http:
        qtbot.waitUntil(lambda: http.get("/residents").json()[0]["version"] == 2,
                        timeout=10_000)
