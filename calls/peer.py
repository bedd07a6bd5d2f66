"""One aiortc peer connection to one other participant of a call, and its quality figures.

aiortc has no ICE restart and no trickle ICE, so a :class:`PeerLink` is never repaired: when
it fails, the session throws it away and makes a new one (``generation`` + 1) under the same
call identity. The offer and answer carry every candidate, gathered before they are sent.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from calls import protocol as p
from calls.media import AudioSink, MediaSource, VideoSink

log = logging.getLogger("telehub.calls.peer")

SdpRewriter = Callable[[str], str]


def rtc_configuration(ice_servers: list[p.IceServer], relay_only: bool = False,
                      ) -> RTCConfiguration:
    """The hub's ICE servers as aiortc wants them; ``relay_only`` allows TURN paths only."""
    servers = [RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
               for s in ice_servers]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


@dataclass(frozen=True)
class LinkQuality:
    """One second of one peer connection, from getStats and the sinks.

    ``loss_out`` is the fraction of what we sent that the peer reported lost (RTCP receiver
    reports); ``loss_in`` is what we missed of what it sent, over the last interval.
    """

    participant_id: str
    generation: int
    rtt_ms: float | None
    loss_out: float | None
    loss_in: float | None
    kbps_in: float
    kbps_out: float
    fps_in: float
    audio_frames_in: int


class PeerLink:
    """An RTCPeerConnection to ``remote`` with our media on it and sinks for theirs."""

    def __init__(self, remote: str, *, offerer: bool, generation: int,
                 configuration: RTCConfiguration, media: MediaSource,
                 on_change: Callable[[PeerLink], None],
                 rewrite_sdp: SdpRewriter | None = None) -> None:
        self.remote = remote
        self.offerer = offerer
        self.generation = generation
        self.created_at = time.monotonic()
        self.connected_at: float | None = None
        self.pc = RTCPeerConnection(configuration)
        self.video: VideoSink | None = None
        self.audio: AudioSink | None = None
        self.answered = not offerer  # an offerer waits for the answer
        self.closed = False
        self._on_change = on_change
        self._rewrite = rewrite_sdp
        self._tracks: list[MediaStreamTrack] = []
        self._last: dict[str, Any] = {}
        audio, video = media.subscribe()
        for kind, track in (("audio", audio), ("video", video)):
            if track is not None:
                self._tracks.append(track)
                self.pc.addTransceiver(track, direction="sendrecv")
            else:
                self.pc.addTransceiver(kind, direction="recvonly")
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    @property
    def last_media_at(self) -> float:
        """When media last arrived from the peer (its creation time if none has yet)."""
        times = [t for t in (self.video and self.video.last_frame_at,
                             self.audio and self.audio.last_frame_at) if t]
        return max([self.created_at, *times])

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self.video = VideoSink(track)
        elif track.kind == "audio":
            self.audio = AudioSink(track)

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
        if not self.closed:
            self._on_change(self)

    def _local_sdp(self) -> str:
        sdp = self.pc.localDescription.sdp
        return self._rewrite(sdp) if self._rewrite else sdp

    async def make_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self._local_sdp()

    async def answer_offer(self, sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self._local_sdp()

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        self.answered = True

    async def sample(self) -> LinkQuality:
        """Quality since the previous sample (call about once a second)."""
        now = time.monotonic()
        report = await self.pc.getStats()
        rtts: list[float] = []
        fraction: list[float] = []
        recv = lost = bytes_in = bytes_out = 0
        for stat in report.values():
            kind = stat.type
            if kind == "remote-inbound-rtp":
                rtts.append(stat.roundTripTime)
                fraction.append(stat.fractionLost)
            elif kind == "inbound-rtp":
                recv += stat.packetsReceived
                lost += stat.packetsLost
            elif kind == "transport":
                bytes_in += stat.bytesReceived
                bytes_out += stat.bytesSent
        last = self._last
        dt = max(1e-3, now - last.get("t", self.created_at))
        d_recv = recv - last.get("recv", 0)
        d_lost = max(0, lost - last.get("lost", 0))
        frames = self.video.frames if self.video else 0
        audio_frames = self.audio.frames if self.audio else 0
        quality = LinkQuality(
            participant_id=self.remote,
            generation=self.generation,
            rtt_ms=max(rtts) * 1000 if rtts else None,
            loss_out=max(fraction) if fraction else None,
            loss_in=d_lost / (d_recv + d_lost) if d_recv + d_lost > 0 else None,
            kbps_in=(bytes_in - last.get("in", 0)) * 8 / 1000 / dt,
            kbps_out=(bytes_out - last.get("out", 0)) * 8 / 1000 / dt,
            fps_in=(frames - last.get("frames", 0)) / dt,
            audio_frames_in=audio_frames - last.get("audio", 0),
        )
        self._last = {"t": now, "recv": recv, "lost": lost, "in": bytes_in, "out": bytes_out,
                      "frames": frames, "audio": audio_frames}
        return quality

    async def close(self) -> None:
        """Sinks first (they read from the receivers), then the connection, then our track
        subscriptions (so the shared source stops feeding this link)."""
        if self.closed:
            return
        self.closed = True
        for sink in (self.video, self.audio):
            if sink is not None:
                await sink.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()
        for track in self._tracks:
            track.stop()
