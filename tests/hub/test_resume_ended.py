"""A party resuming a call that ended while it was away (a dropped line, or moving to another
hub) is told that it ended, as the others were; anyone else learns nothing of that call."""

from __future__ import annotations

from hub.contract import signaling as p
from tests.helpers.fixtures import People
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient


async def test_a_caller_back_after_its_call_ended_is_told_how_it_ended(
    hub: ThreadedHub, hubdb: HubDatabase, people: People
) -> None:
    site = await HubClient.connect(hub.ws, people.site.token)
    desk = await HubClient.connect(hub.ws, people.nurse.token)
    await site.send(p.CallRequest(request_id="r1", reason="fall", urgency=p.Urgency.URGENT))
    call_id = (await site.expect(p.CallQueued)).call_id
    await desk.send(p.CallClaim(call_id=call_id))
    await site.expect(p.CallConnected)
    await site.close()  # the caller's line drops; the nurse ends the call meanwhile
    await desk.send(p.CallEnd(call_id=call_id))
    await desk.expect(p.CallEnded, call_id=call_id)

    back = await HubClient.connect(hub.ws, people.site.token)
    await back.send(p.CallResume(call_id=call_id))
    ended = await back.expect(p.CallEnded, call_id=call_id)
    assert ended.reason is p.EndReason.COMPLETED
    assert ended.by == people.nurse.principal.participant_id
    # so is the nurse, from another desk
    other_desk = await HubClient.connect(hub.ws, people.nurse.token)
    await other_desk.send(p.CallResume(call_id=call_id))
    assert (await other_desk.expect(p.CallEnded, call_id=call_id)).by is not None

    # another site, or another nurse, is told no such call, as for any unknown id
    for stranger in (hubdb.site("Oak Lodge"), people.nurse2):
        client = await HubClient.connect(hub.ws, stranger.token)
        await client.send(p.CallResume(call_id=call_id))
        refused = await client.expect(p.Error, call_id=call_id)
        assert refused.code is p.ErrorCode.NOT_FOUND
        await client.nothing_of(p.CallEnded)
