"""Cameras a station can choose from, and opening one (for a call, or to switch to mid-call).

A care home often has a USB examination or document camera beside the built-in one. The
station lists what its platform sees (QtMultimedia, in ui/station/media.py) as
:class:`Camera` values; this module opens one through FFmpeg's capture devices, or a
synthetic test pattern (id ``synthetic:N``) where there is no camera: demos, tests, and this
build machine. Every synthetic camera counts its frames from ``N * SYNTHETIC_SPAN``, so the
other end can tell which one it is seeing; ``synthetic-hd:N`` is one that gives 1280x720
(``synthetic:N`` gives 640x480, like a VGA webcam).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamTrack

from calls.media import HD, VGA, SyntheticVideoTrack

SYNTHETIC_PREFIX = "synthetic"
SYNTHETIC_SPAN = 1_000_000


@dataclass(frozen=True)
class Camera:
    """``id`` is what opens it: ``synthetic:N``, or the device as FFmpeg names it on this
    platform (a /dev/video path on Linux, the AVFoundation or DirectShow name elsewhere);
    ``name`` is what a person reads."""

    id: str
    name: str

    @property
    def synthetic(self) -> bool:
        return self.id.startswith(SYNTHETIC_PREFIX)


def synthetic_camera(n: int = 0, hd: bool = False) -> Camera:
    name = "Test pattern" if n == 0 else f"Test pattern {n + 1}"
    return Camera(f"{SYNTHETIC_PREFIX}{'-hd' if hd else ''}:{n}",
                  f"{name} (HD)" if hd else name)


def open_camera(camera: Camera, platform: str = sys.platform,
                ) -> tuple[MediaStreamTrack, list[MediaPlayer]]:
    """The camera's video track at up to 1280x720 at 30 fps, and the players to stop with it."""
    if camera.synthetic:
        kind, _, n = camera.id.partition(":")
        size = HD if kind.endswith("-hd") else VGA
        return SyntheticVideoTrack(size, first=int(n or 0) * SYNTHETIC_SPAN), []
    opts = {"video_size": f"{HD.width}x{HD.height}", "framerate": str(int(HD.fps))}
    if platform == "darwin":
        player = MediaPlayer(f"{camera.id}:none", format="avfoundation", options=opts)
    elif platform == "win32":
        player = MediaPlayer(f"video={camera.id}", format="dshow", options=opts)
    else:
        player = MediaPlayer(camera.id, format="v4l2", options=opts)
    if player.video is None:
        raise ValueError(f"{camera.name} gives no video")
    return player.video, [player]


def which_camera(counter: int) -> int:
    """Which synthetic camera (its N) made a frame with this pattern counter."""
    return counter // SYNTHETIC_SPAN


def open_microphone(name: str | None = None, platform: str = sys.platform,
                    ) -> tuple[MediaStreamTrack, list[MediaPlayer]]:
    """The microphone alone (when the camera was chosen apart from it)."""
    if platform == "darwin":
        player = MediaPlayer(f"none:{name or 'default'}", format="avfoundation")
    elif platform == "win32":
        if not name:
            raise ValueError("on Windows name the microphone (its DirectShow name)")
        player = MediaPlayer(f"audio={name}", format="dshow")
    else:
        player = MediaPlayer(name or "default", format="pulse")
    if player.audio is None:
        raise ValueError("the microphone gives no sound")
    return player.audio, [player]
