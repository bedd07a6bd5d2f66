"""The station's camera and microphone with mute and camera-off switches, the choice of camera,
and the pre-call check.

The station hands the engine a media factory whose tracks it can silence or blank, with the
same frames the session's own mute uses (calls.media.silence_like and black_like). Silence
and black frames keep both streams flowing, so the nurse's engine never takes a muted
station for a dead link. Every captured frame is also
offered to ``on_frame`` (the self view).

The cameras are what QtMultimedia lists (a USB examination or document camera beside the
built-in one), or the synthetic test pattern where the station runs without devices; the
choice is kept in the station's settings file and can change mid-call
(:meth:`ui.station.bridge.StationBridge.switch_camera`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from PySide6.QtCore import QSettings
from PySide6.QtMultimedia import QMediaDevices

from calls.cameras import Camera, open_camera, open_microphone, synthetic_camera
from calls.media import (
    CameraTrack,
    MediaSource,
    ToneAudioTrack,
    black_like,
    silence_like,
)


@dataclass
class Switches:
    """Set by the UI thread, read by the engine thread (plain bool stores are atomic)."""

    muted: bool = False
    camera_off: bool = False
    camera: Camera | None = None  # the chosen camera (None: the system's first)
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
    """``synthetic`` (a test pattern and a tone: demos and tests) or ``devices``. The camera
    is ``switches.camera`` when one was chosen, else ``camera`` (a device name), else the
    system's first."""

    def make() -> MediaSource:
        chosen = switches.camera
        if kind == "synthetic":
            audio: MediaStreamTrack = ToneAudioTrack()
            raw, players = open_camera(chosen or synthetic_camera(0))
            cam = CameraTrack(raw, players)
        elif chosen is not None:
            raw, cam_players = open_camera(chosen)
            cam = CameraTrack(raw, cam_players)
            try:
                audio, players = open_microphone(microphone)
            except Exception:
                cam.stop()
                raise
        else:
            devices = MediaSource.from_devices(camera, microphone)
            assert devices.audio is not None and devices.camera is not None
            audio, cam, players = devices.audio.source, devices.camera, devices._players
        return MediaSource(SwitchedAudio(audio, switches), SwitchedVideo(cam, switches),
                           players=players, camera=cam)

    return make


def list_cameras(kind: str) -> list[Camera]:
    """The cameras to choose from: the synthetic pattern, or what the system lists (needs a
    Qt application). A device's id is what FFmpeg opens: on Linux its /dev/video path."""
    if kind == "synthetic":
        return [synthetic_camera(0)]
    found = []
    for device in QMediaDevices.videoInputs():
        raw = bytes(device.id().data()).decode("utf-8", "replace")
        found.append(Camera(raw if sys.platform != "darwin" else device.description(),
                            device.description()))
    return found


class CameraChoice:
    """The camera chosen on this station, kept in its settings file (an INI file in the
    station's data folder) so the next call and the next start use it again."""

    KEY = "media/camera"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._settings = QSettings(str(path), QSettings.Format.IniFormat)

    def pick(self, cameras: list[Camera]) -> Camera | None:
        """The remembered camera if it is still there, else the first one."""
        saved = self._settings.value(self.KEY, "")
        for cam in cameras:
            if cam.id == saved:
                return cam
        return cameras[0] if cameras else None

    def remember(self, camera: Camera) -> None:
        self._settings.setValue(self.KEY, camera.id)
        self._settings.sync()


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
