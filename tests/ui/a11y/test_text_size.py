"""The desk and the manager view at a large system font (22 pt, what a low-vision user's
desktop gives every program): headings and figures grow with it (never smaller than body
text) and no label, button, field or note box cuts its text. Screenshots of each screen at
that size are kept under SHOTS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.contract import signaling as p
from tests.helpers.atspi import Screen
from tests.helpers.fixtures import SHOTS, STEADY, People
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from tests.ui.a11y.conftest import OpenDesk
from tests.ui.a11y.screens import wait_state
from tests.ui.a11y.test_manager_atspi import dashboard
from tests.ui.conftest import PRE_CALL, SiteCaller

pytestmark = pytest.mark.slow
LARGE = 22.0


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    return STEADY


def assert_fits(screen: Screen, name: str) -> None:
    cut = screen.do("fit")
    screen.shot(SHOTS / f"a11y-large-{name}.png")
    assert cut == [], f"{name} at {LARGE:g} pt cuts text: {cut}"
    sizes = screen.do("sizes")
    assert sizes["body"] == LARGE
    for role in set(sizes) - {"body"}:
        assert sizes[role] > sizes["body"], (name, sizes)


def test_the_desk_at_a_large_system_font(open_desk: OpenDesk, hub: ThreadedHub, people: People,
                                         site_caller: SiteCaller, tmp_path: Path) -> None:
    screen = open_desk(hub.http, "nina", tmp_path, font_pt=LARGE)
    assert_fits(screen, "signin")
    screen.do("sign_in", password=PASSWORD)
    wait_state(screen, screen="desk", hub_up=True)
    site_caller.request("Fall, now confused", urgency=p.Urgency.URGENT,
                        observations=PRE_CALL)
    wait_state(screen, queue=1)
    assert_fits(screen, "queue")
    screen.keys("Return")  # focus is on the queue: Enter answers the call
    wait_state(screen, tab="Call")
    assert_fits(screen, "call")


def test_the_manager_view_at_a_large_system_font(open_desk: OpenDesk, hub: ThreadedHub,
                                                 hubdb: HubDatabase, tmp_path: Path) -> None:
    assert_fits(dashboard(open_desk, hub, hubdb, tmp_path, font_pt=LARGE), "manager")
