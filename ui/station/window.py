"""The station's kiosk window: it switches between its pages (home, the pre-call details,
waiting, the call, the plan afterwards) as the call moves, and wires them to the engine."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from calls.cameras import Camera
from calls.session import CallState, StateChanged
from hub.client import HubClient, HubError
from hub.contract import signaling as p
from hub.contract.identity import SiteKind
from hub.contract.rest import BookingOut as Clinic
from hub.contract.rest import PlanOut as Plan
from ui import theme
from ui.announce import announce
from ui.station.bridge import StationBridge
from ui.station.details import DetailsPage
from ui.station.home import HomePage
from ui.station.incall import CallPage
from ui.station.media import CameraChoice, DeviceCheck
from ui.station.page import Page
from ui.station.photo import ConsentPanel, StationPhotos
from ui.station.plan import WILL_SHOW, PlanPage
from ui.station.residents import ResidentList
from ui.station.talk import show_status, status_words
from ui.station.waiting import WaitingPage, position_words, wait_words


@dataclass
class PendingClinic:
    clinic: Clinic
    joined: bool = False


class StationWindow(QMainWindow):
    """One site's station. Collaborators are passed in, so a test hands in its own."""

    def __init__(self, hub: HubClient, bridge: StationBridge, residents: ResidentList,
                 parent: QWidget | None = None, *, cameras: list[Camera] | None = None,
                 choice: CameraChoice | None = None) -> None:
        """``cameras`` to choose from during a call (the bridge's switches hold the one in
        use); ``choice`` remembers a new choice for the next call and start."""
        super().__init__(parent)
        assert hub.principal is not None
        self.hub, self.bridge, self.residents = hub, bridge, residents
        self.site = hub.principal
        self.setWindowTitle(f"telehub – {self.site.name}")
        theme.kiosk(self)
        self.connected = False
        self.call_id: str | None = None
        self.plans: dict[str, Plan] = {}  # by call id, as the hub pushed them (call_plan)
        self.clinic: PendingClinic | None = None
        self.clinics: list[Clinic] = []
        self.urgency = p.Urgency.URGENT  # of the call being made: an emergency is assertive
        self.place: int | None = None  # the place in the queue last announced
        self.status: p.HubStatus | None = None  # the hub's, as last told

        self.home_page = HomePage(self.site)
        self.details_page = DetailsPage(residents)
        self.waiting_page = WaitingPage()
        self.call_page = CallPage()
        self.after_page = PlanPage(self.site.name)
        self.pages = QStackedWidget()
        for page in (self.home_page, self.details_page, self.waiting_page, self.call_page,
                     self.after_page):
            self.pages.addWidget(page)
        self.setCentralWidget(self.pages)
        # A photo the nurse asks for (issue 17): its consent question, above the controls.
        self.photo_panel = ConsentPanel(self.call_page)
        call_layout = self.call_page.layout()
        assert isinstance(call_layout, QVBoxLayout)
        call_layout.insertWidget(call_layout.count() - 1, self.photo_panel)
        self.photos = StationPhotos(bridge, hub, self.photo_panel, self)
        self.clinic_timer = QTimer(self, interval=30_000)

        self.home_page.callRequested.connect(self.on_call_clicked)
        self.home_page.joinRequested.connect(self.join_clinic)
        self.details_page.backRequested.connect(self.on_back)
        self.details_page.checkRequested.connect(self.run_checks)
        self.details_page.callRequested.connect(self.start_call)
        self.waiting_page.cancelRequested.connect(bridge.hang_up)
        self.call_page.endRequested.connect(bridge.hang_up)
        self.call_page.muteToggled.connect(bridge.set_muted)
        self.call_page.cameraToggled.connect(bridge.set_camera_off)
        self.after_page.doneRequested.connect(self.on_done)
        for talk in (self.waiting_page.talk, self.call_page.talk):
            talk.replyRequested.connect(bridge.say)
        bridge.chatReceived.connect(self.on_chat)
        bridge.holdChanged.connect(self.on_hold)
        bridge.hubStatus.connect(self.on_hub_status)
        self.camera_memory = choice
        self.call_page.set_cameras(cameras or [], bridge.switches.camera)
        self.call_page.cameraChosen.connect(self.on_camera_chosen)
        bridge.qualityReported.connect(self.call_page.on_quality)
        bridge.mediaLiveness.connect(self.call_page.on_liveness)
        self.call_page.remote_view.follow(bridge.remote, bridge.remoteFrame)
        self.call_page.self_view.follow(bridge.local, bridge.selfFrame)
        bridge.connectionChanged.connect(self.on_connection)
        bridge.stateChanged.connect(self.on_state)
        bridge.queueMoved.connect(self.on_queue_moved)
        bridge.clinicFellBack.connect(self.on_clinic_fell_back)
        bridge.refused.connect(self.on_refused)
        bridge.deviceChecked.connect(self.on_device_check)
        bridge.fetched.connect(self.on_fetched)
        bridge.planPushed.connect(self.on_plan_pushed)
        self.clinic_timer.timeout.connect(self.refresh_clinics)
        # The residents are the hub's: the station's copy syncs when changed here, when the
        # hub is back, and every half minute (another station of the site may write them).
        self.residents_timer = QTimer(self, interval=30_000)
        self.residents_syncing, self.residents_again = False, False
        self.closing = False
        self.details_page.resident.changed.connect(self.sync_residents)
        self.residents_timer.timeout.connect(self.sync_residents)
        self.residents_timer.start()
        if self.site.role is SiteKind.PRISON:
            self.refresh_clinics()
            self.clinic_timer.start()

    @Slot(object)
    def on_camera_chosen(self, camera: Camera) -> None:
        self.bridge.switch_camera(camera)
        if self.camera_memory is not None:
            self.camera_memory.remember(camera)

    # --- before the call ------------------------------------------------------------------

    @Slot()
    def on_call_clicked(self) -> None:
        self.clinic = None
        self.details_page.reason.begin()
        self.show_page(self.details_page)
        self.run_checks()

    @Slot()
    def on_back(self) -> None:
        self.show_page(self.home_page)

    def show_page(self, page: Page) -> None:
        """Shows ``page`` with the keyboard focus on its landing place (when it was not
        showing already: a page that stays keeps the focus where the user put it)."""
        if self.pages.currentWidget() is page:
            return
        self.pages.setCurrentWidget(page)
        if page.landing is not None:
            page.landing.setFocus(Qt.FocusReason.OtherFocusReason)

    def say(self, text: str, urgent: bool = False) -> None:
        """Announces ``text``; assertive when ``urgent`` and the call is an emergency."""
        announce(self.pages.currentWidget() or self, text,
                 assertive=urgent and self.urgency is p.Urgency.EMERGENCY)

    @Slot()
    def run_checks(self) -> None:
        self.details_page.check.checking()
        self.bridge.check_devices()
        self.bridge.fetch("network", self.hub.round_trip_ms)

    @Slot(DeviceCheck)
    def on_device_check(self, check: DeviceCheck) -> None:
        self.details_page.check.show_devices(check)

    @Slot(dict)
    def start_call(self, request: dict[str, Any]) -> None:
        """Asks the hub for a nurse with the call_request fields in ``request``."""
        request = dict(request)
        reason = request.pop("reason")
        patient = request.get("patient")
        self.after_page.begin(reason, patient.name if patient is not None else None)
        self.call_id = None
        # Through a Qt signal an enum may arrive as its plain value.
        self.urgency = p.Urgency(request.get("urgency", p.Urgency.URGENT))
        self.place = None
        self.waiting_page.talk.clear()
        self.call_page.talk.clear()
        self.waiting_page.asking()
        self.show_page(self.waiting_page)
        self.say("Calling the hub. Asking for a nurse.", urgent=True)
        self.bridge.request_call(reason, **request)

    # --- engine events --------------------------------------------------------------------

    @Slot(bool, str)
    def on_connection(self, up: bool, why: str) -> None:
        changed = up != self.connected
        self.connected = up
        if up:  # several hubs: REST goes where the WebSocket is now
            self.hub.hubs.use(self.bridge.engine.signaling.url)
        if up and changed:
            self.sync_residents()
        self.home_page.show_connection(up)
        self.waiting_page.show_connection(up)
        if changed and self.pages.currentWidget() is self.home_page:
            self.say(self.home_page.status.text())
        elif changed and not up and self.pages.currentWidget() is self.waiting_page:
            self.say(self.waiting_page.offline.text(), urgent=True)
        # The hub pushes the plan to live connections only: after a reconnect, ask once for
        # a plan written or corrected while the station was away.
        if up and why == "reconnected" and self.call_id and self.pages.currentWidget() in (
                self.call_page, self.after_page):
            self.fetch_plan(self.call_id)

    @Slot(StateChanged)
    def on_state(self, event: StateChanged) -> None:
        if event.call_id:
            self.call_id = event.call_id
        if event.new is CallState.QUEUED:
            self.show_page(self.waiting_page)
            if event.old in (CallState.CONNECTING, CallState.IN_CALL):
                self.waiting_page.nurse_lost()
                if "handed the call back" in event.reason:  # not lost: passed on (issue 14)
                    self.waiting_page.waiting_note.setText(
                        "Your nurse has passed your call to the next free nurse. You are at "
                        "the front of the queue.")
                self.place = None
                self.say(self.waiting_page.waiting_note.text(), urgent=True)
            if self.clinic is not None and not self.clinic.joined and self.call_id:
                booking, call_id = self.clinic.clinic.id, self.call_id
                self.clinic.joined = True
                self.bridge.fetch("join", lambda: self.hub.join_clinic(booking, call_id))
        elif event.new is CallState.CONNECTING:
            self.call_page.begin()
            self.photo_panel.reset()
            self.show_page(self.call_page)
            self.say("A nurse has answered. The call is starting.", urgent=True)
        elif event.new is CallState.ENDED or event.new is CallState.FAILED:
            self.on_call_over(event)

    def on_call_over(self, event: StateChanged) -> None:
        if event.new is CallState.FAILED:
            heading = "The call could not be made"
        elif self.pages.currentWidget() is self.waiting_page:
            heading = "The call was cancelled"
        else:
            heading = "The call has ended"
        self.after_page.call_over(heading, WILL_SHOW if event.new is CallState.ENDED
                                  else f"<p>{event.reason}</p>")
        self.show_page(self.after_page)
        self.say(f"{heading}.", urgent=True)
        if event.new is CallState.ENDED and self.call_id in self.plans:
            self.after_page.show_plan(self.plans[self.call_id])  # written during the call

    @Slot(int, object)
    def on_queue_moved(self, position: int, wait_s: int | None) -> None:
        """The place in the queue, shown; said when it changes (not at each new estimate),
        assertive for an emergency like every announcement of the call."""
        self.waiting_page.show_place(position, wait_s)
        if position != self.place:
            self.place = position
            wait = wait_words(wait_s)
            self.say(f"{position_words(position)}." + (f" {wait}." if wait else ""),
                     urgent=True)

    @Slot(p.ChatMessage)
    def on_chat(self, msg: p.ChatMessage) -> None:
        """A message of this station's call, on both pages (the call keeps what was said
        while it waited). The hub sends a call's messages only to the connection that made
        it, so one that comes before this station has its call id (a nurse quicker than the
        request's durable write) is this call's too."""
        if msg.call_id != self.call_id and not (
                self.call_id is None and self.pages.currentWidget() is self.waiting_page):
            return
        mine = msg.sender == self.site.participant_id
        self.waiting_page.talk.show_message(msg, mine)
        self.call_page.talk.show_message(msg, mine)

    @Slot(p.CallHeld)
    def on_hold(self, held: p.CallHeld) -> None:
        if held.call_id == self.call_id:
            self.call_page.set_held(held)

    @Slot(p.HubStatus)
    def on_hub_status(self, status: p.HubStatus) -> None:
        """Nobody can answer (or someone can again): said at once, shown before calling
        and while waiting."""
        was = self.status
        self.status = status
        show_status(self.home_page.nobody, status)
        show_status(self.waiting_page.nobody, status)
        words = status_words(status)
        if was is not None and was.state == status.state:
            return
        if words:
            self.say(words, urgent=self.pages.currentWidget() is self.waiting_page)
        elif was is not None and self.pages.currentWidget() is self.waiting_page:
            self.say("A nurse is at the hub again and will answer as soon as they can.")

    @Slot(str)
    def on_clinic_fell_back(self, why: str) -> None:
        who = "The specialist is not signed in" if why == "not_signed_in" else (
            "The specialist could not take the clinic call")
        self.waiting_page.waiting_note.setText(f"{who}: a nurse will answer instead. Please "
                                               "stay here.")
        self.say(self.waiting_page.waiting_note.text(), urgent=True)

    @Slot(str)
    def on_refused(self, message: str) -> None:
        self.home_page.home_error.setText(f"The hub said: {message}")
        self.say(self.home_page.home_error.text(), urgent=True)

    @Slot(str, object)
    def on_fetched(self, tag: str, result: object) -> None:
        if self.closing:
            return
        if tag == "residents":
            self.residents_synced()
        elif tag == "network":
            self.details_page.check.show_network(result)
        elif tag.startswith("plan:") and isinstance(result, Plan):
            self.take_plan(tag[5:], result)
        elif tag == "clinics" and isinstance(result, list):
            self.clinics = result
            self.home_page.show_clinics(result)
        elif isinstance(result, HubError):
            self.home_page.show_problem(str(result))

    @Slot()
    def sync_residents(self) -> None:
        if self.closing:
            return
        if self.residents_syncing:
            self.residents_again = True  # once this one is back
            return
        self.residents_syncing = True
        self.bridge.fetch("residents", lambda: self.residents.sync(self.hub))

    def residents_synced(self) -> None:
        self.residents_syncing = False
        self.details_page.resident.reload_residents()
        if self.residents_again:
            self.residents_again = False
            self.sync_residents()

    # --- after the call -------------------------------------------------------------------

    @Slot(p.CallPlanReady)
    def on_plan_pushed(self, msg: p.CallPlanReady) -> None:
        self.take_plan(msg.call_id, Plan(call_id=msg.call_id, decision=msg.decision,
                                         call_again=msg.call_again,
                                         written_by_name=msg.written_by,
                                         written_at=msg.written_at))

    def take_plan(self, call_id: str, plan: Plan) -> None:
        """A plan from the push or the after-reconnect GET: kept, and shown if it is the plan
        of the call just ended (one written during the call shows when the call ends)."""
        self.plans[call_id] = plan
        if call_id == self.call_id and self.pages.currentWidget() is self.after_page:
            self.after_page.show_plan(plan)
            self.say("The plan agreed with the hub has arrived; it shows on the screen.")

    def fetch_plan(self, call_id: str) -> None:
        self.bridge.fetch(f"plan:{call_id}", lambda: self.hub.call_plan(call_id))

    @Slot()
    def on_done(self) -> None:
        self.waiting_page.reset()
        self.show_page(self.home_page)

    # --- prison clinics -------------------------------------------------------------------

    @Slot()
    def refresh_clinics(self) -> None:
        self.bridge.fetch("clinics", self.hub.clinics)

    @Slot(Clinic)
    def join_clinic(self, clinic: Clinic) -> None:
        when = clinic.starts_at.astimezone().strftime("%H:%M")
        request: dict[str, Any] = {
            "request_id": uuid.uuid4().hex, "urgency": p.Urgency.ROUTINE,
            "reason": f"Booked clinic: {clinic.title} with {clinic.specialist_name} at {when}",
            "clinic_id": clinic.id,  # the hub rings the booked specialist first
        }
        if clinic.patient is not None and clinic.patient.name:
            request["patient"] = p.Patient(name=clinic.patient.name)
        self.clinic = PendingClinic(clinic)
        self.start_call(request)

    def event(self, event: QEvent) -> bool:
        # The system's text size changed while the station runs: its type follows.
        if event.type() == QEvent.Type.ApplicationFontChange:
            theme.kiosk(self)
        return super().event(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.clinic_timer.stop()
        self.residents_timer.stop()
        self.closing = True  # a fetch still on its way (a residents sync) changes nothing
        super().closeEvent(event)
