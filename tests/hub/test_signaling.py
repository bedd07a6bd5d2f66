"""SDP relay between the participants of a call, ICE/TURN servers, and escalation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from hub.contract import signaling as p
from hub.turn import turn_credentials
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def connected_call(
    hub: ThreadedHub, hubdb: HubDatabase
) -> tuple[HubClient, HubClient, str, str, str]:
    """A site and a nurse in a connected call: (site, desk, call id, site pid, desk pid)."""
    site_acc, nurse_acc = hubdb.site("Larch Court"), hubdb.staff("nurse", "nurse")
    desk = await HubClient.connect(hub.ws, nurse_acc.token)
    site = await HubClient.connect(hub.ws, site_acc.token)
    await site.send(p.CallRequest(request_id="r1", reason="chest pain"))
    call_id = (await site.expect(p.CallQueued)).call_id
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected)
    await site.expect(p.CallConnected)
    return (site, desk, call_id, site_acc.principal.participant_id,
            nurse_acc.principal.participant_id)


async def test_offer_and_answer_pass_only_between_the_caller_and_the_claiming_desk(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    site, desk, call_id, site_pid, desk_pid = await connected_call(hub, hubdb)
    other_desk = await HubClient.connect(hub.ws, hubdb.staff("nosy", "nurse").token)
    await other_desk.expect(p.QueueSnapshot)

    await desk.send(p.Offer(call_id=call_id, to=site_pid, sdp=SDP + "a=desk\r\n"))
    offer = await site.expect(p.Offer)
    assert offer.sender == desk_pid and offer.sdp.endswith("a=desk\r\n")
    await site.send(p.Answer(call_id=call_id, to=desk_pid, sdp=SDP + "a=site\r\n"))
    answer = await desk.expect(p.Answer)
    assert answer.sender == site_pid
    # the answering end asks for a fresh offer when it sees the link die first
    await site.send(p.Renegotiate(call_id=call_id, to=desk_pid))
    assert (await desk.expect(p.Renegotiate)).sender == site_pid
    # the hub fills in "from" itself: a forged sender is overwritten
    await site.ws.send(p.Answer(call_id=call_id, to=desk_pid, sdp=SDP,
                                sender="staff:999").to_json())
    assert (await desk.expect(p.Answer)).sender == site_pid

    # another nurse can neither send into the call nor be sent to
    await other_desk.send(p.Offer(call_id=call_id, to=site_pid, sdp=SDP))
    err = await other_desk.expect(p.Error)
    assert err.code == p.ErrorCode.NOT_PARTICIPANT and err.call_id == call_id
    await desk.send(p.Offer(call_id=call_id, to=other_desk.welcome.principal.participant_id,  # type: ignore[union-attr]
                            sdp=SDP))
    assert (await desk.expect(p.Error)).code == p.ErrorCode.NOT_PARTICIPANT
    await site.nothing_of(p.Offer)
    await other_desk.nothing_of(p.Offer)


async def test_both_ends_get_ice_servers_with_short_lived_turn_credentials(
    start_hub: object, hubdb: HubDatabase
) -> None:
    secret = "shared-with-coturn"
    hub = start_hub(stun_urls=["stun:127.0.0.1:3478"],  # type: ignore[operator]
                    turn_urls=["turn:127.0.0.1:3478?transport=udp"], turn_secret=secret,
                    turn_ttl_s=600)
    _site, desk, call_id, _site_pid, desk_pid = await connected_call(hub, hubdb)
    await desk.send(p.CallResume(call_id=call_id))
    connected = await desk.expect(p.CallConnected)
    assert connected.you == desk_pid
    stun, turn = connected.ice_servers
    assert stun.urls == ["stun:127.0.0.1:3478"] and stun.username is None
    assert turn.urls == ["turn:127.0.0.1:3478?transport=udp"]
    assert turn.username is not None and turn.credential is not None
    expiry, user = turn.username.split(":", 1)
    assert user == desk_pid
    assert 590 <= int(expiry) - time.time() <= 610
    # exactly what coturn's use-auth-secret computes
    expected = base64.b64encode(
        hmac.new(secret.encode(), turn.username.encode(), hashlib.sha1).digest()).decode()
    assert turn.credential == expected
    # and the REST route gives a site the same kind of credential
    site_token = hubdb.site("Other").token
    servers = httpx.get(f"{hub.http}/api/v1/ice-servers",  # type: ignore[attr-defined]
                        headers={"Authorization": f"Bearer {site_token}"}).json()
    assert servers[1]["username"].endswith(":site:2")


def test_turn_credentials_match_the_coturn_rest_scheme() -> None:
    user, cred = turn_credentials("s3cret", "site:7", ttl_s=60, now=1_000_000)
    assert user == "1000060:site:7"
    assert cred == base64.b64encode(
        hmac.new(b"s3cret", b"1000060:site:7", hashlib.sha1).digest()).decode()


async def test_without_turn_secret_no_credentials_are_issued(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    _site, desk, call_id, *_ = await connected_call(hub, hubdb)
    await desk.send(p.CallResume(call_id=call_id))
    assert (await desk.expect(p.CallConnected)).ice_servers == []


async def test_escalation_rings_every_specialist_and_the_first_to_accept_joins(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    site, desk, call_id, site_pid, desk_pid = await connected_call(hub, hubdb)
    dr_a_acc, dr_b_acc = hubdb.staff("dr-a", "specialist"), hubdb.staff("dr-b", "specialist")
    dr_a = await HubClient.connect(hub.ws, dr_a_acc.token)
    dr_b = await HubClient.connect(hub.ws, dr_b_acc.token)
    # the site cannot escalate; only the nurse in the call can
    await site.send(p.InviteSpecialist(call_id=call_id))
    assert (await site.expect(p.Error)).code == p.ErrorCode.NOT_PARTICIPANT
    await desk.send(p.InviteSpecialist(call_id=call_id, note="?ACS, please review ECG"))
    for dr in (dr_a, dr_b):
        invite = await dr.expect(p.SpecialistInvite)
        assert invite.call_id == call_id and invite.note == "?ACS, please review ECG"
        assert invite.site_name == "Larch Court" and invite.invited_by == "Nurse"
    await dr_b.send(p.InviteDecline(call_id=call_id))
    assert (await desk.expect(p.InviteDeclined)).by == "Dr-B"
    await dr_a.send(p.InviteAccept(call_id=call_id))
    joined = await dr_a.expect(p.CallConnected)
    assert {x.role for x in joined.participants} == {"caller", "nurse", "specialist"}
    assert (await dr_b.expect(p.InviteWithdrawn)).reason == "accepted_elsewhere"
    await dr_b.send(p.InviteAccept(call_id=call_id))
    assert (await dr_b.expect(p.Error)).code == p.ErrorCode.ALREADY_CLAIMED
    for other in (site, desk):
        pj = await other.expect(p.ParticipantJoined)
        assert pj.participant.participant_id == dr_a_acc.principal.participant_id
    # the specialist's legs: offers to the caller and to the nurse are relayed
    dr_pid = dr_a_acc.principal.participant_id
    await dr_a.send(p.Offer(call_id=call_id, to=site_pid, sdp=SDP))
    assert (await site.expect(p.Offer)).sender == dr_pid
    await dr_a.send(p.Offer(call_id=call_id, to=desk_pid, sdp=SDP))
    assert (await desk.expect(p.Offer)).sender == dr_pid
    await site.send(p.Answer(call_id=call_id, to=dr_pid, sdp=SDP))
    assert (await dr_a.expect(p.Answer)).sender == site_pid
    # the declining specialist is not in the call
    await dr_b.send(p.Offer(call_id=call_id, to=site_pid, sdp=SDP))
    assert (await dr_b.expect(p.Error)).code == p.ErrorCode.NOT_PARTICIPANT
    # the specialist leaves; the call goes on; then the nurse ends it for everyone
    await dr_a.send(p.CallEnd(call_id=call_id))
    assert (await site.expect(p.ParticipantLeft)).participant_id == dr_pid
    await desk.send(p.CallEnd(call_id=call_id))
    ended = await site.expect(p.CallEnded)
    assert ended.reason == p.EndReason.COMPLETED and ended.by == desk_pid
    manager = hubdb.staff("mgr", "manager")
    row = httpx.get(f"{hub.http}/api/v1/calls/{call_id}",
                    headers={"Authorization": f"Bearer {manager.token}"}).json()
    assert [x["role"] for x in row["participants"]] == ["caller", "nurse", "specialist"]
    assert all(x["left_at"] for x in row["participants"])
    assert row["end_reason"] == "completed" and row["ended_by"] == desk_pid


async def test_inviting_with_no_specialist_signed_in_says_so(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    _site, desk, call_id, *_ = await connected_call(hub, hubdb)
    await desk.send(p.InviteSpecialist(call_id=call_id))
    err = await desk.expect(p.Error)
    assert err.code == p.ErrorCode.NO_SPECIALIST


async def test_a_cancelled_invitation_stops_ringing(hub: ThreadedHub, hubdb: HubDatabase) -> None:
    _site, desk, call_id, *_ = await connected_call(hub, hubdb)
    dr = await HubClient.connect(hub.ws, hubdb.staff("dr", "specialist").token)
    await desk.send(p.InviteSpecialist(call_id=call_id))
    await dr.expect(p.SpecialistInvite)
    await desk.send(p.InviteCancel(call_id=call_id))
    assert (await dr.expect(p.InviteWithdrawn)).reason == "cancelled"
    await dr.send(p.InviteAccept(call_id=call_id))
    assert (await dr.expect(p.Error)).code == p.ErrorCode.ALREADY_CLAIMED
    # a specialist signing in later is not rung for a cancelled invitation
    late = await HubClient.connect(hub.ws, hubdb.staff("dr-late", "specialist").token)
    await late.nothing_of(p.SpecialistInvite)


async def test_a_specialist_who_does_not_come_back_leaves_for_good(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    site, desk, call_id, *_ = await connected_call(hub, hubdb)
    dr_acc = hubdb.staff("dr", "specialist")
    dr = await HubClient.connect(hub.ws, dr_acc.token)
    await desk.send(p.InviteSpecialist(call_id=call_id))
    await dr.expect(p.SpecialistInvite)
    await dr.send(p.InviteAccept(call_id=call_id))
    await dr.expect(p.CallConnected)
    await dr.ws.close()
    pid = dr_acc.principal.participant_id
    for other in (site, desk):
        first = await other.expect(p.ParticipantLeft, participant_id=pid)
        assert first.reason == "connection_lost"
    for other in (site, desk):
        final = await other.expect(p.ParticipantLeft, participant_id=pid, timeout=6)
        assert final.reason == "grace_expired"
    # the call itself goes on between the caller and the nurse
    await desk.send(p.CallResume(call_id=call_id))
    roles = {x.role for x in (await desk.expect(p.CallConnected)).participants}
    assert roles == {"caller", "nurse"}
