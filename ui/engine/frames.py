"""Video frames handed from the engine thread to the UI: the latest frame only.

A slow paint skips frames, it never builds a queue: :class:`LatestFrame` keeps one frame and
asks for at most one paint at a time. When the view has told it the size it paints at
(:attr:`LatestFrame.fit`), the frame is converted to RGB at that size here, on the engine
thread: a 1280x720 frame converted and scaled on the UI thread costs it several
milliseconds at every paint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.video.reformatter import VideoReformatter

from calls.media import VideoSink


@dataclass(frozen=True)
class RgbFrame:
    """A frame converted for painting: packed RGB24 rows of ``stride`` bytes."""

    width: int
    height: int
    stride: int
    data: bytes


def fit_within(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """``width`` x ``height`` scaled to fit ``box`` (down or up), its shape kept, even sides."""
    scale = min(box[0] / width, box[1] / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def to_rgb(frame: av.VideoFrame, box: tuple[int, int] | None,
           converter: VideoReformatter) -> RgbFrame:
    """``frame`` in RGB (fitted to ``box``), through the caller's own ``converter``: a
    frame's cached one (``frame.reformat``) may be in use on another thread at the same time
    (the encoder's, scaling a camera to the call's profile), and one converter used from two
    threads crashes."""
    if box is not None:
        w, h = fit_within(frame.width, frame.height, box)
        rgb = converter.reformat(frame, width=w, height=h, format="rgb24")
    else:
        rgb = converter.reformat(frame, format="rgb24")
    plane = rgb.planes[0]
    return RgbFrame(rgb.width, rgb.height, plane.line_size, bytes(plane))


class LatestFrame:
    """The newest decoded frame of one video stream, handed from the engine thread to the
    UI. ``notify`` is called (on the engine thread) only when no frame is already waiting to
    be taken, so at most one paint request is ever queued per stream."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | RgbFrame | None = None
        self._arrived = 0.0
        self._waiting = False
        self.frames = 0
        # Set by the view (a tuple is replaced whole, so the engine thread reads it safely).
        self.fit: tuple[int, int] | None = None
        self._rgb = VideoReformatter()  # used by put only, on the engine thread

    def put(self, frame: av.VideoFrame) -> None:
        arrived = time.perf_counter()
        box = self.fit
        item: av.VideoFrame | RgbFrame = frame if box is None else to_rgb(frame, box, self._rgb)
        with self._lock:
            self._frame, self._arrived = item, arrived
            self.frames += 1
            fire, self._waiting = not self._waiting, True
        if fire:
            self._notify()

    def take(self) -> tuple[av.VideoFrame | RgbFrame, float] | None:
        """The frame and when it arrived (``time.perf_counter``), or None if none is new."""
        with self._lock:
            frame, self._frame, self._waiting = self._frame, None, False
            return None if frame is None else (frame, self._arrived)


def hook(sink: VideoSink, slot: LatestFrame) -> None:
    """Every frame ``sink`` decodes from now on (and the one it holds) goes to ``slot``."""
    if sink.latest is not None:
        slot.put(sink.latest)
    sink.listeners.append(slot.put)


async def read_self_view(video: MediaStreamTrack, slot: LatestFrame) -> None:
    """The self view: a latest-only subscription to a call's own outgoing video."""
    try:
        while True:
            frame = await video.recv()
            if isinstance(frame, av.VideoFrame):
                slot.put(frame)
    except MediaStreamError:
        pass
    finally:
        video.stop()
