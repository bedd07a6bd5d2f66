"""Headless Firefox driven over its built-in WebDriver BiDi (plain ``websockets``; no
geckodriver, no downloads).

Firefox is started with a fresh profile whose ``user.js`` fakes the camera and microphone,
skips the permission prompt, allows loopback ICE candidates (the tests run on loopback
only) and turns off every background connection Firefox would otherwise make (updates,
telemetry, captive portal and connectivity checks, safe browsing, Normandy, remote
settings, add-on and plugin updates, pre-fetching). The same methods as
:class:`tests.helpers.chromium.Chromium` (``goto``, ``evaluate``, ``wait_for``,
``screenshot``, ``close``), so one end-to-end flow drives either browser.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

PREFS: dict[str, bool | int | str] = {
    # Fake media, no prompt: the page's getUserMedia gets a test pattern and a tone.
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    # Loopback only here: let ICE use 127.0.0.1 and plain host addresses.
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.autoplay.default": 0,
    # No background network traffic of any kind.
    "app.update.enabled": False,
    "app.update.auto": False,
    "app.update.checkInstallTime": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.shield.optoutstudies.enabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.archive.enabled": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.shutdownPingSender.enabled": False,
    "toolkit.telemetry.firstShutdownPing.enabled": False,
    "toolkit.telemetry.newProfilePing.enabled": False,
    "toolkit.telemetry.updatePing.enabled": False,
    "toolkit.telemetry.bhrPing.enabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.policy.firstRunURL": "",
    "browser.ping-centre.telemetry": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    "services.sync.enabled": False,
    "extensions.update.enabled": False,
    "extensions.update.autoUpdateDefault": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "extensions.blocklist.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "",
    "geo.provider.network.url": "",
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "browser.newtabpage.enabled": False,
    "browser.newtabpage.activity-stream.feeds.telemetry": False,
    "browser.newtabpage.activity-stream.telemetry": False,
    "browser.newtabpage.activity-stream.feeds.topsites": False,
    "browser.newtabpage.activity-stream.feeds.section.topstories": False,
    "browser.topsites.contile.enabled": False,
    "browser.search.update": False,
    "browser.search.geoip.url": "",
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.startup.homepage_override.mstone": "ignore",
    "startup.homepage_welcome_url": "",
    "startup.homepage_welcome_url.additional": "",
    "browser.aboutwelcome.enabled": False,
    "trailhead.firstrun.didSeeAboutWelcome": True,
    "browser.tabs.warnOnClose": False,
    "dom.disable_open_during_load": False,
}


def firefox_binary() -> str | None:
    for name in ("firefox-esr", "firefox"):
        found = shutil.which(name)
        if found:
            return found
    return None


def firefox_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def user_js(prefs: dict[str, bool | int | str]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


class BidiError(RuntimeError):
    """Firefox refused a WebDriver BiDi command or a page script threw."""


def _value(remote: dict[str, Any]) -> Any:
    """A WebDriver BiDi remote value as plain JSON-like Python."""
    kind, value = remote.get("type"), remote.get("value")
    if kind in ("undefined", "null"):
        return None
    if kind == "number":
        if isinstance(value, str):  # "NaN", "-0", "Infinity", "-Infinity"
            return -0.0 if value == "-0" else float(value.replace("Infinity", "inf"))
        return value
    if kind in ("string", "boolean"):
        return value
    if kind == "bigint":
        return int(value or 0)
    if kind in ("array", "set"):
        return [_value(v) for v in value or []]
    if kind in ("object", "map"):
        return {(k if isinstance(k, str) else str(_value(k))): _value(v)
                for k, v in value or []}
    if kind == "date":
        return value
    return {"type": kind}  # nodes, functions and the like: only their kind


class Firefox:
    """One headless Firefox with a fresh profile and one tab, driven over WebDriver BiDi."""

    def __init__(self, binary: str, window: tuple[int, int] = (1024, 768),
                 prefs: dict[str, bool | int | str] | None = None) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="telehub-firefox-"))
        (self.profile / "user.js").write_text(user_js(prefs or PREFS))
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-remote", "--profile", str(self.profile),
             "--remote-debugging-port=0", "--width", str(window[0]),
             "--height", str(window[1]), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.ws: ClientConnection | None = None
        self.context = ""
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._drainer: asyncio.Future[None] | None = None
        self.console: list[str] = []
        self.stderr: list[str] = []

    def _address(self, within: float = 30.0) -> str:
        """Firefox prints where WebDriver BiDi listens once it is ready."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"firefox exited with {self.proc.returncode}: "
                                       + "".join(self.stderr[-20:]))
                continue
            self.stderr.append(line)
            found = re.search(r"WebDriver BiDi listening on (ws://\S+)", line)
            if found:
                return found.group(1)
        raise RuntimeError("firefox did not open WebDriver BiDi: " + "".join(self.stderr[-20:]))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:  # keeps the pipe from filling; ends with firefox
                self.stderr.append(line)
                del self.stderr[:-200]

    async def start(self) -> Firefox:
        address = await asyncio.wait_for(asyncio.to_thread(self._address), 40)
        self._drainer = asyncio.get_running_loop().run_in_executor(None, self._drain)
        self.ws = await connect(address.rstrip("/") + "/session", max_size=64 * 1024 * 1024,
                                ping_interval=None, open_timeout=20)
        self._reader = asyncio.create_task(self._read())
        await self.send("session.new", capabilities={})
        tree = await self.send("browsingContext.getTree", maxDepth=0)
        self.context = tree["contexts"][0]["context"]
        await self.send("session.subscribe", events=["log.entryAdded"])
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("id") is not None:
                fut = self._pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            elif msg.get("method") == "log.entryAdded":
                entry = msg["params"]
                self.console.append(f"{entry.get('level')}: {entry.get('text')}")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        ident = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = fut
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        reply = await asyncio.wait_for(fut, 30)
        if reply.get("type") == "error":
            raise BidiError(f"{method}: {reply.get('error')}: {reply.get('message')}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a page expression (promises awaited), as plain Python."""
        result = await self.send(
            "script.evaluate", expression=expression, awaitPromise=True,
            target={"context": self.context}, resultOwnership="none", userActivation=True,
            serializationOptions={"maxObjectDepth": 20})
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BidiError(f"{expression[:80]}: {details.get('text')}")
        value = _value(result["result"])
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    async def wait_for(self, expression: str, within: float = 30.0) -> Any:
        """Polls a page expression until it is truthy; returns its value."""
        deadline = time.monotonic() + within
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {within} s: {expression}\n"
                                   + "\n".join(self.console[-20:]))
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        await self.send("browsingContext.navigate", context=self.context, url=url,
                        wait="complete")

    async def screenshot(self, path: Path, width: int, height: int) -> None:
        await self.send("browsingContext.setViewport", context=self.context,
                        viewport={"width": width, "height": height})
        shot = await self.send("browsingContext.captureScreenshot", context=self.context)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send("browser.close"), 5)
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
        if self._drainer is not None:
            await asyncio.wait_for(self._drainer, 10)
        elif self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)
