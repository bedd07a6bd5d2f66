"""The Qt side of the call engine shared by the desk and the station (ui/engine): the latest
frame only, the bridge's failures as ``refused``, its closing in order, the video view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import av
import pytest
from pytestqt.qtbot import QtBot

from calls.engine import CallEngine, EngineEvent
from hub.contract.identity import CallRole
from ui.engine.bridge import EngineBridge
from ui.engine.frames import LatestFrame
from ui.engine.video import VideoView


def frame(width: int = 64, height: int = 48) -> av.VideoFrame:
    return av.VideoFrame(width, height, "yuv420p")


def test_the_latest_frame_asks_for_one_paint_until_it_is_taken() -> None:
    asked: list[int] = []
    slot = LatestFrame(lambda: asked.append(1))
    first, newest = frame(), frame(32, 24)
    for f in (first, frame(), newest):
        slot.put(f)
    assert len(asked) == 1 and slot.frames == 3  # one paint request, however many arrive
    taken = slot.take()
    assert taken is not None and taken[0] is newest  # frames between paints are skipped
    assert slot.take() is None
    slot.put(first)
    assert len(asked) == 2


@pytest.fixture
def bridge(qtbot: QtBot) -> Iterator[EngineBridge]:
    def make(emit: Callable[[EngineEvent], None]) -> CallEngine:
        # Never started: no hub is needed to build the engine or to close it.
        return CallEngine("ws://127.0.0.1:9/ws", "token", CallRole.NURSE, emit)

    made = EngineBridge(make, name="test-bridge")
    yield made
    made.close()


def test_a_failed_action_comes_back_as_refused_on_the_ui_thread(
    bridge: EngineBridge, qtbot: QtBot,
) -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("the call has ended")

    with qtbot.waitSignal(bridge.refused, timeout=5000) as refused:
        bridge.submit(fails())
    assert refused.args == ["the call has ended"]
    assert bridge.engine.role is CallRole.NURSE


def test_closing_closes_the_engine_then_the_loop_and_later_work_does_nothing(
    bridge: EngineBridge,
) -> None:
    ran: list[str] = []

    async def late() -> None:
        ran.append("late")

    bridge.close()
    assert not bridge.loop.thread.is_alive() and bridge.loop.loop.is_closed()
    assert bridge.submit(late()).cancelled() and ran == []
    bridge.close()  # idempotent


def test_the_video_view_paints_frames_put_on_the_engine_thread(
    bridge: EngineBridge, qtbot: QtBot,
) -> None:
    view = VideoView("The caller", "Waiting for video…")
    qtbot.addWidget(view)
    view.resize(320, 240)
    view.show()
    view.follow(bridge.remote, bridge.remoteFrame)
    bridge.loop.call(lambda: bridge.remote.put(frame(160, 120)))  # as a video sink does
    qtbot.waitUntil(lambda: view.painted == 1, timeout=5000)
    # converted on the engine thread at the view's size (the frame's shape kept)
    assert view.frames == 1 and view.image is not None
    assert (view.image.width(), view.image.height()) == (320, 240)
    view.clear("The call has ended")
    assert view.image is None and view.placeholder == "The call has ended"
