"""One aiortc peer connection to one other participant of a call, and its quality figures.

aiortc has no ICE restart and no trickle ICE, so a :class:`PeerLink` is never repaired: when
it fails, the session throws it away and makes a new one (``generation`` + 1) under the same
call identity. The offer and answer carry every candidate, gathered before they are sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from calls.codecs import (
    PREFERRED,
    agreed_video_codec,
    prefer_codecs,
    sends_media,
    use_realtime_h264,
    with_bitrate_hints,
)
from calls.liveness import datagrams_in
from calls.media import AudioSink, MediaSource, VideoSink
from hub.contract import signaling as p

log = logging.getLogger("telehub.calls.peer")
use_realtime_h264()

SdpRewriter = Callable[[str], str]
T = TypeVar("T")


class LinkClosedError(Exception):
    """The peer connection was closed while an offer or answer was being made for it."""


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
    codec: str | None = None  # the video codec agreed ("H264", "VP8")
    width_in: int = 0  # the size of the last video frame received (0: none yet)
    height_in: int = 0
    estimate_kbps: float | None = None  # what our video encoder aims at (the peer's REMB)
    silent_for: float = 0.0  # seconds since anything arrived (the session's liveness)
    state: str = "connected"


class PeerLink:
    """An RTCPeerConnection to ``remote`` with our media on it and sinks for theirs.

    ``on_change`` hears each connection state change; ``on_media`` hears each new sink
    (``"audio"`` or ``"video"``), as soon as the remote track exists.
    """

    def __init__(self, remote: str, *, offerer: bool, generation: int,
                 configuration: RTCConfiguration, media: MediaSource,
                 on_change: Callable[[PeerLink], None],
                 rewrite_sdp: SdpRewriter | None = None,
                 on_media: Callable[[PeerLink, str], None] | None = None,
                 codecs: tuple[str, ...] = PREFERRED) -> None:
        self.remote = remote
        self.offerer = offerer
        self.generation = generation
        self.created_at = time.monotonic()
        self.connected_at: float | None = None
        self.pc = RTCPeerConnection(configuration)
        self.video: VideoSink | None = None
        self.audio: AudioSink | None = None
        self.answered = not offerer  # an offerer waits for the answer
        self.answered_at: float | None = None
        self.codec: str | None = None  # the video codec the answer agreed
        self.remote_sends = True  # False: the other end sends no media, only RTCP
        self.closed = False
        self._on_change = on_change
        self._on_media = on_media
        self._rewrite = rewrite_sdp
        self._tracks: list[MediaStreamTrack] = []
        self._last: dict[str, Any] = {}
        self._negotiating: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Task[None] | None = None
        audio, video = media.subscribe()
        for kind, track in (("audio", audio), ("video", video)):
            if track is not None:
                self._tracks.append(track)
                transceiver = self.pc.addTransceiver(track, direction="sendrecv")
            else:
                transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            if kind == "video":
                prefer_codecs(transceiver, codecs)
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
        if self.closed:
            return  # a late event: no sink (and no reader task) for a closed link
        if track.kind == "video":
            self.video = VideoSink(track)
        elif track.kind == "audio":
            self.audio = AudioSink(track)
        else:
            return
        if self._on_media is not None:
            self._on_media(self, track.kind)

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
        if not self.closed:
            self._on_change(self)

    def _local_sdp(self) -> str:
        sdp = with_bitrate_hints(self.pc.localDescription.sdp)
        return self._rewrite(sdp) if self._rewrite else sdp

    async def _negotiate(self, step: Callable[[], Awaitable[T]]) -> T:
        """Runs one offer/answer step in a task of its own that the caller's cancellation
        does not reach, and that :meth:`close` waits for.

        setLocalDescription gathers ICE candidates: aioice binds a UDP socket per local
        address and only then records them on its connection. Cancelled halfway, the sockets
        bound so far are lost to every close (nothing refers to them); closed halfway, the
        connection's close misses the sockets still being bound. Either way they leak. So a
        step always runs to its end, and a link is closed only after its steps have ended.
        """
        if self.closed:
            raise LinkClosedError(f"the link to {self.remote} is closed")
        task = asyncio.ensure_future(step())
        self._negotiating.add(task)
        task.add_done_callback(self._step_done)
        result = await asyncio.shield(task)
        if self.closed:
            raise LinkClosedError(f"the link to {self.remote} was closed while negotiating")
        return result

    def _step_done(self, task: asyncio.Task[Any]) -> None:
        self._negotiating.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller cancelled meanwhile never will

    async def make_offer(self) -> str:
        async def step() -> str:
            await self.pc.setLocalDescription(await self.pc.createOffer())
            return self._local_sdp()

        return await self._negotiate(step)

    async def answer_offer(self, sdp: str) -> str:
        async def step() -> str:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            self.remote_sends = sends_media(sdp)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            self.codec = agreed_video_codec(self.pc.localDescription.sdp)
            self.answered_at = time.monotonic()
            return self._local_sdp()

        return await self._negotiate(step)

    async def accept_answer(self, sdp: str) -> None:
        async def step() -> None:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            self.codec = agreed_video_codec(sdp)
            self.remote_sends = sends_media(sdp)
            self.answered, self.answered_at = True, time.monotonic()

        await self._negotiate(step)

    @property
    def datagrams_in(self) -> int:
        return datagrams_in(self.pc)

    @property
    def ice_connected(self) -> bool:
        return self.pc.iceConnectionState in ("connected", "completed")

    def estimate_kbps(self) -> float | None:
        """The video encoder's target bitrate, which aiortc sets from the peer's REMB
        reports (its bandwidth estimate; None before the first frame is encoded). aiortc
        keeps it on the sender's private encoder: there is no public reading of it."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video" and transceiver.sender is not None:
                encoder = getattr(transceiver.sender, "_RTCRtpSender__encoder", None)
                target = getattr(encoder, "target_bitrate", None)
                if isinstance(target, int | float):
                    return float(target) / 1000
        return None

    def idle_quality(self, silent_for: float) -> LinkQuality:
        """A sample for a link that is not (or not yet) connected: nothing measured."""
        return LinkQuality(self.remote, self.generation, None, None, None, 0.0, 0.0, 0.0, 0,
                           codec=self.codec, silent_for=silent_for, state=self.state)

    async def sample(self, silent_for: float = 0.0) -> LinkQuality:
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
        latest = self.video.latest if self.video else None
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
            codec=self.codec,
            width_in=latest.width if latest is not None else 0,
            height_in=latest.height if latest is not None else 0,
            estimate_kbps=self.estimate_kbps(),
            silent_for=silent_for,
            state=self.state,
        )
        self._last = {"t": now, "recv": recv, "lost": lost, "in": bytes_in, "out": bytes_out,
                      "frames": frames, "audio": audio_frames}
        return quality

    def close_soon(self) -> asyncio.Task[None]:
        """Starts closing (if not already) and returns the task that does it. Closing runs to
        its end even if whoever awaits it is cancelled: a half-closed link leaks sockets."""
        if self._closing is None:
            self.closed = True
            self._closing = asyncio.ensure_future(self._close())
        return self._closing

    async def close(self) -> None:
        """Closes the link and waits until it is closed (idempotent)."""
        await asyncio.shield(self.close_soon())

    async def _close(self) -> None:
        """In order: the offer/answer steps still running finish (so every ICE socket they
        bind is known to the connection), the sinks stop (they read from the receivers), the
        connection closes (its ICE sockets with it), then our track subscriptions end (so
        the shared source stops feeding this link)."""
        while self._negotiating:
            await asyncio.gather(*list(self._negotiating), return_exceptions=True)
        for sink in (self.video, self.audio):
            if sink is not None:
                await sink.stop()
        try:
            await self.pc.close()
        except Exception:  # closing must go on: the tracks below still need stopping
            log.exception("closing the peer connection to %s failed", self.remote)
        for track in self._tracks:
            track.stop()
