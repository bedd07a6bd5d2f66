"""Media sources and sinks: the pattern's code survives VP8, profiles, audio-only, the tone."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
from aiortc.codecs import get_decoder, get_encoder
from aiortc.codecs.vpx import vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from calls.media import (
    FULL,
    LOW,
    MediaSource,
    SyntheticVideoTrack,
    ToneAudioTrack,
    VideoSink,
    make_pattern_frame,
    read_pattern,
)
from tests.helpers.engines import frame_where
from tests.helpers.waiting import holds_for_async, wait_until_async

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000)
VP8_TB = fractions.Fraction(1, 90000)


def test_pattern_round_trip_raw() -> None:
    for w, h in ((640, 480), (320, 240)):
        frame = make_pattern_frame(w, h, 123456, 1_700_000_000_123)
        stamp = read_pattern(frame)
        assert stamp is not None
        assert (stamp.counter, stamp.sent_ms) == (123456, 1_700_000_000_123)


def test_a_frame_that_is_not_the_pattern_reads_as_none() -> None:
    frame = av.VideoFrame(320, 240, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes([128]) * plane.buffer_size)
    assert read_pattern(frame) is None


def test_pattern_survives_vp8_at_the_bitrate_floor() -> None:
    encoder, decoder = get_encoder(VP8), get_decoder(VP8)
    encoder.target_bitrate = 250_000  # aiortc's floor: the worst it will ever send
    read: list[int] = []
    for n in range(30):
        frame = make_pattern_frame(320, 240, n, 1_000 + n)
        frame.pts, frame.time_base = n * 6000, VP8_TB
        payloads, _ = encoder.encode(frame, force_keyframe=(n == 0))
        data = b"".join(vp8_depayload(p) for p in payloads)
        for out in decoder.decode(JitterFrame(data=data, timestamp=n * 6000)):
            stamp = read_pattern(out)
            assert stamp is not None
            read.append(stamp.counter)
    assert read == list(range(30))


async def test_synthetic_track_is_paced_and_counts() -> None:
    track = SyntheticVideoTrack(LOW)
    start = time.monotonic()
    stamps = [read_pattern(await track.recv()) for _ in range(16)]
    elapsed = time.monotonic() - start
    assert [s.counter for s in stamps if s] == list(range(16))
    assert 0.9 <= elapsed <= 1.5  # 15 fps: frame 15 is due at 1.0 s
    track.stop()


async def test_tone_frames_are_20ms_of_48k_audio() -> None:
    tone = ToneAudioTrack()
    frame = await tone.recv()
    assert (frame.sample_rate, frame.samples) == (48000, 960)
    assert max(abs(int.from_bytes(bytes(frame.planes[0])[i:i + 2], "little", signed=True))
               for i in range(0, 1920, 2)) > 2000
    tone.stop()


async def test_profile_and_audio_only_apply_to_every_subscriber() -> None:
    source = MediaSource.synthetic(profile=LOW)
    _, video = source.subscribe()
    assert video is not None
    sink = VideoSink(video)
    await asyncio.wait_for(sink.first_frame, 2)
    # a 4:3 camera keeps its shape in the 240-line box
    assert sink.latest is not None and (sink.latest.width, sink.latest.height) == (320, 240)
    image = sink.latest_rgb()
    assert image is not None and len(image.data) == 320 * 240 * 3
    assert sink.latest_rgb() is image  # converted once per frame, not per paint
    source.set_profile(FULL)
    await frame_where(sink, lambda f: f.width == 640)  # fits the 480p box as it is
    source.set_audio_only(True)
    before = sink.frames
    # Nothing sent while audio-only (but a frame that was already on its way).
    await holds_for_async(lambda: sink.frames <= before + 1, 0.6,
                          "no video frames while audio-only")
    source.set_audio_only(False)
    await frame_where(sink, lambda f: True)
    await source.close()
    await sink.stop()


async def test_the_sink_skips_a_backlog_to_the_newest_frame() -> None:
    """After an outage aiortc's receiver hands over everything it decoded meanwhile: the sink
    shows the newest frame, not seconds of old ones one after another."""
    track = RemoteStreamTrack(kind="video")  # aiortc's own receiving track
    sink = VideoSink(track)
    seen: list[int] = []
    sink.listeners.append(lambda f: seen.append(getattr(read_pattern(f), "counter", -1)))
    for n in range(90):  # three seconds of frames, all waiting at once
        track._queue.put_nowait(make_pattern_frame(320, 240, n, 1_000 + n))
    await wait_until_async(lambda: sink.frames >= 1, 2, "the sink to take a frame")
    assert seen == [89] and sink.skipped == 89
    track._queue.put_nowait(make_pattern_frame(320, 240, 90, 2_000))
    await wait_until_async(lambda: sink.frames >= 2, 2, "the next live frame")
    assert seen == [89, 90]
    track._queue.put_nowait(None)  # the track ends: the sink stops reading
    await sink.stop()
