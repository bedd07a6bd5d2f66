"""Is anything still arriving on a peer connection? Datagrams, not decoded frames, within a second.

A connected call always carries packets both ways: audio at 50 packets a second (silence while
muted, black video while the camera is off or the call is held) and RTCP reports. So a link
that has received no datagram at all for ``stall_after`` seconds has stopped carrying media,
whatever its ICE state says (aiortc's own ICE takes tens of seconds to call a dead path
failed). Counting datagrams rather than decoded frames also keeps heavy loss apart from an
outage: at 10% loss packets still arrive every few milliseconds, and the video decoder's
gaps do not count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiortc import RTCPeerConnection

#: Seconds without a single datagram before a connected link counts as stalled. A tenth of
#: this is a long gap for audio at 50 packets a second, so a lossy link never trips it.
STALL_AFTER = 0.6


def datagrams_in(pc: RTCPeerConnection) -> int:
    """How many datagrams the connection's transports have received so far (all bundled
    media and RTCP). aiortc keeps the count on its DTLS transport for getStats; reading it
    directly costs nothing, where getStats several times a second would."""
    total = 0
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport
        if transport is None or id(transport) in seen:
            continue
        seen.add(id(transport))
        total += int(getattr(transport, "_RTCDtlsTransport__rx_packets", 0))
    return total


@dataclass(frozen=True)
class MediaStalled:
    """Nothing has arrived from one participant for ``silent_for`` seconds (the link is being
    replaced); the last picture shown of them is that old."""

    call_id: str
    participant_id: str
    generation: int
    silent_for: float


@dataclass(frozen=True)
class MediaResumed:
    """Media from that participant flows again (on ``generation``, maybe a new link), after
    ``silent_for`` seconds without."""

    call_id: str
    participant_id: str
    generation: int
    silent_for: float


class ArrivalClock:
    """When a participant's media last arrived, across link replacements: a new link starts
    silent, so the outage is measured from the old link's last datagram."""

    def __init__(self, now: float | None = None) -> None:
        self.last_at = time.monotonic() if now is None else now
        self._count = -1
        self._generation = -1
        self.had_media = False  # anything ever arrived (before that it is connecting)
        self.stalled = False
        self.stalled_at = 0.0  # the last arrival before the stall
        self.told = 0  # whole seconds of silence already reported

    def tick(self, generation: int, count: int, now: float, connected: bool) -> float:
        """Feeds the current count of one link (``connected``: it has connected); returns
        seconds since the last arrival."""
        if generation != self._generation:
            self._generation, self._count = generation, count
            if count > 0:
                self.last_at = now
        elif count != self._count:
            self._count, self.last_at = count, now
        if connected and now - self.last_at < 0.5:
            self.had_media = True  # the handshake's datagrams alone do not count
        return now - self.last_at

    def silent_for(self, now: float) -> float:
        return now - self.last_at
