"""Waiting for a condition instead of sleeping: ``wait_until`` polls until it holds,
``holds_for`` checks that it keeps holding for a while (each with an async twin), and a
timeout says what was waited for."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
Message = str | Callable[[], str]


class WaitTimeout(AssertionError):
    """A condition did not come true in time (an assertion: the test fails, it does not err)."""


def _text(message: Message) -> str:
    return message() if callable(message) else message


def wait_until(condition: Callable[[], T], timeout: float = 10.0, message: Message = "",
               interval: float = 0.02, ignoring: tuple[type[Exception], ...] = (),
               pause: Callable[[float], object] = time.sleep) -> T:
    """Polls ``condition`` until it returns something truthy and returns that. On timeout
    raises :class:`WaitTimeout` naming ``message`` (a callable is asked only then, for
    details such as a log's last lines). Exceptions of the ``ignoring`` types count as "not
    yet" (a server still starting refuses connections); any other exception ends the wait.
    ``pause`` sleeps between polls; a Qt test passes one that keeps the event loop running."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
        except ignoring as exc:
            last, value = exc, None  # type: ignore[assignment]
        else:
            last = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"waited {timeout:g} s for {_text(message) or condition!r}"
                              + (f" (last: {last!r})" if last is not None else "")) from last
        pause(interval)


async def wait_until_async(condition: Callable[[], T | Awaitable[T]], timeout: float = 10.0,
                           message: Message = "", interval: float = 0.02,
                           ignoring: tuple[type[Exception], ...] = ()) -> T:
    """:func:`wait_until` on an event loop: ``condition`` may be a coroutine function (a page
    script to evaluate, a query to the hub), and the loop runs on between polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Exception | None = None
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            last, value = exc, None
        else:
            last = None
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise WaitTimeout(f"waited {timeout:g} s for {_text(message) or condition!r}"
                              + (f" (last: {last!r})" if last is not None else "")) from last
        await asyncio.sleep(interval)


def holds_for(condition: Callable[[], object], duration: float, message: Message = "",
              interval: float = 0.02, pause: Callable[[float], object] = time.sleep) -> None:
    """Asserts that ``condition`` stays true for ``duration`` seconds (something must *not*
    happen: no reconnect, no poll, no frame), failing the moment it turns false."""
    deadline = time.monotonic() + duration
    while True:
        if not condition():
            raise AssertionError(f"stopped holding within {duration:g} s: "
                                 f"{_text(message) or condition!r}")
        if time.monotonic() >= deadline:
            return
        pause(interval)


async def holds_for_async(condition: Callable[[], object], duration: float,
                          message: Message = "", interval: float = 0.02) -> None:
    """:func:`holds_for` on an event loop, which runs on while the condition is watched;
    ``condition`` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if not value:
            raise AssertionError(f"stopped holding within {duration:g} s: "
                                 f"{_text(message) or condition!r}")
        if loop.time() >= deadline:
            return
        await asyncio.sleep(interval)


def qt_pause(qtbot: object) -> Callable[[float], object]:
    """A ``pause`` for :func:`wait_until`/:func:`holds_for` in a Qt test: the Qt event loop
    keeps running (signals delivered, widgets painted) between polls."""
    wait: Callable[[int], object] = qtbot.wait  # type: ignore[attr-defined]
    return lambda seconds: wait(max(1, round(seconds * 1000)))
