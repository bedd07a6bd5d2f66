"""The station's media switches and pre-call device check, without a network."""

from __future__ import annotations

import av

from calls.media import MediaSource
from ui.station.media import Switches, check_devices, media_factory


async def test_the_check_reports_a_working_camera_and_microphone() -> None:
    found = await check_devices(media_factory("synthetic", Switches()))
    assert found.camera == "640 x 480" and found.microphone and found.problem == ""


async def test_a_camera_that_cannot_be_opened_is_said_plainly() -> None:
    def broken() -> MediaSource:
        raise OSError("/dev/video0: Permission denied")

    found = await check_devices(broken)
    assert found.camera is None and not found.microphone
    assert "could not be opened" in found.problem and "Permission denied" in found.problem


async def test_mute_sends_silence_and_camera_off_sends_black_frames_of_the_same_shape() -> None:
    switches = Switches()
    seen: list[av.VideoFrame] = []
    switches.on_frame = seen.append
    media = media_factory("synthetic", switches)()
    try:
        assert media.audio is not None and media.video is not None
        loud = await media.audio.recv()
        switches.muted = switches.camera_off = True
        quiet = await media.audio.recv()
        assert isinstance(loud, av.AudioFrame) and isinstance(quiet, av.AudioFrame)
        assert quiet.samples == loud.samples and not any(bytes(quiet.planes[0]))
        frame = await media.video.recv()
        assert isinstance(frame, av.VideoFrame) and seen  # the self view saw it too
        luma = bytes(frame.reformat(format="yuv420p").planes[0])
        assert max(luma) <= 20  # black
    finally:
        await media.close()
