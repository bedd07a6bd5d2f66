"""The desk's own media: mute and camera-off switches wrapped around any source's tracks.

calls/ has no mute or camera-off API, so the desk hands the engine a media factory whose
tracks it can silence or blank. Silence and black frames keep both streams flowing, so the
caller's engine never takes a muted desk for a dead link (it watches for missing media).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from calls.media import FULL, MediaSource, SyntheticVideoTrack, ToneAudioTrack


@dataclass
class LocalSwitches:
    """Read by the engine thread, set by the UI thread (single bool stores are atomic)."""

    muted: bool = False
    camera_off: bool = False


class SwitchableAudio(MediaStreamTrack):
    """The microphone, or silence of the same shape while muted."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, switches: LocalSwitches) -> None:
        super().__init__()
        self.source = source
        self.switches = switches

    async def recv(self) -> av.AudioFrame:
        frame = await self.source.recv()
        if not isinstance(frame, av.AudioFrame):
            raise MediaStreamError  # an audio source gave something else: end the track
        if not self.switches.muted:
            return frame
        silent = av.AudioFrame(format=frame.format.name, layout=frame.layout.name,
                               samples=frame.samples)
        for plane in silent.planes:
            plane.update(bytes(plane.buffer_size))
        silent.sample_rate, silent.pts, silent.time_base = (
            frame.sample_rate, frame.pts, frame.time_base)
        return silent

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class SwitchableVideo(MediaStreamTrack):
    """The camera, or a black picture of the same size while the camera is off."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, switches: LocalSwitches) -> None:
        super().__init__()
        self.source = source
        self.switches = switches
        self._black: av.VideoFrame | None = None

    async def recv(self) -> av.VideoFrame:
        frame = await self.source.recv()
        if not isinstance(frame, av.VideoFrame):
            raise MediaStreamError
        if not self.switches.camera_off:
            return frame
        black = self._black
        if black is None or (black.width, black.height) != (frame.width, frame.height):
            black = av.VideoFrame(frame.width, frame.height, "yuv420p")
            for plane, level in zip(black.planes, (16, 128, 128), strict=True):
                plane.update(bytes([level]) * plane.buffer_size)
            self._black = black
        out = av.VideoFrame(frame.width, frame.height, "yuv420p")
        for dst, src in zip(out.planes, black.planes, strict=True):
            dst.update(bytes(src))
        out.pts, out.time_base = frame.pts, frame.time_base
        return out

    def stop(self) -> None:
        super().stop()
        self.source.stop()


def media_factory(kind: str, switches: LocalSwitches,
                  camera: str | None = None, microphone: str | None = None,
                  ) -> Callable[[], MediaSource]:
    """What the engine calls at the start of each call: ``synthetic`` (test pattern and tone)
    or ``devices`` (the camera and microphone), with the desk's switches applied."""

    def synthetic() -> MediaSource:
        return MediaSource(SwitchableAudio(ToneAudioTrack(), switches),
                           SwitchableVideo(SyntheticVideoTrack(FULL), switches))

    def devices() -> MediaSource:
        base = MediaSource.from_devices(camera, microphone, sys.platform)
        assert base.audio is not None and base.video is not None
        # Rewrapped: MediaSource has no hook for wrapping its raw tracks (asked for in the
        # desk's report); the players go with them so closing still stops capture threads.
        return MediaSource(SwitchableAudio(base.audio, switches),
                           SwitchableVideo(base.video.source, switches),
                           players=base._players)

    if kind == "synthetic":
        return synthetic
    if kind == "devices":
        return devices
    raise ValueError(f"media must be synthetic or devices, not {kind!r}")
