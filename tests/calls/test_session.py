"""CallSession's state machine without a network: transitions, refusals, the automatic mode."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calls.media import MediaSource
from calls.peer import LinkQuality
from calls.session import (
    TRANSITIONS,
    CallSession,
    CallState,
    InvalidStateError,
    ModeChanged,
    SessionContext,
    SessionEvent,
    SessionOptions,
    StateChanged,
)
from hub.contract import signaling as p
from hub.contract.identity import CallRole, SiteKind


class Harness:
    def __init__(self, options: SessionOptions | None = None) -> None:
        self.sent: list[p._Message] = []
        self.events: list[SessionEvent] = []
        self.held: set[str] = set()

        async def send(msg: p._Message) -> None:
            self.sent.append(msg)

        self.ctx = SessionContext(
            send=send, my_pid=lambda: "site:1", emit=self.events.append,
            make_media=MediaSource.synthetic, hold=self.held.add, release=self.held.discard,
            options=options or SessionOptions(),
        )

    def states(self) -> list[CallState]:
        return [e.new for e in self.events if isinstance(e, StateChanged)]


async def test_caller_requests_queues_and_refuses_what_does_not_fit() -> None:
    h = Harness()
    s = CallSession(h.ctx, CallRole.CALLER)
    await s.request(p.CallRequest(request_id="r1", reason="fall"))
    assert s.state is CallState.REQUESTING and isinstance(h.sent[-1], p.CallRequest)
    await s.handle(p.CallQueued(call_id="c1", request_id="r1", position=2, estimated_wait_s=60))
    assert s.state is CallState.QUEUED and s.call_id == "c1" and "c1" in h.held
    with pytest.raises(InvalidStateError, match="offer is not expected"):
        await s.handle(p.Offer(call_id="c1", to="site:1", sdp="v=0", sender="staff:2"))
    assert s.state is CallState.QUEUED  # the refusal changed nothing
    with pytest.raises(InvalidStateError, match="cannot request a call while the call is queued"):
        await s.request(p.CallRequest(request_id="r2", reason="again"))
    await s.handle(p.CallEnded(call_id="c1", reason=p.EndReason.ABANDONED))
    assert h.states() == [CallState.REQUESTING, CallState.QUEUED, CallState.ENDED]
    assert "c1" not in h.held and s.ended.is_set()
    with pytest.raises(InvalidStateError):
        await s.handle(p.CallEnded(call_id="c1", reason=p.EndReason.COMPLETED))


async def test_refused_request_fails_the_call() -> None:
    h = Harness()
    s = CallSession(h.ctx, CallRole.CALLER)
    await s.request(p.CallRequest(request_id="r1", reason="fall"))
    await s.handle(p.Error(code=p.ErrorCode.INVALID, message="observations refused",
                           ref="call_request"))
    assert s.state is CallState.FAILED and s.reason == "observations refused"


async def test_nurse_rings_claims_and_a_lost_race_fails_clearly() -> None:
    h = Harness()
    entry = p.QueueEntry(call_id="c1", site_id=1, site_name="Beech", site_kind=SiteKind.PRISON,
                         urgency=p.Urgency.URGENT, reason="chest pain",
                         requested_at=datetime.now(UTC), position=1)
    s = CallSession(h.ctx, CallRole.NURSE, call_id="c1", entry=entry)
    s.ring()
    await s.claim()
    assert s.state is CallState.CONNECTING and h.sent == [p.CallClaim(call_id="c1")]
    await s.handle(p.Error(code=p.ErrorCode.ALREADY_CLAIMED, ref="call_claim", call_id="c1",
                           message="this call was already answered by Nora"))
    assert s.state is CallState.FAILED and "Nora" in s.reason


async def test_specialist_invitation_withdrawn_ends_the_ringing() -> None:
    h = Harness()
    s = CallSession(h.ctx, CallRole.SPECIALIST, call_id="c1")
    s.ring()
    with pytest.raises(InvalidStateError, match="only a nurse"):
        await s.claim()
    await s.handle(p.InviteWithdrawn(call_id="c1", reason="accepted_elsewhere"))
    assert s.state is CallState.ENDED and "accepted_elsewhere" in s.reason


def test_every_role_can_always_end_and_final_states_are_final() -> None:
    for role, graph in TRANSITIONS.items():
        for state, nexts in graph.items():
            if state is not CallState.IDLE:
                assert CallState.ENDED in nexts, (role, state)
        assert CallState.ENDED not in graph and CallState.FAILED not in graph


def _sample(loss: float) -> LinkQuality:
    return LinkQuality("staff:2", 1, 20.0, loss, loss, 500.0, 500.0, 30.0, 50)


async def test_sustained_loss_steps_down_then_recovers_and_a_hand_choice_sticks() -> None:
    h = Harness(SessionOptions(down_after=3, up_after=4))
    s = CallSession(h.ctx, CallRole.NURSE, call_id="c1")
    assert s.mode == "hd"  # HD first, as long as the line allows
    for _ in range(2):
        s._auto([_sample(0.12)])
    assert s.mode == "hd"  # two bad seconds are not yet sustained
    s._auto([_sample(0.12)])
    assert s.mode == "full"
    for _ in range(6):
        s._auto([_sample(0.12)])
    assert s.mode == "audio_only"
    for _ in range(4):
        s._auto([_sample(0.0)])
    assert s.mode == "low"
    modes = [(e.mode, e.automatic) for e in h.events if isinstance(e, ModeChanged)]
    assert modes == [("full", True), ("low", True), ("audio_only", True), ("low", True)]
    s.set_mode("full")
    for _ in range(10):
        s._auto([_sample(0.3)])
    assert s.mode == "full" and not s.auto_mode
    with pytest.raises(ValueError):
        s.set_mode("4k")


def _measured(estimate: float, sent: float, codec: str = "H264") -> LinkQuality:
    return LinkQuality("staff:2", 1, 20.0, 0.0, 0.0, 500.0, sent, 30.0, 50, codec=codec,
                       estimate_kbps=estimate)


async def test_the_bandwidth_estimate_steps_down_only_when_the_sender_is_at_its_limit() -> None:
    h = Harness(SessionOptions(down_after=2, up_after=3))
    s = CallSession(h.ctx, CallRole.NURSE, call_id="c1")
    for _ in range(5):  # a still picture sends little: a low estimate says nothing
        s._auto([_measured(500, 150)])
    assert s.mode == "hd"
    for _ in range(2):  # all of a 500 kbps estimate used: HD does not fit
        s._auto([_measured(500, 495)])
    assert s.mode == "full"
    for _ in range(6):  # no loss, but the estimate leaves no room for HD
        s._auto([_measured(500, 495)])
    assert s.mode == "full"
    for _ in range(3):  # the estimate grew past HD's floor
        s._auto([_measured(1500, 1400)])
    assert s.mode == "hd"
    s._auto([_measured(1500, 200, codec="VP8")])  # VP8 cannot afford HD: 480p at most
    assert s.mode == "full"
    for _ in range(5):
        s._auto([_measured(1500, 200, codec="VP8")])
    assert s.mode == "full"
    reasons = [e.reason for e in h.events if isinstance(e, ModeChanged)]
    assert "bandwidth estimate 500 kbps" in reasons
    assert "the codec in use cannot afford HD" in reasons
