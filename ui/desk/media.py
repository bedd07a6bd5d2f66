"""The desk's own camera and microphone: what the engine calls at the start of each call.

Mute, camera off and hold are the call session's (``CallSession.set_muted`` and the like):
the desk only asks for them, through its bridge.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from calls.media import MediaSource


def media_factory(kind: str, camera: str | None = None, microphone: str | None = None,
                  ) -> Callable[[], MediaSource]:
    """``synthetic`` (test pattern and tone) or ``devices`` (the camera and microphone)."""

    def synthetic() -> MediaSource:
        return MediaSource.synthetic()

    def devices() -> MediaSource:
        return MediaSource.from_devices(camera, microphone, sys.platform)

    if kind == "synthetic":
        return synthetic
    if kind == "devices":
        return devices
    raise ValueError(f"media must be synthetic or devices, not {kind!r}")
