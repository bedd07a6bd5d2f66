"""Sinks for a call's remote media: the latest video frame (never a backlog) and the audio.

After an outage aiortc's receiver hands over every frame it decoded meanwhile, oldest first
(seconds of them); a person needs the picture of now. So the video sink takes the newest of
what is waiting and drops the rest (:meth:`VideoSink._newest`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


@dataclass(frozen=True)
class RgbImage:
    width: int
    height: int
    data: bytes  # packed RGB24, rows of width*3 bytes


class VideoSink:
    """Reads a remote video track and keeps only the latest frame (never a growing queue).

    The UI asks for :meth:`latest_rgb` when it paints; the conversion to RGB happens at most
    once per received frame, however often it paints. ``listeners`` see every frame (tests
    and the benchmark decode the pattern there); they must be quick.
    """

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.frames = 0
        self.skipped = 0  # frames dropped because a newer one was already waiting
        self.latest: av.VideoFrame | None = None
        self.last_frame_at: float | None = None
        self.first_frame: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.listeners: list[Callable[[av.VideoFrame], None]] = []
        self._rgb: RgbImage | None = None
        self._task = asyncio.create_task(self._run(), name="video-sink")

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = self._newest(await self.track.recv())
                if not isinstance(frame, av.VideoFrame):
                    continue
                self.frames += 1
                self.latest, self._rgb = frame, None
                self.last_frame_at = time.monotonic()
                if not self.first_frame.done():
                    self.first_frame.set_result(self.last_frame_at)
                for listener in self.listeners:
                    listener(frame)

    def _newest(self, frame: object) -> object:
        """``frame``, or the newest frame already queued behind it (the backlog dropped).

        aiortc's remote track queues decoded frames without limit (its ``_queue``); reading
        that queue's length is the only way to know a newer frame is already there."""
        queue = getattr(self.track, "_queue", None)
        if not isinstance(queue, asyncio.Queue):
            return frame
        while not queue.empty():
            waiting = queue.get_nowait()
            if waiting is None:  # the track ended behind this frame: end on the next recv
                queue.put_nowait(None)
                break
            self.skipped += 1
            frame = waiting
        return frame

    def latest_rgb(self) -> RgbImage | None:
        frame = self.latest
        if frame is None:
            return None
        if self._rgb is None:
            rgb = frame.to_rgb()
            plane = rgb.planes[0]
            raw, stride, row = bytes(plane), plane.line_size, rgb.width * 3
            data = raw if stride == row else b"".join(
                raw[y * stride:y * stride + row] for y in range(rgb.height))
            self._rgb = RgbImage(rgb.width, rgb.height, data)
        return self._rgb

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if not self.first_frame.done():
            self.first_frame.cancel()


class AudioSink:
    """Reads a remote audio track: counts what arrives and keeps the level, and hands each
    frame to ``listeners`` (the desk plays them through its audio device)."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.frames = 0
        self.samples = 0
        self.last_frame_at: float | None = None
        self.listeners: list[Callable[[av.AudioFrame], None]] = []
        self._task = asyncio.create_task(self._run(), name="audio-sink")

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await self.track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                self.frames += 1
                self.samples += frame.samples
                self.last_frame_at = time.monotonic()
                for listener in self.listeners:
                    listener(frame)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
