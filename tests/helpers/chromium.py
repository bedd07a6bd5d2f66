"""Headless Chromium driven over the DevTools protocol (plain ``websockets``, no downloads)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.driven import DrivenBrowser
from tests.helpers.scratch import scratch_parent
from tests.helpers.waiting import wait_until

# Three fake cameras (the caller page's camera choice), each up to 1280x720 on request. The
# second is a depth camera (16-bit grey) that no video encoder takes; the third is a colour
# one like the first.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
         "--use-fake-device-for-media-stream=device-count=3",
         "--use-fake-ui-for-media-stream", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--mute-audio", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1")
# Without the fake UI flag Chromium asks the user; with this one it answers "block".
DENY_FLAGS = (*(f for f in FLAGS if f != "--use-fake-ui-for-media-stream"),
              "--deny-permission-prompts")


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CdpError(RuntimeError):
    """The browser refused a DevTools command or a page script threw."""


class Chromium(DrivenBrowser):
    """One headless Chromium with a fresh profile, and one page target driven over CDP."""

    def __init__(self, binary: str, flags: tuple[str, ...] = FLAGS,
                 window: tuple[int, int] = (1024, 768)) -> None:
        profile = Path(tempfile.mkdtemp(prefix="telehub-chromium-", dir=scratch_parent()))
        super().__init__(subprocess.Popen(
            [binary, *flags, f"--user-data-dir={profile}",
             f"--window-size={window[0]},{window[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), profile)

    def _port(self, within: float = 20.0) -> int:
        active = self.profile / "DevToolsActivePort"

        def port() -> int:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            return int(active.read_text().splitlines()[0])

        return wait_until(port, within, "chromium to open its DevTools port", interval=0.05,
                          ignoring=(FileNotFoundError, ValueError, IndexError))

    async def start(self) -> Chromium:
        port = await asyncio.to_thread(self._port)
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        await self._connect(page["webSocketDebuggerUrl"])
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    def _event(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "Runtime.consoleAPICalled":
            args = msg["params"].get("args", [])
            self.console.append(" ".join(str(a.get("value", a.get("description")))
                                         for a in args))
        elif msg.get("method") == "Runtime.exceptionThrown":
            self.console.append("exception: " + json.dumps(msg["params"])[:500])

    def _error(self, method: str, reply: dict[str, Any]) -> Exception | None:
        return CdpError(f"{method}: {reply['error']}") if "error" in reply else None

    async def evaluate(self, expression: str) -> Any:
        """The value of a page expression (promises awaited), as JSON."""
        result = await self.send("Runtime.evaluate", expression=expression,
                                 awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def screenshot(self, path: Path, width: int, height: int) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        shot = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
