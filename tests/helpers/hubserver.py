"""A real hub (uvicorn + the FastAPI app) on a loopback port, in a thread or a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest import mock

import httpx
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from hub import accounts, schema
from hub.app import create_app
from hub.config import HubConfig
from hub.contract.identity import Principal
from hub.db import make_engine, session_factory, unit_of_work
from hub.routes.deps import HubServices
from hub.serving import server_config
from tests.helpers.waiting import wait_until

# Every staff member the tests enrol has this password unless a test says otherwise.
PASSWORD = "correct horse battery"
# Enrolling hashes the password with argon2id as the hub does (64 MiB and most of a core: a
# quarter of a second, seconds on a loaded machine), and most tests enrol three or more
# people. Staff enrolled with PASSWORD share one real hash of it, made once a process:
# signing in still verifies it with argon2 as in production; only the salt is shared.
_PASSWORD_HASH: list[str] = []


class _HashedOnce:
    """The hub's hasher, except that PASSWORD gets the one hash made of it."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def hash(self, secret: str | bytes, *, salt: bytes | None = None) -> str:
        if secret != PASSWORD or salt is not None:
            return str(self.real.hash(secret, salt=salt))
        if not _PASSWORD_HASH:
            _PASSWORD_HASH.append(self.real.hash(secret))
        return _PASSWORD_HASH[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@contextlib.contextmanager
def _password_hashed_once(password: str) -> Iterator[None]:
    if password != PASSWORD:
        yield
        return
    with mock.patch.object(accounts, "_hasher", _HashedOnce(accounts._hasher)):
        yield


def free_port() -> int:
    """A loopback port free at this moment (another process may take it before it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Seeded:
    principal: Principal
    token: str
    credential: str | None = None


@dataclass
class HubDatabase:
    """A migrated hub database with helpers to enrol staff and sites and mint tokens."""

    url: str
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        engine = make_engine(self.url)
        schema.upgrade(engine)
        self.sessions = session_factory(engine)

    def staff(self, username: str, role: str, password: str = PASSWORD) -> Seeded:
        with _password_hashed_once(password), unit_of_work(self.sessions) as s:
            principal = accounts.add_staff(s, username, role, password, username.title())
            issued = accounts.issue_token(s, principal, timedelta(hours=1))
        return Seeded(principal, issued.token)

    def site(self, name: str, kind: str = "care_home") -> Seeded:
        with unit_of_work(self.sessions) as s:
            principal, credential = accounts.add_site(s, name, kind)
            issued = accounts.issue_token(s, principal, timedelta(hours=1))
        return Seeded(principal, issued.token, credential)

    def dispose(self) -> None:
        self.sessions.kw["bind"].dispose()


class LoopbackHub:
    """A running test hub's addresses on loopback."""

    port: int
    tls = False  # serves HTTPS (a ProcessHub given a certificate)

    @property
    def http(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws"


class _PromptServer(uvicorn.Server):
    """uvicorn's server, woken by :meth:`wake` to notice ``should_exit`` at once rather than
    at its next tick (it sleeps 0.1 s between ticks; a run stops hundreds of test hubs)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(wake.set)


class ThreadedHub(LoopbackHub):
    """The hub app served by uvicorn on its own thread and event loop."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        # Bound (so the port is known) but not listening until start(): a client dialling
        # before then is refused at once, as by a hub that is not running yet. The proto says
        # TCP, as the hub's own socket does, so asyncio turns Nagle off on accepted sockets.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.app = create_app(config)
        # The hub's own uvicorn settings and protocols (its client limits among them).
        self.server = _PromptServer(server_config(
            self.app, config, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self._run, name="test-hub", daemon=True)

    @property
    def services(self) -> HubServices:
        services = self.app.state.services
        assert isinstance(services, HubServices)
        return services

    @property
    def metrics_url(self) -> str:
        """Where its metrics are served (started with ``metrics_port``)."""
        listener = self.services.metrics_listener
        assert listener is not None, "this hub was started without metrics_port"
        return f"http://127.0.0.1:{listener.port}/metrics"

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> ThreadedHub:
        self.sock.listen(128)
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive() and not self.server.started:
                raise RuntimeError("the test hub's thread ended before the hub started")
            return bool(self.server.started)

        wait_until(started, 15, "the test hub to start", interval=0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.wake()
        if self.thread.is_alive():
            self.thread.join(15)
        self.sock.close()


class ProcessHub(LoopbackHub):
    """``telehub-hub serve`` as a real child process (for restarts and SIGKILL), with its
    metrics on a port of its own (``metrics_port``). ``port`` 0 lets the hub choose;
    ``wait=False`` returns at once (start several, then :meth:`wait_started` each)."""

    def __init__(self, db_url: str, *extra: str, port: int = 0, wait: bool = True,
                 trust: str | None = None, env: dict[str, str] | None = None) -> None:
        """``trust``: the certificate (PEM) to trust, for a hub serving HTTPS with it
        (``--tls-cert``); ``env``: variables added to the hub's environment."""
        self.tls = trust is not None
        # What an httpx client needs to reach this hub.
        self.client_options: dict[str, Any] = (
            {"verify": ssl.create_default_context(cafile=trust)} if trust else {})
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--db", db_url, "--port", str(port),
             "--metrics-port", "0", "--log-level", "warning", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.port = 0
        self.metrics_port = 0
        self.output: list[str] = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        if wait:
            self.wait_started()

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def wait_started(self) -> ProcessHub:
        try:
            wait_until(self._listening, 30, lambda: "the hub process to say where it listens:"
                       "\n" + "".join(self.output), interval=0.01)
            wait_until(self._healthy, 15, "the hub process to answer /health",
                       interval=0.05, ignoring=(httpx.HTTPError,))
        except BaseException:
            self.proc.kill()
            raise
        return self

    def _drain(self) -> None:
        """Reads the hub's output until every process holding the pipe has ended; notes the
        port from the line where the hub says it listens. The pipe is closed here, where it
        is read, once it ends: whatever path a test takes (a failed start, a stop that
        raises), none is left to the garbage collector, whose "unclosed file" warning would
        fail some later test."""
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.output.append(line)
                # Any host (--host 0.0.0.0 listens on loopback too), http or https (TLS).
                found = re.search(r"listening on https?://\S+:(\d+) ", line)
                if found and not self.port:
                    metrics = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", line)
                    self.metrics_port = int(metrics.group(1)) if metrics else 0
                    self.port = int(found.group(1))

    def _listening(self) -> int:
        if not self.port and self.proc.poll() is not None:
            raise RuntimeError("hub process ended before it listened:\n" + "".join(self.output))
        return self.port

    def _healthy(self) -> bool:
        return httpx.get(f"{self.http}/health", timeout=1, **self.client_options
                         ).status_code == 200

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        # The output pipe ends when every process holding it has gone: the hub and anything
        # it started (record checkers). One still running after the hub would hang close().
        # _drain closes the pipe when it ends.
        self._drainer.join(10)
        if self._drainer.is_alive():
            raise AssertionError("a process started by the hub outlived it (its output "
                                 "pipe is still open 10 s after the hub ended)")


class HubStarter:
    """Starts test hubs on one database with shared default timings; stops them all after."""

    def __init__(self, db_url: str, defaults: dict[str, Any]) -> None:
        self.db_url, self.defaults = db_url, defaults
        self.started: list[ThreadedHub] = []

    def __call__(self, **overrides: Any) -> ThreadedHub:
        settings: dict[str, Any] = {**self.defaults, **overrides}
        hub = ThreadedHub(HubConfig(db_url=self.db_url, **settings)).start()
        self.started.append(hub)
        return hub

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()
