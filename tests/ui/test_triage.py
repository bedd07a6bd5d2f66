"""The triage form on a real local store: live NEWS2, NHS-number checks, drafts committed
before "Saved" shows, sign-off rules, amendments with a reason, and the offline banner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt

from hub.client import HubClient
from records.store import Store, SyncState
from tests.helpers.hubserver import free_port
from ui.desk.recordkeeper import RecordKeeper, SyncStatus, search_history
from ui.desk.triage import TriageContext, TriageForm


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'desk.db'}")
    yield s
    s.close()


@pytest.fixture
def keeper(store: Store) -> Iterator[RecordKeeper]:
    k = RecordKeeper(store, "nina", None)
    yield k
    k.close()


@pytest.fixture
def form(qtbot: Any, keeper: RecordKeeper) -> TriageForm:
    f = TriageForm(keeper, debounce_ms=50)
    qtbot.addWidget(f)
    f.resize(700, 1000)
    f.show()
    f.start(TriageContext(site_id="Beech House", setting="care_home", nurse="nina",
                          call_id="c-1", presenting_problem="Breathless"))
    return f


def type_obs(qtbot: Any, form: TriageForm, **values: str) -> None:
    for name, text in values.items():
        form.obs[name].clear()
        qtbot.keyClicks(form.obs[name], text)


@pytest.mark.parametrize(("rr", "spo2", "o2", "sbp", "pulse", "acvpu", "temp", "scale",
                          "total", "band"), [
    ("16", "97", "air", "120", "70", "A", "37.0", "1", 0, "low"),
    ("21", "93", "air", "120", "95", "A", "37.5", "1", 5, "medium"),
    ("25", "97", "air", "120", "70", "A", "37.0", "1", 3, "low-medium"),
    ("8", "91", "oxygen", "90", "131", "U", "35.0", "1", 20, "high"),
    ("18", "93", "oxygen", "130", "80", "A", "37.0", "2", 3, "low"),
])
def test_news2_follows_the_public_vectors_as_typed(
        qtbot: Any, form: TriageForm, rr: str, spo2: str, o2: str, sbp: str, pulse: str,
        acvpu: str, temp: str, scale: str, total: int, band: str) -> None:
    form.scale.setCurrentIndex(form.scale.findData(scale))
    form.oxygen.setCurrentIndex(form.oxygen.findData(o2))
    form.acvpu.setCurrentIndex(form.acvpu.findData(acvpu))
    type_obs(qtbot, form, respiration_rate=rr, spo2=spo2, systolic_bp=sbp, pulse=pulse,
             temperature=temp)
    assert form.score is not None and form.score.complete
    assert form.total.text() == f"NEWS2 {total}"
    assert form.band.text().startswith(f"Band {band} — ")


def test_partial_scores_are_shown_as_partial_and_updated_per_keystroke(
        qtbot: Any, form: TriageForm) -> None:
    assert form.total.text() == "NEWS2: no observations yet"
    qtbot.keyClicks(form.obs["respiration_rate"], "2")
    assert form.subscores["respiration_rate"].text() == "3"  # 2/min as typed so far
    qtbot.keyClicks(form.obs["respiration_rate"], "6")
    assert form.subscores["respiration_rate"].text() == "3"  # 26/min
    assert form.total.text() == "NEWS2 partial: 3 so far"
    assert "at least low-medium" in form.band.text()
    assert "Missing: SpO₂, Air/O₂, BP, Pulse, ACVPU, Temp." in form.band.text()
    assert form.subscores["pulse"].text() == "?"
    type_obs(qtbot, form, pulse="900")
    assert form.obs["pulse"].property("state") == "bad"
    assert "outside the plausible range" in form.obs_error.text()
    assert form.subscores["pulse"].text() == "?"  # refused, never scored


@pytest.mark.parametrize(("typed", "status", "state"), [
    ("943", "3 of 10 digits", ""),
    ("943 476 5919", "✓ valid 943 476 5919", "good"),
    ("9434765919", "✓ valid 943 476 5919", "good"),
    ("9000000000", "✗ not a valid NHS number", "bad"),
    ("1234567890", "✗ not a valid NHS number", "bad"),
    ("94x", "✗ not a valid NHS number", "bad"),
])
def test_the_nhs_number_is_checked_as_typed(qtbot: Any, form: TriageForm, typed: str,
                                            status: str, state: str) -> None:
    qtbot.keyClicks(form.nhs, typed)
    assert form.nhs_status.text() == status
    assert (form.nhs.property("state") or "") == state


def test_a_draft_is_committed_before_saved_shows(qtbot: Any, form: TriageForm,
                                                 store: Store) -> None:
    qtbot.keyClicks(form.nhs, "9000000009")
    qtbot.keyClicks(form.name, "Alice Test")
    qtbot.keyClicks(form.sbard["situation"], "Short of breath since lunch")
    type_obs(qtbot, form, spo2="93")
    qtbot.waitUntil(lambda: form.save_status.text().startswith("Saved"), timeout=5_000)
    with store.unit_of_work() as uow:
        saved = uow.records.get(form.record_uuid, "test")
    assert saved.status == "draft"
    assert saved.sbard.situation == "Short of breath since lunch"
    assert saved.patient is not None and saved.patient.nhs_number == "9000000009"
    assert saved.news2 is not None and not saved.news2.complete
    qtbot.keyClicks(form.sbard["background"], "COPD")
    assert form.save_status.text() == "Editing…"  # the newer edit is not yet saved


def test_sign_off_needs_intended_action_and_outcome_then_locks(
        qtbot: Any, form: TriageForm, store: Store) -> None:
    form.on_sign_off()
    assert "the caller's intended action" in form.sign_error.text()
    assert "the outcome" in form.sign_error.text()
    form.intended.setCurrentIndex(form.intended.findData("ae"))
    form.outcome.setCurrentIndex(form.outcome.findData("gp_referral"))
    assert "A&E attendance avoided" in form.suggestion.text()
    signed: list[Any] = []
    form.signedOff.connect(signed.append)
    qtbot.keyClick(form.outcome, Qt.Key.Key_S,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: signed != [], timeout=5_000)
    assert signed[0].status == "signed_off" and signed[0].outcome == "gp_referral"
    assert not form.outcome.isEnabled() and form.closed
    with store.unit_of_work() as uow:
        assert uow.outbox.state(form.record_uuid) is SyncState.PENDING


def test_an_amendment_needs_a_reason_and_becomes_version_two(
        qtbot: Any, form: TriageForm, keeper: RecordKeeper, store: Store) -> None:
    form.intended.setCurrentIndex(form.intended.findData("gp"))
    form.outcome.setCurrentIndex(form.outcome.findData("discharged_home"))
    signed: list[Any] = []
    form.signedOff.connect(signed.append)
    form.on_sign_off()
    qtbot.waitUntil(lambda: signed != [], timeout=5_000)
    amend = TriageForm(keeper)
    qtbot.addWidget(amend)
    amend.load(signed[0])
    assert amend.reason.isVisibleTo(amend)
    amend.outcome.setCurrentIndex(amend.outcome.findData("gp_referral"))
    amend.on_sign_off()
    assert "reason for the amendment" in amend.sign_error.text()
    qtbot.keyClicks(amend.reason, "GP confirmed a visit tomorrow")
    amended: list[Any] = []
    amend.signedOff.connect(amended.append)
    amend.on_sign_off()
    qtbot.waitUntil(lambda: amended != [], timeout=5_000)
    assert amended[0].version == 2 and amended[0].outcome == "gp_referral"
    with store.unit_of_work() as uow:
        versions = uow.records.history(form.record_uuid, "test")
    assert [v.outcome for v in versions] == ["discharged_home", "gp_referral"]
    assert versions[1].amendment_reason == "GP confirmed a visit tomorrow"
    rows = search_history(store, text="Beech")
    assert [(r.version, r.sync) for r in rows] == [(2, SyncState.PENDING)]
    assert search_history(store, text="nothing like it") == []
    assert search_history(store, sync="synced") == []


def test_an_unreachable_store_is_reported_with_the_count_waiting(
        qtbot: Any, store: Store, form: TriageForm) -> None:
    dead = HubClient(httpx.Client(timeout=1), f"http://127.0.0.1:{free_port()}", "token")
    offline = RecordKeeper(store, "nina", dead, idle_interval=0.2)
    statuses: list[SyncStatus] = []
    offline.syncChanged.connect(statuses.append)
    try:
        form.intended.setCurrentIndex(form.intended.findData("gp"))
        form.outcome.setCurrentIndex(form.outcome.findData("discharged_home"))
        form.on_sign_off()
        qtbot.waitUntil(lambda: form.closed, timeout=5_000)
        offline.start_sync()
        qtbot.waitUntil(lambda: any(not s.reachable for s in statuses), timeout=10_000)
        assert next(s for s in statuses if not s.reachable).pending == 1
    finally:
        offline.close()
