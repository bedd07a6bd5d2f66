"""The other parties' voices through the desk's speakers (QtMultimedia), or plainly why not.

Remote audio arrives on the engine thread as decoded frames (the engine's ``AudioSink``).
Each participant gets a :class:`VoiceQueue`: the engine thread resamples frames to 16-bit
stereo at 48 kHz and appends them, the UI thread takes what its audio output can hold every
20 ms. The queue keeps at most a quarter of a second: a stalled output drops old speech
rather than falling further and further behind the picture.

Where there is no sound server (offscreen, CI, a locked-down machine) QtMultimedia is never
loaded at all (it would only warn and fail); :func:`audio_output_problem` says why, for the
status bar.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import av
from PySide6.QtCore import QIODevice, QLoggingCategory, QObject, QTimer, Slot

RATE, CHANNELS, BYTES_PER_SAMPLE = 48_000, 2, 2
MAX_QUEUED_S = 0.25
PUMP_MS = 20


def audio_output_problem(env: dict[str, str] | None = None,
                         platform: str = sys.platform) -> str | None:
    """None when the desk can play sound; otherwise why not, in plain words."""
    env = dict(os.environ) if env is None else env
    if platform != "linux":
        return None  # CoreAudio / WASAPI: Qt's own backends, always there
    if env.get("PULSE_SERVER"):
        return None
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and any((Path(runtime) / name).exists() for name in ("pulse/native",
                                                                     "pipewire-0")):
        return None
    return "no sound server (PulseAudio or PipeWire) is running"


def multimedia() -> ModuleType | None:
    """PySide6.QtMultimedia, or None where it cannot play anything (see module doc)."""
    if audio_output_problem() is not None:
        return None
    # Qt probes for optional libraries (PipeWire, VA-API) and warns for each one missing:
    # noise, not trouble, when a sound server answers.
    QLoggingCategory.setFilterRules("qt.multimedia.symbolsresolver.warning=false")
    try:
        return importlib.import_module("PySide6.QtMultimedia")
    except ImportError:
        return None


def voice_status() -> str:
    problem = audio_output_problem()
    if problem is not None:
        return f"voices not played: {problem}"
    module = multimedia()
    if module is None:
        return "voices: not played (QtMultimedia is not installed: PySide6-Addons)"
    if module.QMediaDevices.defaultAudioOutput().isNull():
        return "voices: not played (no audio output device)"
    return "voices: QtMultimedia"


class VoiceQueue:
    """One participant's decoded audio, from the engine thread to the UI thread."""

    def __init__(self, max_seconds: float = MAX_QUEUED_S) -> None:
        self._lock = threading.Lock()
        self._data = bytearray()
        self._max = int(max_seconds * RATE) * CHANNELS * BYTES_PER_SAMPLE
        self._resampler: av.AudioResampler | None = None
        self._input: tuple[str, str, int] | None = None
        self.dropped = 0  # bytes thrown away because the output fell behind

    def put(self, frame: av.AudioFrame) -> None:
        """Engine thread: resample and append (the oldest goes when over the limit)."""
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or shape != self._input:
            # A resampler is bound to its first input's shape (a new codec setting: anew).
            self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
            self._input = shape
        pcm = b"".join(bytes(f.planes[0])[:f.samples * CHANNELS * BYTES_PER_SAMPLE]
                       for f in self._resampler.resample(frame))
        with self._lock:
            self._data += pcm
            over = len(self._data) - self._max
            if over > 0:
                over += (-over) % (CHANNELS * BYTES_PER_SAMPLE)  # whole samples only
                del self._data[:over]
                self.dropped += over

    def take(self, limit: int) -> bytes:
        """UI thread: up to ``limit`` bytes (whole stereo samples), oldest first."""
        limit -= limit % (CHANNELS * BYTES_PER_SAMPLE)
        with self._lock:
            out = bytes(self._data[:limit])
            del self._data[:limit]
        return out


class VoicePlayer(QObject):
    """Plays each participant's :class:`VoiceQueue` on an audio output of its own (the
    system mixes them). ``open_output`` makes the output for one voice, or None where it
    cannot (tests hand in a buffer)."""

    def __init__(self, open_output: Callable[[QObject], VoiceOutput | None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._open = open_output or _qt_audio_output
        self._voices: dict[str, tuple[VoiceQueue, VoiceOutput]] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(PUMP_MS)
        self._timer.timeout.connect(self.on_pump)

    @property
    def playing(self) -> list[str]:
        return list(self._voices)

    def play(self, participant_id: str, queue: VoiceQueue) -> bool:
        """Starts playing one voice (again, after a link was replaced: same output)."""
        if participant_id in self._voices:
            return True
        output = self._open(self)
        if output is None:
            return False
        self._voices[participant_id] = (queue, output)
        self._timer.start()
        return True

    def stop(self) -> None:
        """The call ended: every output closes."""
        self._timer.stop()
        for _queue, output in self._voices.values():
            output.close()
        self._voices.clear()

    @Slot()
    def on_pump(self) -> None:
        for queue, output in self._voices.values():
            free = output.room()
            if free > 0:
                pcm = queue.take(free)
                if pcm:
                    output.device.write(pcm)


@dataclass
class VoiceOutput:
    """Where one voice is written: ``device`` takes up to ``room()`` bytes now."""

    device: QIODevice
    room: Callable[[], int]
    close: Callable[[], None]


def _qt_audio_output(parent: QObject) -> VoiceOutput | None:
    module = multimedia()
    if module is None:
        return None
    out = module.QMediaDevices.defaultAudioOutput()
    if out.isNull():
        return None
    fmt = module.QAudioFormat()
    fmt.setSampleRate(RATE)
    fmt.setChannelCount(CHANNELS)
    fmt.setSampleFormat(module.QAudioFormat.SampleFormat.Int16)
    sink = module.QAudioSink(out, fmt, parent)
    sink.setBufferSize(int(0.1 * RATE) * CHANNELS * BYTES_PER_SAMPLE)
    device = sink.start()
    if device is None:
        sink.deleteLater()
        return None

    def close() -> None:
        sink.stop()
        sink.deleteLater()

    return VoiceOutput(device, sink.bytesFree, close)
