"""Video frames handed from the engine thread to the UI: the latest frame only.

A slow paint skips frames, it never builds a queue: :class:`LatestFrame` keeps one frame and
asks for at most one paint at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from calls.media import VideoSink


class LatestFrame:
    """The newest decoded frame of one video stream, handed from the engine thread to the
    UI. ``notify`` is called (on the engine thread) only when no frame is already waiting to
    be taken, so at most one paint request is ever queued per stream."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self._arrived = 0.0
        self._waiting = False
        self.frames = 0

    def put(self, frame: av.VideoFrame) -> None:
        with self._lock:
            self._frame, self._arrived = frame, time.perf_counter()
            self.frames += 1
            fire, self._waiting = not self._waiting, True
        if fire:
            self._notify()

    def take(self) -> tuple[av.VideoFrame, float] | None:
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
