"""The desk program of the AT-SPI tests: one process a test session (a Qt program with the
call engine takes seconds to start), given a new desk window by each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.atspi import A11yBus, Screen
from tests.helpers.waiting import wait_until

DESK = "tests.ui.a11y.desk_program"
OpenDesk = Callable[..., Screen]


@pytest.fixture(scope="session")
def desk_program(a11y_bus: A11yBus) -> Iterator[Screen]:
    screen = a11y_bus.launch(DESK)
    yield screen
    screen.close()


@pytest.fixture
def open_desk(desk_program: Screen) -> OpenDesk:
    """``open_desk(hub_url, user, data_dir, font_pt=None)``: a new desk window on the
    sign-in screen, active, on the bus."""
    def open_(hub: str, user: str, data: Path, font_pt: float | None = None) -> Screen:
        desk_program.do("open", hub=hub, user=user, data=str(data), font_pt=font_pt)
        wait_until(lambda: desk_program.do("active"), timeout=20,
                   message="the new desk window to be active")
        wait_until(lambda: desk_program.window().name == "telehub desk", timeout=20,
                   message="the new desk window on the accessibility bus")
        return desk_program

    return open_
