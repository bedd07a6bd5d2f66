"""Headless Firefox driven over its built-in WebDriver BiDi (plain ``websockets``; no
geckodriver, no downloads).

Firefox is started with a fresh profile whose ``user.js`` fakes the camera and microphone,
skips the permission prompt, allows loopback ICE candidates (the tests run on loopback
only) and turns off every background connection Firefox would otherwise make (updates,
telemetry, captive portal and connectivity checks, safe browsing, Normandy, remote
settings, add-on and plugin updates, pre-fetching). A :class:`tests.helpers.driven.DrivenBrowser`
like :class:`tests.helpers.chromium.Chromium`, so one end-to-end flow drives either browser.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.helpers.driven import DrivenBrowser
from tests.helpers.scratch import scratch_parent
from tests.helpers.waiting import wait_until_async

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


class Firefox(DrivenBrowser):
    """One headless Firefox with a fresh profile and one tab, driven over WebDriver BiDi."""

    def __init__(self, binary: str, window: tuple[int, int] = (1024, 768),
                 prefs: dict[str, bool | int | str] | None = None) -> None:
        profile = Path(tempfile.mkdtemp(prefix="telehub-firefox-", dir=scratch_parent()))
        (profile / "user.js").write_text(user_js(prefs or PREFS))
        super().__init__(subprocess.Popen(
            [binary, "--headless", "--no-remote", "--profile", str(profile),
             "--remote-debugging-port=0", "--width", str(window[0]),
             "--height", str(window[1]), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), profile)
        self.context = ""
        self.stderr: list[str] = []
        self.address = ""  # where WebDriver BiDi listens, once Firefox has said so
        self._drainer = threading.Thread(target=self._drain, name="firefox-stderr", daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        """Reads Firefox's output (so the pipe never fills) until Firefox ends, noting the
        line where it says that WebDriver BiDi is ready."""
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.stderr.append(line)
                del self.stderr[:-200]
                found = re.search(r"WebDriver BiDi listening on (ws://\S+)", line)
                if found and not self.address:
                    self.address = found.group(1)

    def _listening(self) -> str:
        if not self.address and self.proc.poll() is not None:
            raise RuntimeError(f"firefox exited with {self.proc.returncode}: "
                               + "".join(self.stderr[-20:]))
        return self.address

    async def start(self) -> Firefox:
        address = await wait_until_async(
            self._listening, 40, interval=0.05,
            message=lambda: "firefox to open WebDriver BiDi: " + "".join(self.stderr[-20:]))
        await self._connect(address.rstrip("/") + "/session", open_timeout=20)
        await self.send("session.new", capabilities={})
        tree = await self.send("browsingContext.getTree", maxDepth=0)
        self.context = tree["contexts"][0]["context"]
        await self.send("session.subscribe", events=["log.entryAdded"])
        return self

    def _event(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "log.entryAdded":
            entry = msg["params"]
            self.console.append(f"{entry.get('level')}: {entry.get('text')}")

    def _error(self, method: str, reply: dict[str, Any]) -> Exception | None:
        if reply.get("type") != "error":
            return None
        return BidiError(f"{method}: {reply.get('error')}: {reply.get('message')}")

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
        await super().close()
        await asyncio.to_thread(self._drainer.join, 10)
