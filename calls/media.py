"""Media for calls: sources (camera and microphone, a file, a synthetic test pattern).

Every source ends in the same :class:`ProfiledVideoTrack`, so the low-bandwidth profile and
audio-only mode apply to a real camera exactly as to the synthetic pattern that demos and
tests use. One source feeds every peer connection of a call through a :class:`Fanout` (a mesh
call sends the same camera to two peers; the camera is read once). aiortc's own MediaRelay is
not used because its reader task cannot be stopped and awaited, and shutdown must be able to
prove that nothing is left running.

The synthetic pattern carries a frame counter and a wall-clock timestamp as big black and white
blocks of bits in the top half of the picture (with a CRC), which survive VP8 at its 250 kbps
floor; :func:`read_pattern` recovers them on the receiving end, so a test can prove that
frames arrive, in order, and how late. The sinks for the other end's media are in
:mod:`calls.sinks` (re-exported here).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import fractions
import logging
import sys
import time
from dataclasses import dataclass

import av
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from calls.sinks import AudioSink as AudioSink
from calls.sinks import RgbImage as RgbImage
from calls.sinks import VideoSink as VideoSink

log = logging.getLogger("telehub.calls.media")

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020  # 20 ms, what Opus sends per packet
AUDIO_SAMPLES = int(AUDIO_RATE * AUDIO_PTIME)


@dataclass(frozen=True)
class VideoProfile:
    name: str
    width: int
    height: int
    fps: float


# A profile is a box: a frame larger than it is scaled down to fit, keeping its shape (a 4:3
# camera in the 480p box stays 640x480; the 16:9 pattern becomes 854x480).
HD = VideoProfile("hd", 1280, 720, 30.0)
FULL = VideoProfile("full", 854, 480, 30.0)
# Weak care-home broadband: aiortc cannot push VP8 below 250 kbps, so fewer, smaller frames
# are the only lever left before dropping video.
LOW = VideoProfile("low", 426, 240, 15.0)
PROFILES = {p.name: p for p in (HD, FULL, LOW)}
# What a VGA camera gives (and the synthetic pattern by default: most tests need no HD, and
# the machine running them is shared). In the HD box it stays as it is.
VGA = VideoProfile("vga", 640, 480, 30.0)


def fit(width: int, height: int, box: VideoProfile) -> tuple[int, int]:
    """The size of a width x height frame scaled down (never up) to fit ``box``, shape kept,
    both sides even (yuv420p needs them so)."""
    scale = min(1.0, box.width / width, box.height / height)
    if scale >= 1.0:
        return width, height
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


# --- the pattern's code -------------------------------------------------------------------

CODE_COLS, CODE_ROWS = 16, 6  # 96 bits: 32 counter + 48 timestamp (ms) + 16 CRC
_BLACK, _WHITE, _GREY = 16, 235, 96  # video-range luma


def silence_like(frame: av.AudioFrame) -> av.AudioFrame:
    """Silence of the same format, layout, length and timing as ``frame`` (muted audio)."""
    silent = av.AudioFrame(format=frame.format.name, layout=frame.layout.name,
                           samples=frame.samples)
    for plane in silent.planes:
        plane.update(bytes(plane.buffer_size))
    silent.sample_rate, silent.pts, silent.time_base = (
        frame.sample_rate, frame.pts, frame.time_base)
    return silent


def black_like(frame: av.VideoFrame) -> av.VideoFrame:
    """A black yuv420p frame of the same size and timing as ``frame`` (camera off)."""
    black = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for plane, level in zip(black.planes, (_BLACK, 128, 128), strict=True):
        plane.update(bytes([level]) * plane.buffer_size)
    black.pts, black.time_base = frame.pts, frame.time_base
    return black

@dataclass(frozen=True)
class PatternStamp:
    counter: int
    sent_ms: int  # wall-clock milliseconds when the frame was made


def _stamp_bits(counter: int, sent_ms: int) -> list[int]:
    payload = ((counter & 0xFFFFFFFF) << 48) | (sent_ms & 0xFFFFFFFFFFFF)
    crc = binascii.crc_hqx(payload.to_bytes(10, "big"), 0xFFFF)
    value = (payload << 16) | crc
    return [(value >> (95 - i)) & 1 for i in range(96)]


def read_pattern(frame: av.VideoFrame) -> PatternStamp | None:
    """The stamp in a frame of the synthetic pattern, or None if it is not one (or damaged)."""
    plane = frame.planes[0]
    w, h, stride = frame.width, frame.height, plane.line_size
    data = bytes(plane)
    bw, bh = w / CODE_COLS, (h / 2) / CODE_ROWS
    value = 0
    for i in range(96):
        r, c = divmod(i, CODE_COLS)
        y, x = int((r + 0.5) * bh), int((c + 0.5) * bw)
        value = (value << 1) | (1 if data[y * stride + x] > 128 else 0)
    payload, crc = value >> 16, value & 0xFFFF
    if binascii.crc_hqx(payload.to_bytes(10, "big"), 0xFFFF) != crc:
        return None
    return PatternStamp(counter=payload >> 48, sent_ms=payload & 0xFFFFFFFFFFFF)


def make_pattern_frame(width: int, height: int, counter: int, sent_ms: int) -> av.VideoFrame:
    """A yuv420p frame: the code blocks on top, a bar moving across the bottom half."""
    bits = _stamp_bits(counter, sent_ms)
    frame = av.VideoFrame(width, height, "yuv420p")
    y_plane = frame.planes[0]
    stride = y_plane.line_size
    pad = bytes(stride - width)
    edges = [round(c * width / CODE_COLS) for c in range(CODE_COLS + 1)]
    rows: list[bytes] = []
    top = height // 2
    row_edges = [round(r * top / CODE_ROWS) for r in range(CODE_ROWS + 1)]
    for r in range(CODE_ROWS):
        line = b"".join(
            bytes([_WHITE if bits[r * CODE_COLS + c] else _BLACK]) * (edges[c + 1] - edges[c])
            for c in range(CODE_COLS)
        ) + pad
        rows.append(line * (row_edges[r + 1] - row_edges[r]))
    bar_w = max(8, width // 20)
    x0 = (counter * max(2, width // 80)) % (width - bar_w)
    line = bytes([_GREY]) * x0 + bytes([_WHITE]) * bar_w + bytes([_GREY]) * (
        width - x0 - bar_w) + pad
    rows.append(line * (height - top))
    y_plane.update(b"".join(rows))
    for chroma in frame.planes[1:]:
        chroma.update(bytes([128]) * chroma.buffer_size)
    return frame


# --- sources ------------------------------------------------------------------------------


class SyntheticVideoTrack(MediaStreamTrack):
    """The moving test pattern, paced in real time at ``profile``'s size and rate."""

    kind = "video"

    def __init__(self, profile: VideoProfile = VGA, first: int = 0) -> None:
        super().__init__()
        self.profile = profile
        self.first = first  # a second "camera" counts from elsewhere, so tests tell them apart
        self.counter = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self.counter / self.profile.fps
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0:  # fell far behind (a stall): do not burst to catch up
            self._start = now - self.counter / self.profile.fps
        frame = make_pattern_frame(self.profile.width, self.profile.height,
                                   self.first + self.counter, int(time.time() * 1000))
        frame.pts = int((time.monotonic() - self._start) * VIDEO_CLOCK)
        frame.time_base = VIDEO_TIME_BASE
        self.counter += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A quiet 400 Hz tone (exactly 8 periods per 20 ms frame, so one frame repeats)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        import math

        samples = [int(3000 * math.sin(2 * math.pi * 400 * i / AUDIO_RATE))
                   for i in range(AUDIO_SAMPLES)]
        self._pcm = b"".join(s.to_bytes(2, "little", signed=True) for s in samples)
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._sent * AUDIO_PTIME
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0:
            self._start = now - self._sent * AUDIO_PTIME
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(self._pcm)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._sent * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._sent += 1
        return frame


class CameraTrack(MediaStreamTrack):
    """The chosen camera, which can be swapped for another mid-call (:meth:`switch`).

    Swapped here, under the profile and the fan-out, every peer connection and the self view
    get the new camera's frames on their existing tracks: what ``RTCRtpSender.replaceTrack``
    does in a browser, for all senders at once and without renegotiating."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, players: list[MediaPlayer] | None = None,
                 ) -> None:
        super().__init__()
        self.source = source
        self.players = list(players or [])
        self.switches = 0

    def switch(self, source: MediaStreamTrack, players: list[MediaPlayer] | None = None,
               ) -> None:
        """From now on frames come from ``source``; the old camera is stopped (closed)."""
        old, old_players = self.source, self.players
        self.source, self.players = source, list(players or [])
        self.switches += 1
        old.stop()  # a recv waiting on it ends: :meth:`recv` goes on with the new camera
        for player in old_players:
            _stop_player(player)

    async def recv(self) -> av.frame.Frame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self.source
            try:
                frame = await source.recv()
            except MediaStreamError:
                if self.source is source:
                    raise  # the camera itself ended
                continue  # switched while waiting: read the new one
            if isinstance(frame, av.frame.Frame):
                return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()
        for player in self.players:
            _stop_player(player)


class ProfiledVideoTrack(MediaStreamTrack):
    """Applies the call's video profile to any source: drops frames down to the profile's
    rate, scales down to its size, and in audio-only mode sends nothing at all."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, profile: VideoProfile = HD) -> None:
        super().__init__()
        self.source = source
        self.profile = profile
        self._video_on = asyncio.Event()
        self._video_on.set()
        self._next_due = 0.0
        self.blank = False  # camera off: black frames of the same size and rate
        self._black: av.VideoFrame | None = None
        self.sent_size: tuple[int, int] | None = None  # of the last frame handed on

    @property
    def audio_only(self) -> bool:
        return not self._video_on.is_set()

    def set_profile(self, profile: VideoProfile) -> None:
        self.profile = profile

    def set_audio_only(self, audio_only: bool) -> None:
        if audio_only:
            self._video_on.clear()
        else:
            self._video_on.set()

    async def recv(self) -> av.VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if not self._video_on.is_set():
                # Hold the sender here: no frames means no video packets on the wire.
                waiter = asyncio.ensure_future(self._video_on.wait())
                try:
                    await waiter
                finally:
                    waiter.cancel()
                continue
            frame = await self.source.recv()
            if not isinstance(frame, av.VideoFrame):
                continue
            now = time.monotonic()
            if now + 0.25 / self.profile.fps < self._next_due:
                continue  # over the profile's rate: skip this one
            self._next_due = max(self._next_due + 1 / self.profile.fps, now)
            size = fit(frame.width, frame.height, self.profile)
            if size != (frame.width, frame.height):
                scaled = frame.reformat(width=size[0], height=size[1])
                scaled.pts, scaled.time_base = frame.pts, frame.time_base
                frame = scaled
            self.sent_size = (frame.width, frame.height)
            return self._blanked(frame) if self.blank else frame

    def _blanked(self, frame: av.VideoFrame) -> av.VideoFrame:
        # Black, not nothing: the other end keeps receiving video, so it never takes a
        # camera that is off for a dead link (the session replaces links without media).
        black = self._black
        if black is None or (black.width, black.height) != (frame.width, frame.height):
            black = self._black = black_like(frame)
        out = av.VideoFrame(frame.width, frame.height, "yuv420p")
        for dst, src in zip(out.planes, black.planes, strict=True):
            dst.update(bytes(src))
        out.pts, out.time_base = frame.pts, frame.time_base
        return out

    def stop(self) -> None:
        super().stop()
        self._video_on.set()  # wake a held recv so it sees the track ended


class MutableAudioTrack(MediaStreamTrack):
    """The microphone, or silence of the same shape while muted (silence, not nothing, so
    the other end never takes a muted party for a dead link)."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source
        self.muted = False

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.source.recv()
        if not isinstance(frame, av.AudioFrame):
            raise MediaStreamError  # an audio source gave something else: end the track
        return silence_like(frame) if self.muted else frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class Fanout:
    """Reads one track in one task and hands every frame to each subscriber. Video
    subscribers keep the newest frame only; audio ones a short queue (dropping the oldest),
    so a stalled peer connection never makes memory grow."""

    def __init__(self, source: MediaStreamTrack, latest_only: bool) -> None:
        self.source = source
        self.latest_only = latest_only
        self.subscribers: set[_Subscriber] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> MediaStreamTrack:
        sub = _Subscriber(self, 1 if self.latest_only else 25)
        self.subscribers.add(sub)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"fanout-{self.source.kind}")
        return sub

    async def _run(self) -> None:
        frame: av.frame.Frame | None
        while True:
            try:
                got = await self.source.recv()
                frame = got if isinstance(got, av.frame.Frame) else None
            except MediaStreamError:
                frame = None
            for sub in list(self.subscribers):
                sub.put(frame)
            if frame is None and self.source.readyState != "live":
                return

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in list(self.subscribers):
            sub.put(None)
        self.subscribers.clear()


class _Subscriber(MediaStreamTrack):
    def __init__(self, fanout: Fanout, depth: int) -> None:
        super().__init__()
        self.kind = fanout.source.kind
        self._fanout = fanout
        self._queue: asyncio.Queue[av.frame.Frame | None] = asyncio.Queue(depth)

    def put(self, frame: av.frame.Frame | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()  # drop the oldest: late media is worthless
        self._queue.put_nowait(frame)

    async def recv(self) -> av.frame.Frame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        super().stop()
        self._fanout.subscribers.discard(self)


class MediaSource:
    """The local camera and microphone of a call (or their stand-ins), shared by every peer
    connection of the call. ``subscribe()`` gives each peer connection its own tracks."""

    def __init__(self, audio: MediaStreamTrack | None, video: MediaStreamTrack | None,
                 players: list[MediaPlayer] | None = None, profile: VideoProfile = HD,
                 camera: CameraTrack | None = None) -> None:
        """``camera`` is the switchable camera inside ``video`` (``video`` itself when it is
        one, or a wrapper around it, like the station's camera-off switch)."""
        self.camera = camera if camera is not None else (
            video if isinstance(video, CameraTrack) else None)
        self.audio = MutableAudioTrack(audio) if audio is not None else None
        self._raw_audio = audio
        self.video = ProfiledVideoTrack(video, profile) if video is not None else None
        self._raw_video = video
        self._players = players or []
        self._audio_out = (Fanout(self.audio, latest_only=False) if self.audio is not None
                           else None)
        self._video_out = Fanout(self.video, latest_only=True) if self.video is not None else None
        self._closed = False

    # -- constructors --

    @classmethod
    def synthetic(cls, profile: VideoProfile = HD, audio: bool = True,
                  video: bool = True, size: VideoProfile = VGA) -> MediaSource:
        """The tone and the pattern at ``size`` (``HD`` for an HD camera), sent in
        ``profile``."""
        return cls(ToneAudioTrack() if audio else None,
                   CameraTrack(SyntheticVideoTrack(size)) if video else None, profile=profile)

    @classmethod
    def from_file(cls, path: str, loop: bool = True) -> MediaSource:
        player = MediaPlayer(path, loop=loop)
        return cls(player.audio, player.video, [player])

    @classmethod
    def from_devices(cls, camera: str | None = None, microphone: str | None = None,
                     platform: str = sys.platform) -> MediaSource:
        """The camera and microphone through FFmpeg's capture devices: v4l2 and PulseAudio on
        Linux, AVFoundation on macOS, DirectShow on Windows (names as ``ffmpeg -list_devices``
        prints them there)."""
        opts = {"video_size": f"{HD.width}x{HD.height}", "framerate": str(int(HD.fps))}
        players: list[MediaPlayer] = []
        if platform == "darwin":
            player = MediaPlayer(f"{camera or 'default'}:{microphone or 'default'}",
                                 format="avfoundation", options=opts)
            return cls(player.audio, player.video, [player])
        if platform == "win32":
            if not camera or not microphone:
                raise ValueError("on Windows name the camera and microphone (DirectShow names)")
            player = MediaPlayer(f"video={camera}:audio={microphone}", format="dshow",
                                 options=opts)
            return cls(player.audio, player.video, [player])
        cam = MediaPlayer(camera or "/dev/video0", format="v4l2", options=opts)
        try:
            mic = MediaPlayer(microphone or "default", format="pulse")
        except Exception:
            _stop_player(cam)
            raise
        players.append(mic)
        if cam.video is None:
            _stop_player(cam)
            _stop_player(mic)
            raise ValueError("the camera gives no video")
        return cls(mic.audio, CameraTrack(cam.video, [cam]), players)

    # -- use --

    def subscribe(self) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
        """Tracks for one more peer connection (audio, video)."""
        audio = self._audio_out.subscribe() if self._audio_out is not None else None
        # Video subscribers take the newest frame only: a slow encoder never builds a queue.
        video = self._video_out.subscribe() if self._video_out is not None else None
        return audio, video

    @property
    def profile(self) -> VideoProfile | None:
        return self.video.profile if self.video is not None else None

    @property
    def audio_only(self) -> bool:
        return self.video is None or self.video.audio_only

    @property
    def sent_size(self) -> tuple[int, int] | None:
        """The size of the video we send now (None: none sent yet, or audio only)."""
        if self.video is None or self.video.audio_only:
            return None
        return self.video.sent_size

    def set_profile(self, profile: VideoProfile) -> None:
        if self.video is not None:
            self.video.set_profile(profile)

    def switch_camera(self, source: MediaStreamTrack,
                      players: list[MediaPlayer] | None = None) -> None:
        """Every peer connection and the self view see ``source`` from now on."""
        if self.camera is None:
            raise ValueError("this call's video cannot switch cameras")
        self.camera.switch(source, players)

    def set_audio_only(self, audio_only: bool) -> None:
        if self.video is not None:
            self.video.set_audio_only(audio_only)

    @property
    def muted(self) -> bool:
        return self.audio is None or self.audio.muted

    def set_muted(self, muted: bool) -> None:
        """Every peer connection hears silence (the microphone is still read)."""
        if self.audio is not None:
            self.audio.muted = muted

    @property
    def camera_off(self) -> bool:
        return self.video is None or self.video.blank

    def set_camera_off(self, off: bool) -> None:
        """Every peer connection (and the self view) sees black at the same size and rate."""
        if self.video is not None:
            self.video.blank = off

    async def close(self) -> None:
        """Stops every track, reader task and capture thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for track in (self.video, self._raw_video, self.audio, self._raw_audio):
            if track is not None:
                track.stop()
        for fanout in (self._video_out, self._audio_out):
            if fanout is not None:
                await fanout.close()
        for player in self._players:
            _stop_player(player)


def _stop_player(player: MediaPlayer) -> None:
    for track in (player.audio, player.video):
        if track is not None:
            track.stop()  # the player's decode thread ends when its last track stops
