"""What headless Chromium (DevTools protocol) and Firefox (WebDriver BiDi) share as driven
browsers: a child process with a fresh profile, JSON commands over one WebSocket answered by
id, the page's console kept for failure messages, and polling a page expression."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from tests.helpers.waiting import wait_until_async

# The longest one look at the page in wait_for may take (a state check takes milliseconds).
LOOK_S = 5.0


class DrivenBrowser:
    """The protocol-independent half; a subclass says how a reply carries an error
    (``_error``), which events it keeps (``_event``) and how to evaluate a page expression."""

    def __init__(self, proc: subprocess.Popen[Any], profile: Path) -> None:
        self.proc, self.profile = proc, profile
        self.ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.console: list[str] = []

    def _error(self, method: str, reply: dict[str, Any]) -> Exception | None:
        raise NotImplementedError

    def _event(self, msg: dict[str, Any]) -> None:
        raise NotImplementedError

    async def start(self) -> DrivenBrowser:
        """Connects to the browser's remote protocol and opens its page; returns itself."""
        raise NotImplementedError

    async def evaluate(self, expression: str) -> Any:
        """The value of a page expression (promises awaited), as plain Python."""
        raise NotImplementedError

    async def goto(self, url: str) -> None:
        """Opens ``url`` in the page and waits until it has loaded."""
        raise NotImplementedError

    async def screenshot(self, path: Path, width: int, height: int) -> None:
        """Saves the page, laid out at ``width`` x ``height``, as a PNG."""
        raise NotImplementedError

    async def _connect(self, address: str, **options: Any) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(address, max_size=64 * 1024 * 1024, ping_interval=None,
                                **options)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("id") is not None:
                fut = self._pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            else:
                self._event(msg)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        ident = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = fut
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        reply = await asyncio.wait_for(fut, 30)
        error = self._error(method, reply)
        if error is not None:
            raise error
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def wait_for(self, expression: str, within: float = 30.0) -> Any:
        """Polls a page expression until it is truthy; returns its value. A timeout names
        the expression and shows the page's last console lines."""
        async def poll() -> Any:
            # One look is bounded and, if it takes too long, counts as "not yet": a look
            # whose promise never settles (Firefox's getStats() on a peer connection being
            # replaced, seen in CI) would otherwise end the whole wait at send()'s 30 s
            # instead of looking again within ``within``.
            return await asyncio.wait_for(self.evaluate(expression), min(within, LOOK_S))

        return await wait_until_async(
            poll, within, interval=0.1, ignoring=(TimeoutError,),
            message=lambda: f"the page to make {expression} true; its console:\n"
                            + "\n".join(self.console[-20:]))

    async def close(self) -> None:
        """Closes the socket and ends the process (politely, then not) and its profile."""
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait, 10)
        shutil.rmtree(self.profile, ignore_errors=True)
