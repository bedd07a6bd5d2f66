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


class DeskProgram:
    """The session's desk program; started again for the next test if one killed it (the
    test it died in fails with its stderr, and only that test)."""

    def __init__(self, bus: A11yBus) -> None:
        self.bus = bus
        self.screen = bus.launch(DESK)

    def current(self) -> Screen:
        if not self.screen.program.alive:
            self.screen.close()
            self.screen = self.bus.launch(DESK)
        return self.screen


@pytest.fixture(scope="session")
def desk_program(a11y_bus: A11yBus) -> Iterator[DeskProgram]:
    program = DeskProgram(a11y_bus)
    yield program
    program.screen.close()


@pytest.fixture
def open_desk(desk_program: DeskProgram) -> Iterator[OpenDesk]:
    """``open_desk(hub_url, user, data_dir, font_pt=None)``: a new desk window on the
    sign-in screen, active, on the bus."""
    screen = desk_program.current()

    def open_(hub: str, user: str, data: Path, font_pt: float | None = None) -> Screen:
        screen.do("open", hub=hub, user=user, data=str(data), font_pt=font_pt)
        wait_until(lambda: screen.do("active"), timeout=20,
                   message="the new desk window to be active")
        wait_until(lambda: screen.window().name == "telehub desk", timeout=20,
                   message="the new desk window on the accessibility bus")
        return screen

    yield open_
    # Torn down after the test's hub stopped: a program that died then, with no command
    # left to fail, fails this test here rather than the next one.
    if not screen.program.alive and not screen.program.reported:
        raise screen.program.ended("died during this test or its teardown")
