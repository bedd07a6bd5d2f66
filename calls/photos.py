"""A photo from the call's camera (issue 17): the still at the camera's full resolution, and the
engine event that carries the photo messages.

The still is never a frame of the call's video: that is scaled to the call's profile (and
compressed by the codec). :class:`StillCamera` is offered every frame the camera itself
gives, before the profile (the station's ``SwitchedVideo`` hands each raw frame on, the
synthetic pattern exactly as a USB camera's), and keeps none: :meth:`StillCamera.take`
waits for the next one. :func:`encode_still` makes it a JPEG at that size, on a thread.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import av
from av.video.reformatter import VideoReformatter

from hub.contract import signaling as p

__all__ = ["NoPicture", "PhotoEvent", "Still", "StillCamera", "encode_still"]

JPEG_QUALITY = 92  # a wound's edges and colour matter more than bytes: 1080p is ~0.4 MB


@dataclass(frozen=True)
class PhotoEvent:
    """A photo message from the hub: asked of the caller (``photo_requested``), or to the
    nurse, declined (``photo_declined``) or there (``photo_ready``)."""

    message: p.PhotoRequested | p.PhotoDeclined | p.PhotoReady


@dataclass(frozen=True)
class Still:
    content_type: str
    width: int
    height: int
    data: bytes


class NoPicture(Exception):
    """The camera gave no frame in time (it is closed, or the call has no video)."""


class StillCamera:
    """The camera's next frame at its own size. :meth:`offer` and :meth:`take` run on the
    engine's loop (the camera's track is read there)."""

    def __init__(self) -> None:
        self._waiting: list[asyncio.Future[av.VideoFrame]] = []

    def offer(self, frame: av.VideoFrame) -> None:
        """Every frame the camera gives, at its own size (cheap when nobody waits)."""
        if not self._waiting:
            return
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            if not future.done():
                future.set_result(frame)

    async def take(self, within: float = 3.0) -> av.VideoFrame:
        future: asyncio.Future[av.VideoFrame] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            raise NoPicture("the camera gave no picture") from None
        finally:
            if future in self._waiting:
                self._waiting.remove(future)


def encode_still(frame: av.VideoFrame, quality: int = JPEG_QUALITY) -> Still:
    """The frame as a JPEG of the same size (blocking: run it on a thread)."""
    from PIL import Image

    # Its own converter, never the frame's cached one: the engine thread may be scaling the
    # same frame for the call meanwhile, and one converter on two threads crashes.
    rgb = VideoReformatter().reformat(frame, format="rgb24")  # at the frame's own size
    plane = rgb.planes[0]
    image = Image.frombytes("RGB", (rgb.width, rgb.height), bytes(plane), "raw", "RGB",
                            plane.line_size)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return Still("image/jpeg", frame.width, frame.height, out.getvalue())
