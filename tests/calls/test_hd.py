"""HD calls between two aiortc engines: 1280x720 in H.264 (preferred) and in VP8, the agreed
codec and size in the quality report, and a camera switch mid-call without a new offer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calls.cameras import open_camera, synthetic_camera, which_camera
from calls.engine import CallEngine
from calls.media import HD, MediaSource, read_pattern
from calls.session import QualityReport, SessionOptions
from tests.calls.test_call import answered_call
from tests.helpers.engines import frame_where, stamps_of
from tests.helpers.fixtures import People
from tests.helpers.hubserver import ThreadedHub
from ui.engine.quality import quality_words

pytestmark = pytest.mark.slow


def hd_camera() -> MediaSource:
    return MediaSource.synthetic(size=HD)


@pytest.mark.parametrize("codecs", [("H264", "VP8"), ("VP8",)], ids=["h264", "vp8"])
async def test_an_hd_call_in_each_codec_and_a_camera_switch_mid_call(
        hub: ThreadedHub, people: People, engines: Callable[..., CallEngine],
        codecs: tuple[str, ...]) -> None:
    opts = SessionOptions(video_codecs=codecs, vp8_hd=True, auto_mode=False)
    _, _, caller, answerer, _, desk_log = await answered_call(
        hub, people, engines, options=opts, media=hd_camera)
    site_pid, desk_pid = people.site.principal.participant_id, people.nurse.principal.participant_id
    at_desk, at_site = answerer.links[site_pid], caller.links[desk_pid]
    assert at_desk.codec == at_site.codec == codecs[0]
    for link in (at_desk, at_site):  # 1280x720 decoded both ways, the pattern readable
        assert link.video is not None
        frame = await frame_where(link.video, lambda f: read_pattern(f) is not None, within=10)
        assert (frame.width, frame.height) == (1280, 720)
    assert at_desk.video is not None
    counters = stamps_of(at_desk.video)
    await frame_where(at_desk.video, lambda f: len(counters) >= 10, within=10)
    assert counters == sorted(counters) and which_camera(counters[-1]) == 0

    # the indicator's words: the size and codec received, the mode and codec sent
    report = await desk_log.wait(lambda e: isinstance(e, QualityReport) and any(
        q.height_in == 720 for q in e.links), within=5)
    assert isinstance(report, QualityReport) and report.profile == "hd"
    label = "H.264" if codecs[0] == "H264" else "VP8"
    _, detail = quality_words(report.links, report.profile, report.sent_size)
    assert f"receiving 1280x720 {label}" in detail and f"sending 1280x720 {label}" in detail

    if codecs[0] != "H264":
        return  # the switch is the same code path whatever the codec
    # the station switches to its second camera: frames from it arrive on the same link
    track, players = open_camera(synthetic_camera(1, hd=True))
    caller.switch_camera(track, players)
    frame = await frame_where(at_desk.video, lambda f: (
        (s := read_pattern(f)) is not None and which_camera(s.counter) == 1), within=10)
    assert (frame.width, frame.height) == (1280, 720)
    assert answerer.links[site_pid] is at_desk and at_desk.generation == 1  # not redialled
