"""The station's camera and microphone with mute and camera-off switches, and the pre-call check.

The station hands the engine a media factory whose tracks it can silence or blank, with the
same frames the session's own mute uses (calls.media.silence_like and black_like). Silence
and black frames keep both streams flowing, so the nurse's engine never takes a muted
station for a dead link. Every captured frame is also
offered to ``on_frame`` (the self view).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from calls.media import (
    FULL,
    MediaSource,
    SyntheticVideoTrack,
    ToneAudioTrack,
    black_like,
    silence_like,
)


@dataclass
class Switches:
    """Set by the UI thread, read by the engine thread (plain bool stores are atomic)."""

    muted: bool = False
    camera_off: bool = False
    on_frame: Callable[[av.VideoFrame], None] | None = field(default=None, repr=False)


class SwitchedAudio(MediaStreamTrack):
    """The microphone, or silence of the same shape while muted."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, switches: Switches) -> None:
        super().__init__()
        self.source, self.switches = source, switches

    async def recv(self) -> av.AudioFrame:
        frame = await self.source.recv()
        if not isinstance(frame, av.AudioFrame):
            raise MediaStreamError
        return silence_like(frame) if self.switches.muted else frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class SwitchedVideo(MediaStreamTrack):
    """The camera, or black frames of the same size while the camera is off."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, switches: Switches) -> None:
        super().__init__()
        self.source, self.switches = source, switches

    async def recv(self) -> av.VideoFrame:
        frame = await self.source.recv()
        if not isinstance(frame, av.VideoFrame):
            raise MediaStreamError
        if self.switches.camera_off:
            frame = black_like(frame)
        if self.switches.on_frame is not None:
            self.switches.on_frame(frame)
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


def media_factory(kind: str, switches: Switches, camera: str | None = None,
                  microphone: str | None = None) -> Callable[[], MediaSource]:
    """``synthetic`` (a test pattern and a tone: demos and tests) or ``devices``."""

    def make() -> MediaSource:
        if kind == "synthetic":
            audio: MediaStreamTrack = ToneAudioTrack()
            video: MediaStreamTrack = SyntheticVideoTrack(FULL)
            players = None
        else:
            devices = MediaSource.from_devices(camera, microphone)
            assert devices.audio is not None and devices._raw_video is not None
            audio, video, players = devices.audio, devices._raw_video, devices._players
        return MediaSource(SwitchedAudio(audio, switches), SwitchedVideo(video, switches),
                           players=players)

    return make


@dataclass(frozen=True)
class DeviceCheck:
    """What the pre-call check found; ``problem`` is a plain sentence when something failed."""

    camera: str | None  # e.g. "640 x 480", or None when no picture came
    microphone: bool
    problem: str = ""


async def check_devices(make: Callable[[], MediaSource], within: float = 4.0) -> DeviceCheck:
    """Opens the camera and microphone, waits for one picture and one sound, closes them."""
    try:
        media = make()
    except Exception as exc:  # no device, busy device, no permission: the OS says which
        return DeviceCheck(None, False, f"The camera or microphone could not be opened ({exc}).")
    camera: str | None = None
    microphone = False
    problem = ""
    try:
        audio, video = media.subscribe()
        if video is not None:
            try:
                frame = await asyncio.wait_for(video.recv(), within)
                if isinstance(frame, av.VideoFrame):
                    camera = f"{frame.width} x {frame.height}"
            except (TimeoutError, MediaStreamError):
                problem = "The camera gave no picture."
        if audio is not None:
            try:
                await asyncio.wait_for(audio.recv(), within)
                microphone = True
            except (TimeoutError, MediaStreamError):
                problem = (problem + " " if problem else "") + "The microphone gave no sound."
    finally:
        with contextlib.suppress(Exception):
            await media.close()
    return DeviceCheck(camera, microphone, problem)
