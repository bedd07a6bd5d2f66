"""The desk's media: mute, camera off and hold reach the caller through the session's own
switches; the caller's voice reaches the desk's audio output; no sound server, plain words."""

from __future__ import annotations

import fractions
import math
from typing import Any

import av
import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt

from calls.media import read_pattern
from calls.session import CallState
from hub.contract import signaling as p
from tests.helpers.fixtures import People
from tests.helpers.hubserver import ThreadedHub
from tests.ui.conftest import SiteCaller, signed_in
from ui.desk.audio import (
    BYTES_PER_SAMPLE,
    CHANNELS,
    RATE,
    VoiceOutput,
    VoicePlayer,
    VoiceQueue,
    audio_output_problem,
)


def tone(samples: int = 960, rate: int = 48_000, amplitude: int = 8000) -> av.AudioFrame:
    pcm = b"".join(int(amplitude * math.sin(2 * math.pi * 440 * i / rate)).to_bytes(
        2, "little", signed=True) for i in range(samples))
    frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
    frame.planes[0].update(pcm)
    frame.sample_rate = rate
    frame.time_base = fractions.Fraction(1, rate)
    frame.pts = 0
    return frame


class BufferOutput:
    """An audio output that is a QBuffer taking ``room`` bytes per pump."""

    def __init__(self, room: int = 1_000_000) -> None:
        self.data = QByteArray()
        self.buffer = QBuffer(self.data)
        self.buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.space = room
        self.closed = False

    def open(self, _parent: QObject) -> VoiceOutput:
        def close() -> None:
            self.closed = True
            self.buffer.close()

        return VoiceOutput(self.buffer, lambda: self.space, close)


def test_voice_queue_resamples_to_stereo_and_never_grows_past_its_limit() -> None:
    queue = VoiceQueue(max_seconds=0.1)
    queue.put(tone(samples=480, rate=24_000))  # 20 ms at another rate, mono
    pcm = queue.take(1_000_000)
    assert len(pcm) % (CHANNELS * BYTES_PER_SAMPLE) == 0
    assert abs(len(pcm) - int(0.02 * RATE) * CHANNELS * BYTES_PER_SAMPLE) <= 64 * 4
    left = [int.from_bytes(pcm[i:i + 2], "little", signed=True)
            for i in range(0, len(pcm), 4)]
    right = [int.from_bytes(pcm[i + 2:i + 4], "little", signed=True)
             for i in range(0, len(pcm), 4)]
    assert max(left) > 3000 and left == right  # the tone, on both channels
    for _ in range(50):  # a second of speech while the output is stalled
        queue.put(tone())
    assert len(queue.take(10_000_000)) <= int(0.1 * RATE) * CHANNELS * BYTES_PER_SAMPLE
    assert queue.dropped > 0


def test_player_writes_only_what_the_output_has_room_for(qtbot: Any) -> None:
    out = BufferOutput(room=1000)
    player = VoicePlayer(out.open)
    queue = VoiceQueue()
    queue.put(tone())
    assert player.play("site:1", queue) and player.playing == ["site:1"]
    player.on_pump()
    assert out.data.size() == 1000  # whole samples, no more than the room
    out.space = 1_000_000
    qtbot.waitUntil(lambda: out.data.size() == int(0.02 * RATE) * CHANNELS * BYTES_PER_SAMPLE,
                    timeout=2_000)
    player.stop()
    assert out.closed and player.playing == []


def test_no_sound_server_is_said_plainly() -> None:
    assert audio_output_problem({}, "linux") == (
        "no sound server (PulseAudio or PipeWire) is running")
    assert audio_output_problem({"PULSE_SERVER": "unix:/run/pulse"}, "linux") is None
    assert audio_output_problem({}, "darwin") is None


def test_a_desk_without_a_sound_server_says_so_and_still_rings(
        qtbot: Any, desk_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    desk = desk_factory()
    status = desk.statusBar().currentMessage()
    assert ("ring: system beep only · voices not played: no sound server (PulseAudio or "
            "PipeWire) is running") in status
    rings: list[str] = []
    desk.ringer.rang.connect(rings.append)
    desk.ringer.ring("URGENT: Beech House")
    assert rings == ["URGENT: Beech House"]
    desk.ringer.stop()


@pytest.mark.slow
def test_switches_reach_the_caller_and_the_callers_voice_is_played(
        qtbot: Any, hub: ThreadedHub, people: People, site_caller: SiteCaller,
        desk_factory: Any) -> None:
    out = BufferOutput()
    desk = desk_factory(voice_output=out.open)
    signed_in(qtbot, desk, hub, "nina")
    site = site_caller.request("Breathless", urgency=p.Urgency.URGENT)
    qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 1, timeout=10_000)
    desk.on_answer(desk.queue.model.entries[0].call_id)
    qtbot.waitUntil(lambda: desk.call.started_at is not None, timeout=15_000)
    # the caller's own loop marks it in call when its end of the link connects, which may
    # be a moment after the desk's end: wait for it rather than race it
    qtbot.waitUntil(lambda: site.state is CallState.IN_CALL, timeout=10_000)
    nurse = people.nurse.principal.participant_id

    # The caller's tone reaches the desk's output, as 48 kHz stereo PCM.
    qtbot.waitUntil(lambda: out.data.size() > RATE * CHANNELS * BYTES_PER_SAMPLE // 5,
                    timeout=10_000)
    pcm = bytes(out.data.data())
    assert any(pcm[i:i + 2] != b"\0\0" for i in range(0, 4000, 2))

    def black_at_site() -> bool:
        """The last frame the caller got from the desk is black (not the pattern)."""
        sink = site.remote_video(nurse)
        frame = sink.latest if sink is not None else None
        return (frame is not None and read_pattern(frame) is None
                and max(bytes(frame.planes[0])[::97]) <= 40)

    heard: list[bool] = []  # per frame the caller got from the desk: silent?
    voice = site.remote_audio(nurse)
    assert voice is not None
    voice.listeners.append(lambda f: heard.append(not any(bytes(f.planes[0]))))

    def silent_at_site() -> bool:
        return len(heard) > 5 and all(heard[-5:])

    desk_session = desk.bridge.engine.sessions[desk.current]
    assert not black_at_site() and not silent_at_site()
    qtbot.mouseClick(desk.call.camera, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(black_at_site, timeout=5_000)
    assert desk.call.camera.text() == "Camera on" and desk_session.camera_off
    qtbot.mouseClick(desk.call.mute, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(silent_at_site, timeout=5_000)
    assert desk.call.mute.text() == "Unmute"
    qtbot.mouseClick(desk.call.camera, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(desk.call.mute, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not black_at_site() and not silent_at_site(), timeout=5_000)

    # Hold: black and silence to the caller, the caller covered here; resume restores.
    qtbot.mouseClick(desk.call.hold, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: black_at_site() and silent_at_site(), timeout=5_000)
    assert desk_session.on_hold and "On hold" in desk.call.remote.overlay
    qtbot.mouseClick(desk.call.hold, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not black_at_site() and not silent_at_site(), timeout=5_000)
    assert not desk_session.on_hold and desk.call.remote.overlay == ""
    assert site.links[nurse].generation == 1  # never taken for a dead link meanwhile

    desk.on_end()
    qtbot.waitUntil(lambda: desk.current is None, timeout=10_000)
    assert out.closed and desk.voices.playing == []
