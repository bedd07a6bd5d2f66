"""The desk's main window: sign-in, then the queue, the call with triage, and history."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from calls.engine import CallEngine, EngineEvent
from calls.session import (
    CallSession,
    CallState,
    MediaResumed,
    MediaStalled,
    ModeChanged,
    ParticipantsChanged,
    QualityReport,
    StateChanged,
)
from hub.client import HubAddresses, HubClient, HubError, HubNeedsSecondFactor
from hub.contract.history import HistoryQuery, PatientContext
from hub.contract.identity import CallRole, StaffRole
from hub.contract.signaling import QueueEntry, Urgency
from records.hub_versions import Opened
from records.schema import TriageRecord, utc_now
from records.store import Store
from ui import theme
from ui.announce import announce
from ui.desk.audio import VoiceOutput, VoicePlayer, voice_status
from ui.desk.auth import PasswordVault, SignedIn, sign_in
from ui.desk.bridge import CallBridge
from ui.desk.call import CallScreen
from ui.desk.chat import DeskTalk
from ui.desk.conflict import open_amendment
from ui.desk.context import ContextPanel
from ui.desk.followup import FollowUpDialog
from ui.desk.glance import GlanceFeed, GlanceStrip
from ui.desk.handover import HandOverDesk
from ui.desk.history import HistoryView
from ui.desk.hubreads import HubReads
from ui.desk.photos import DeskPhotos, PhotoLibrary, RecordPhotos
from ui.desk.queue import KIND_LABELS, QueueView, news2_text
from ui.desk.recordkeeper import RecordKeeper, SyncStatus
from ui.desk.ring import Ringer
from ui.desk.second_factor import SecondFactorView
from ui.desk.signin import SignInView
from ui.desk.triage import TriageContext, TriageForm
from ui.desk.work import Workers
from ui.desk.worklist import WorklistView
from ui.labels import status_label

log = logging.getLogger("telehub.desk")

EngineMaker = Callable[[SignedIn, Callable[[EngineEvent], None]], CallEngine]


@dataclass
class DeskParts:
    """What the desk is built from; tests hand in their own (a fail keyring, a test hub)."""

    vault: PasswordVault
    http: httpx.Client
    open_store: Callable[[SignedIn], Store]
    make_engine: EngineMaker
    # The sync client and the HTTP client under it (closed by the desk at shutdown).
    make_sync_client: Callable[[SignedIn], tuple[HubClient, httpx.Client]]
    sync_idle_s: float = 5.0
    # Where the other parties' voices are played (None: the default audio output).
    voice_output: Callable[[QObject], VoiceOutput | None] | None = None
    # The manager's dashboard, shown instead of the queue (None: this desk has none).
    open_manager: Callable[[SignedIn, Workers], QWidget] | None = None


class DeskWindow(QMainWindow):
    """The whole desk for one nurse or specialist."""

    def __init__(self, parts: DeskParts, hub: str = "", user: str = "") -> None:
        super().__init__()
        self.parts = parts
        self.setWindowTitle("telehub desk")
        self.setWindowIcon(theme.icon())
        self.resize(1440, 900)
        self.workers = Workers(2, "desk-io", self)
        self.session: SignedIn | None = None
        self.bridge: CallBridge | None = None
        self.manager: QWidget | None = None
        self.admin: QWidget | None = None
        self.keeper: RecordKeeper | None = None
        self.reads: HubReads | None = None  # the hub's record: History, call contexts
        self.store: Store | None = None
        self.sync_http: httpx.Client | None = None
        self.current: str | None = None  # the call id on the call screen
        self.invites: dict[str, QueueEntry] = {}

        self.signin = SignInView(parts.vault, hub, user)
        self.signin.submitted.connect(self.on_sign_in_submitted)
        self.signin.user.editingFinished.connect(self.on_user_entered)
        # The code from an authenticator app, or setting one up, when the hub asks for it.
        self.second = SecondFactorView(parts.http, self.workers)
        self.second.signedIn.connect(self.on_second_factor_passed)
        self.second.cancelled.connect(self.on_second_factor_cancelled)
        self._second_step: tuple[str, bool] | None = None  # password, remember it
        self.stack = QStackedWidget()
        self.stack.addWidget(self.signin)
        self.stack.addWidget(self.second)
        self.setCentralWidget(self.stack)
        self.ringer = Ringer(self, parent=self)
        self.voice_status = voice_status()
        self.statusBar().showMessage(f"{self.ringer.sound} · {self.voice_status}")
        if hub and user:
            self.on_user_entered()

    # --- sign in ------------------------------------------------------------------------------

    @Slot()
    def on_user_entered(self) -> None:
        hub, user = self.signin.hub.text().strip(), self.signin.user.text().strip()
        if not hub or not user or self.signin.password.text() or not self.parts.vault.available:
            return
        def recall() -> str | None:
            # Kept under the service's first address, whichever hub answered.
            return self.parts.vault.recall(HubAddresses(hub).name, user)

        def fill(password: object) -> None:
            if isinstance(password, str) and not self.signin.password.text():
                self.signin.password.setText(password)
                self.signin.keyring_note.setText("Password filled in from the system keyring.")

        self.workers.run(recall, on_done=fill, on_failed=lambda _e: None)

    @Slot(str, str, str, bool)
    def on_sign_in_submitted(self, hub: str, user: str, password: str, remember: bool) -> None:
        def run() -> tuple[SignedIn, Store, bool | None]:
            return self._settle(sign_in(self.parts.http, hub, user, password), password,
                                remember)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, HubNeedsSecondFactor):
                self.signin.set_busy(False)
                self._second_step = (password, remember)
                self.second.start(hub, user, password, enrol=exc.enrol)
                self.stack.setCurrentWidget(self.second)
                return
            self.signin.show_error(str(exc) if isinstance(exc, HubError)
                                   else f"Sign-in failed ({type(exc).__name__}).")

        self.workers.run(run, on_done=self.on_signed_in, on_failed=failed)

    def _settle(self, signed: SignedIn, password: str, remember: bool
                ) -> tuple[SignedIn, Store, bool | None]:
        """After the hub said yes (on a worker): the keyring, then the desk's own store."""
        vault = self.parts.vault
        kept: bool | None = None
        if vault.available:
            if remember:
                kept = vault.remember(signed.hub_url, signed.username, password)
            else:
                vault.forget(signed.hub_url, signed.username)
        return signed, self.parts.open_store(signed), kept

    @Slot(object)
    def on_second_factor_passed(self, signed: SignedIn) -> None:
        password, remember = self._second_step or ("", False)
        self._second_step = None

        def failed(exc: BaseException) -> None:
            self.stack.setCurrentWidget(self.signin)
            self.signin.show_error(f"Sign-in failed ({type(exc).__name__}).")

        self.workers.run(self._settle, signed, password, remember and bool(password),
                         on_done=self.on_signed_in, on_failed=failed)

    @Slot()
    def on_second_factor_cancelled(self) -> None:
        self._second_step = None
        self.stack.setCurrentWidget(self.signin)
        self.signin.password.setFocus()

    @Slot(object)
    def on_signed_in(self, result: tuple[SignedIn, Store, bool | None]) -> None:
        signed, store, kept = result
        self.signin.password.clear()
        self.session, self.store = signed, store
        self._add_account_menu(signed)
        from ui.desk.clinics import add_hub_menu  # clinics and Gold Line invitations

        self.hub_windows = add_hub_menu(self, HubClient(self.parts.http, signed.hubs,
                                                        signed.token),
                                        self.workers, StaffRole(signed.principal.role))
        if signed.principal.role is StaffRole.MANAGER:  # issue 7: the dashboard, no calls
            self._show_manager(signed)
            return
        if signed.principal.role is StaffRole.ADMIN:  # issue 16: accounts, no calls
            self._show_admin(signed)
            return
        specialist = signed.principal.role is StaffRole.SPECIALIST
        sync_client, self.sync_http = self.parts.make_sync_client(signed)
        self.keeper = RecordKeeper(store, signed.username, sync_client, self,
                                   idle_interval=self.parts.sync_idle_s)
        self.reads = HubReads(HubClient(self.parts.http, signed.hubs, signed.token),
                              store, self)
        self.bridge = CallBridge(lambda emit: self.parts.make_engine(signed, emit), self)
        self._build_desk(specialist)
        self.bridge.start()
        self.keeper.start_sync()
        note = {True: "password kept in the system keyring", False:
                "the keyring refused to keep the password", None:
                "password not remembered"}[kept]
        who = f"{signed.principal.name} ({signed.principal.role})"
        self.statusBar().showMessage(
            f"Signed in as {who} · {note} · {self.ringer.sound} · {self.voice_status}")

    def _show_manager(self, signed: SignedIn) -> None:
        if self.parts.open_manager is None:
            self.signin.show_error("This desk has no manager view.")
            return
        self.manager = self.parts.open_manager(signed, self.workers)
        self.stack.addWidget(self.manager)
        self.stack.setCurrentWidget(self.manager)
        self.setWindowTitle("telehub desk — manager")
        self.statusBar().showMessage(f"Signed in as {signed.principal.name} (manager)")

    def _show_admin(self, signed: SignedIn) -> None:
        from ui.desk.admin import AdminView

        view = AdminView(HubClient(self.parts.http, signed.hubs, signed.token),
                         self.workers, signed.principal)
        view.changed.connect(lambda line: self.statusBar().showMessage(line, 15_000))
        self.admin = view
        self.stack.addWidget(view)
        self.stack.setCurrentWidget(view)
        view.refresh()
        self.setWindowTitle("telehub desk — accounts")
        self.statusBar().showMessage(f"Signed in as {signed.principal.name} (administrator)")

    def _add_account_menu(self, signed: SignedIn) -> None:
        """Account > Change password…, for every role (your other sessions end)."""
        from ui.desk.password import change_own_password

        client = HubClient(self.parts.http, signed.hubs, signed.token)
        # Alt+U: Alt+A is Answer on the queue and Amend in History (an ambiguous mnemonic
        # does nothing).
        menu = self.menuBar().addMenu("Acco&unt")
        action = menu.addAction("Change &password…")

        def change() -> None:
            self.password_dialog = change_own_password(
                client, self.workers, self,
                lambda line: self.statusBar().showMessage(line, 15_000))

        action.triggered.connect(change)

    # --- the desk -----------------------------------------------------------------------------

    def _build_desk(self, specialist: bool) -> None:
        assert self.bridge is not None and self.keeper is not None and self.reads is not None
        bridge, keeper, reads = self.bridge, self.keeper, self.reads
        page = QWidget()
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner_text = status_label("Connection warning")
        self.banner_text.setWordWrap(True)
        row = QHBoxLayout(self.banner)
        row.addWidget(self.banner_text)
        self.banner.setVisible(False)
        self.hub_up = False
        self.hub_was_up = False  # connected once: from then on, losing the hub is announced
        self.session_ended = False
        self.sync_status: SyncStatus | None = None
        self.heard: set[str] = set()  # calls already announced

        self.queue = QueueView(specialist)
        self.triage = TriageForm(keeper)
        # The patient's context beside the triage form; a specialist keeps no record.
        self.context = None if specialist else ContextPanel()
        self.call = CallScreen(self.triage, specialist, context=self.context)
        me = self.session.principal.participant_id if self.session is not None else ""
        self.talk = DeskTalk(bridge, self.queue, self.call, me, specialist, self)
        self.voices = VoicePlayer(self.parts.voice_output, parent=self)
        if specialist:
            self.triage.setVisible(False)  # the nurse keeps the record; the specialist advises
        self.history = HistoryView()
        self._build_photos(bridge, keeper)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Desk pages")  # focusable (it hands focus to its tabs)
        self.tabs.addTab(self.queue, "&Queue" if not specialist else "&Invitations")
        self.tabs.addTab(self.call, "&Call")
        self.tabs.addTab(self.history, "&History")
        self.glance = GlanceStrip()  # the hub at a glance (issue 14): nurse desks only
        if not specialist and self.session is not None:  # the hub's follow-ups (issue 13)
            s = self.session
            self.worklist = WorklistView(HubClient(self.parts.http, s.hubs, s.token),
                                         keeper, self.workers, s.username)
            self.tabs.addTab(self.worklist, "&Worklist")
        col = QVBoxLayout(page)
        col.addWidget(self.banner)
        col.addWidget(self.glance)
        col.addWidget(self.tabs, 1)
        self.glance.setVisible(not specialist)  # once in the layout: it would pop up alone
        self.stack.addWidget(page)
        self.stack.setCurrentWidget(page)
        self.queue.table.setFocus()

        bridge.queueChanged.connect(self.on_queue_changed)
        bridge.invited.connect(self.on_invited)
        bridge.stateChanged.connect(self.on_state_changed)
        bridge.qualityReported.connect(self.on_quality)
        bridge.mediaLiveness.connect(self.on_liveness)
        bridge.modeChanged.connect(self.on_mode)
        bridge.participantsChanged.connect(self.on_participants)
        bridge.connectionChanged.connect(self.on_connection)
        bridge.connectionChanged.connect(keeper.on_hub_connection)  # back: sync at once
        bridge.refused.connect(self.on_refused)
        bridge.inviteDeclined.connect(self.on_invite_declined)
        self.call.remote.follow(bridge.remote, bridge.remoteFrame)
        self.call.selfview.follow(bridge.local, bridge.selfFrame)
        self.call.guest.follow(bridge.guest, bridge.guestFrame)
        bridge.voiceAdded.connect(self.on_voice_added)
        self.call.muteRequested.connect(self.on_mute_requested)
        self.call.cameraOffRequested.connect(self.on_camera_off_requested)
        self.call.holdRequested.connect(self.on_hold_requested)
        self.queue.answerRequested.connect(self.on_answer)
        self.queue.decline_button.clicked.connect(self.on_decline)
        self.call.endRequested.connect(self.on_end)
        self.call.modeRequested.connect(self.on_mode_requested)
        self.call.inviteRequested.connect(self.on_invite_requested)
        self.triage.signedOff.connect(self.on_triage_signed_off)
        keeper.syncChanged.connect(self.on_sync)
        keeper.signedOff.connect(lambda _r: self.history.refresh())
        keeper.draftsTaken.connect(lambda n: n and self.history.refresh())  # from the hub
        reads.contextReady.connect(self.on_context_ready)
        reads.contextFailed.connect(self.on_context_failed)
        self.history.refreshRequested.connect(self.on_history_refresh)
        self.history.amendRequested.connect(self.on_amend_requested)
        self.history.followUpRequested.connect(self.on_follow_up_requested)
        self.tabs.currentChanged.connect(self.on_tab_changed)
        bridge.glanceChanged.connect(self.glance.show_glance)
        self.hand_overs = HandOverDesk(self) if not specialist else None

    def _build_photos(self, bridge: CallBridge, keeper: RecordKeeper) -> None:
        """A photo into the record (issue 17): asked for on the call screen, shown there and
        in History beside the chosen record (ui/desk/photos.py)."""
        assert self.session is not None
        signed = self.session
        self.photo_library = PhotoLibrary(
            keeper.store, HubClient(self.parts.http, signed.hubs, signed.token),
            signed.username)
        self.desk_photos = DeskPhotos(
            bridge, self.photo_library, self.workers, self.call.photos, lambda: self.current,
            lambda: self.triage.record_uuid, attached=keeper.sync_now, parent=self)
        self.history_photos = RecordPhotos(lambda: self.photo_library, self.workers)
        self.history.beside.addWidget(self.history_photos)
        self.history.recordChosen.connect(self.history_photos.show_record)

    @property
    def busy(self) -> bool:
        return self.current is not None

    # --- queue and ringing --------------------------------------------------------------------

    @Slot(tuple)
    def on_queue_changed(self, entries: tuple[QueueEntry, ...]) -> None:
        self.queue.set_entries(entries)
        self._ring_for(list(entries))
        self._announce_arrivals(entries)
        if self.reads is not None and self.context is not None:
            for entry in entries[:10]:  # as each call rings: its context, for the answer
                self.reads.prefetch(entry.call_id)
        self.talk.queue_changed({e.call_id for e in entries}, self.current)

    def _announce_arrivals(self, entries: tuple[QueueEntry, ...] | list[QueueEntry]) -> None:
        """Says each call (or invitation) once, when it first appears: an emergency
        interrupts the screen reader, others wait their turn. The ring says it too, for
        those who hear; this is for those who cannot look."""
        for entry in entries:
            if entry.call_id in self.heard:
                continue
            self.heard.add(entry.call_id)
            emergency = entry.urgency is Urgency.EMERGENCY
            what = "Invitation" if entry.call_id in self.invites else "call"
            news2 = f", NEWS2 {news2_text(entry)}" if entry.news2 is not None else ""
            announce(self.queue, f"{entry.urgency.value.capitalize()} {what.lower()} from "
                     f"{entry.site_name}: {entry.reason}{news2}", assertive=emergency)
        self.heard &= {e.call_id for e in entries} | set(self.invites)

    def _ring_for(self, entries: list[QueueEntry]) -> None:
        if not entries or self.busy:
            self.ringer.stop()
            return
        first = entries[0]
        more = f" (+{len(entries) - 1} more)" if len(entries) > 1 else ""
        self.ringer.ring(f"{first.urgency.value.upper()}: {first.site_name} — "
                         f"{first.reason}{more}")

    @Slot(object)
    def on_invited(self, session: CallSession) -> None:
        invite = session.invite
        if invite is None or session.call_id is None:
            return
        note = f" — note: {invite.note}" if invite.note else ""
        self.invites[session.call_id] = QueueEntry(
            call_id=session.call_id, site_id=0, site_name=invite.site_name,
            site_kind=invite.site_kind, urgency=Urgency.URGENT,
            reason=f"{invite.reason} (from {invite.invited_by}){note}",
            requested_at=datetime.now(UTC), position=len(self.invites) + 1)
        self._show_invites()
        self._announce_arrivals(list(self.invites.values()))

    def _show_invites(self) -> None:
        entries = list(self.invites.values())
        self.queue.set_entries(entries)
        self._ring_for(entries)

    @Slot(str)
    def on_answer(self, call_id: str) -> None:
        if self.busy or self.bridge is None or self.session is None:
            self.statusBar().showMessage("Finish the call on screen before answering another.")
            return
        entry = self.queue.entry(call_id)
        if entry is None:
            return
        self.ringer.stop()
        self.current = call_id
        self.bridge.answer(call_id)
        kind = KIND_LABELS[entry.site_kind]
        self.call.begin(call_id, f"{entry.site_name} · {kind} · {entry.urgency.value}")
        if self.context is not None and self.reads is not None:
            self.context.clear(call_id)
            known = self.reads.context(call_id)
            if known is not None:
                self.context.show_context(known)
        self.talk.begin_call(call_id, entry.site_name)
        if self.bridge.role is CallRole.NURSE:
            obs = entry.observations.model_dump() if entry.observations else {}
            self.triage.start(TriageContext(
                site_id=entry.site_name, setting=entry.site_kind.value,
                nurse=self.session.username, call_id=call_id, site_name=entry.site_name,
                requested_at=entry.requested_at, answered_at=utc_now(),
                presenting_problem=entry.reason,
                intended_action=entry.intended_action.value if entry.intended_action
                else None, observations=obs, soft_signs=tuple(entry.soft_signs),
                nhs_number=entry.patient.nhs_number if entry.patient else None,
                patient_name=entry.patient.name if entry.patient else None,
                date_of_birth=entry.patient.date_of_birth if entry.patient else None))
        self.tabs.setCurrentWidget(self.call)
        self.call.end.setFocus()

    @Slot()
    def on_decline(self) -> None:
        call_id = self.queue.selected_call()
        if call_id is not None and self.bridge is not None:
            self.bridge.decline(call_id)

    # --- the call -----------------------------------------------------------------------------

    @Slot(object)
    def on_state_changed(self, event: StateChanged) -> None:
        if event.new in (CallState.ENDED, CallState.FAILED) and event.call_id in self.invites:
            self.invites.pop(event.call_id)
            if event.call_id != self.current:
                self._show_invites()
        if event.call_id != self.current:
            return
        if event.new is CallState.IN_CALL:
            self.call.connected()
            announce(self.call, f"Connected: {self.call.title.text()}")
        elif event.new is CallState.FAILED:
            self.voices.stop()
            self.call.finish(event.reason)
            self.current = None
            self.call.notice.setText(f"Could not take this call: {event.reason}")
            announce(self.queue, f"Could not take the call: {event.reason}", assertive=True)
            if not self.triage.closed and self.triage.untouched:
                self.triage.closed = True
            self.tabs.setCurrentWidget(self.queue)
            self.statusBar().showMessage(f"Could not take the call: {event.reason}")
        elif event.new is CallState.ENDED:
            self.voices.stop()
            self.call.finish(event.reason)
            self.current = None
            self.talk.end_call(event.call_id)
            announce(self.call, f"Call ended ({event.reason}).")
            if self.bridge is not None and self.bridge.role is CallRole.NURSE:
                self.triage.call_ended(utc_now())
            self.triage.flush()
            if self.bridge is not None and self.bridge.role is CallRole.SPECIALIST:
                self._show_invites()
            else:
                self._ring_for(self.queue.model.entries)
            if self.triage.isVisible():
                self.triage.outcome.setFocus()

    @Slot(object)
    def on_quality(self, report: QualityReport) -> None:
        if report.call_id == self.current:
            self.call.on_quality(report)

    @Slot(object)
    def on_liveness(self, event: MediaStalled | MediaResumed) -> None:
        if event.call_id == self.current:
            self.call.on_liveness(event)

    @Slot(object)
    def on_mode(self, event: ModeChanged) -> None:
        if event.call_id == self.current:
            self.call.on_mode(event)

    @Slot(object)
    def on_participants(self, event: ParticipantsChanged) -> None:
        if event.call_id != self.current:
            return
        names = [f"{p.name} ({p.role})" for p in event.participants]
        self.call.people.setText("In the call: " + ", ".join(names))
        has_guest = any(p.role is not CallRole.CALLER and p.name != (self.session.principal.name
                                                          if self.session else "")
                        for p in event.participants)
        self.call.guest.setVisible(has_guest)
        if (has_guest and self.session is not None
                and self.session.principal.role is StaffRole.NURSE):
            specialist = next((p.name for p in event.participants
                               if p.role is CallRole.SPECIALIST), None)
            if specialist and self.triage.context is not None:
                self.triage.context.specialist = specialist

    @Slot()
    def on_end(self) -> None:
        if self.current is not None and self.bridge is not None:
            self.bridge.hang_up(self.current)

    @Slot(str)
    def on_mode_requested(self, mode: str) -> None:
        if self.current is not None and self.bridge is not None:
            self.bridge.set_mode(self.current, mode)

    @Slot(bool)
    def on_mute_requested(self, muted: bool) -> None:
        if self.current is not None and self.bridge is not None:
            self.bridge.set_muted(self.current, muted)

    @Slot(bool)
    def on_camera_off_requested(self, off: bool) -> None:
        if self.current is not None and self.bridge is not None:
            self.bridge.set_camera_off(self.current, off)

    @Slot(bool)
    def on_hold_requested(self, on: bool) -> None:
        if self.current is not None and self.bridge is not None:
            self.bridge.set_hold(self.current, on)

    @Slot(str)
    def on_voice_added(self, participant_id: str) -> None:
        queue = self.bridge.voices.get(participant_id) if self.bridge is not None else None
        if queue is not None and self.current is not None:
            self.voices.play(participant_id, queue)

    @Slot(str)
    def on_invite_requested(self, note: str) -> None:
        if self.current is not None and self.bridge is not None:
            self.bridge.invite_specialist(self.current, note)
            self.call.notice.setText("Specialists are being rung…")
            announce(self.call.notice, "Specialists are being rung…")

    @Slot(str)
    def on_invite_declined(self, by: str) -> None:
        self.call.notice.setText(f"{by} declined the invitation.")
        announce(self.call.notice, f"{by} declined the invitation.")

    @Slot(str)
    def on_refused(self, message: str) -> None:
        self.statusBar().showMessage(message, 15_000)
        if self.busy:
            self.call.notice.setText(message)

    @Slot(object)
    def on_triage_signed_off(self, record: TriageRecord) -> None:
        self.statusBar().showMessage(
            f"Record signed off (version {record.version}); it syncs to the hub by itself.",
            15_000)
        if not self.busy:
            self.tabs.setCurrentWidget(self.queue)
            self.queue.table.setFocus()

    # --- hub reachability and sync ------------------------------------------------------------

    @Slot(bool, str)
    def on_connection(self, up: bool, reason: str) -> None:
        changed = up != self.hub_up
        self.hub_up = up
        if up and self.session is not None and self.bridge is not None:
            # Several hubs: the desk's REST goes where its WebSocket is now.
            self.session.hubs.use(self.bridge.engine.signaling.url)
        # The hub refused this desk's token: signed out elsewhere, the password changed or
        # reset, the account disabled (issue 16). Reconnecting will not help.
        self.session_ended = not up and reason.startswith("the hub refused the sign-in")
        self._update_banner()
        if changed and up and self.hub_was_up:
            announce(self.banner, "Connected to the hub again: calls reach this desk.")
        elif changed and not up and self.hub_was_up:
            announce(self.banner, "Not connected to the hub: new calls cannot reach this "
                     "desk. Reconnecting.", assertive=True)
        self.hub_was_up = self.hub_was_up or up

    @Slot(str, object)
    def on_context_ready(self, call_id: str, context: PatientContext) -> None:
        if self.context is not None and call_id == self.current:
            self.context.show_context(context)

    @Slot(str, str)
    def on_context_failed(self, call_id: str, why: str) -> None:
        if self.context is not None:
            self.context.failed(call_id, why)

    @Slot(object)
    def on_sync(self, status: SyncStatus) -> None:
        changed = status != self.sync_status
        self.sync_status = status
        self._update_banner()
        if changed and self.tabs.currentWidget() is self.history:
            self.history.refresh()

    def _update_banner(self) -> None:
        status = self.sync_status
        problems = []
        if self.session_ended:
            problems.append("Your session at the hub has ended (signed out elsewhere, your "
                            "password changed or your account disabled): new calls cannot "
                            "reach this desk. Close the desk and sign in again.")
        elif not self.hub_up:
            problems.append("Not connected to the hub: new calls cannot reach this desk. "
                            "Reconnecting…")
        if status is not None and not status.reachable:
            problems.append(f"The hub's record store cannot be reached: {status.pending} "
                            f"record{'s' if status.pending != 1 else ''} waiting to sync "
                            "(kept safely on this computer).")
        if status is not None and (status.conflict or status.failed):
            problems.append(f"{status.conflict + status.failed} record(s) need attention in "
                            "History (conflict or refused).")
        self.banner_text.setText("\n".join(problems))
        self.banner.setVisible(bool(problems))

    # --- history ------------------------------------------------------------------------------

    @Slot(int)
    def on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.history:
            self.history.refresh()

    @Slot(object)
    def on_history_refresh(self, query: HistoryQuery) -> None:
        if self.reads is not None:
            self.reads.history(query, self.history.set_result)

    @Slot(UUID)
    def on_amend_requested(self, record_uuid: UUID) -> None:
        if self.keeper is not None:  # from the hub's current version (ui/desk/conflict.py)
            self.keeper.open_record(record_uuid, self._open_amendment)

    def _open_amendment(self, opened: Opened) -> None:
        assert self.keeper is not None
        self.amend_dialog = open_amendment(self.keeper, opened, self)

    @Slot(UUID)
    def on_follow_up_requested(self, record_uuid: UUID) -> None:
        if self.keeper is None or self.session is None:
            return
        # the keeper fetches the hub's current version first (another desk's record, say)
        FollowUpDialog(self.keeper, record_uuid, self.session.username, self).open()

    # --- shutdown -----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Hang up, stop the engine loop, flush drafts and sync, close the store. Idempotent."""
        self.ringer.stop()
        for feed in self.findChildren(GlanceFeed):  # the manager view's glance
            feed.close()
        triage: TriageForm | None = getattr(self, "triage", None)
        if self.keeper is not None and triage is not None:
            triage.flush()
        if self.bridge is not None:
            self.bridge.close()
            self.bridge = None
        if self.keeper is not None:
            self.keeper.close()
            self.keeper = None
        if self.reads is not None:
            self.reads.close()
            self.reads = None
        if self.sync_http is not None:
            self.sync_http.close()
            self.sync_http = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.workers.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
