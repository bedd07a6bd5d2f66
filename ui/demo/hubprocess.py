"""The demo's hub: ``telehub-hub`` itself, run as a child process on the embedded SQLite file.

The demo goes the administrator's way: ``db upgrade``, ``add-staff`` for its admin (the
password on stdin, never on the command line), then ``serve``. The hub's output goes to a log
file in the demo's folder; what a newcomer needs from it comes back as one plain line.
"""

from __future__ import annotations

import errno
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from ui.demo.errors import DemoError

_LISTENING = re.compile(r"listening on (http://\S+):(\d+)")


def check_port_free(host: str, port: int) -> None:
    """Raises DemoError with what to do when ``port`` is taken (0 means any free port)."""
    if port == 0:
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DemoError(
                f"port {port} on {host} is in use (another hub or demo running?): stop it, "
                "or run `telehub-demo --port 0` to let the demo pick a free port") from None
        raise DemoError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    finally:
        sock.close()


class DemoHub:
    """``telehub-hub serve`` in a child process; :meth:`stop` ends it."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int = 8470) -> None:
        self.db_url = f"sqlite:///{data_dir / 'hub.db'}"
        self.log_path = data_dir / "hub.log"
        self.host, self.port = host, port
        self.proc: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None
        self._last_lines: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "hub", *args, "--db", self.db_url],
                              input=stdin, capture_output=True, text=True, timeout=120)
        with self.log_path.open("a") as log:
            log.write(f"$ telehub-hub {args[0]} ...\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise DemoError(f"`telehub-hub {' '.join(args[:2])}` failed: {last} "
                            f"(full output in {self.log_path})")
        return done.stdout

    def prepare(self, admin: str, admin_password: str) -> None:
        """Migrates the database and enrols the demo's administrator."""
        self._cli("db", "upgrade")
        self._cli("add-staff", "--username", admin, "--role", "admin", "--name",
                  "Demo Administrator", stdin=admin_password + "\n")

    def start(self, timeout: float = 30.0) -> str:
        """Starts ``serve``; returns the hub's address once /health answers."""
        check_port_free(self.host, self.port)
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "hub", "serve", "--db", self.db_url, "--host",
             self.host, "--port", str(self.port), "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = threading.Event()

        def drain() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            with log:
                for line in self.proc.stdout:
                    log.write(line)
                    log.flush()
                    self._last_lines = [*self._last_lines[-19:], line.rstrip()]
                    match = _LISTENING.search(line)
                    if match and not found.is_set():
                        self.port = int(match.group(2))
                        found.set()

        self._drain = threading.Thread(target=drain, name="demo-hub-log", daemon=True)
        self._drain.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._drain.join(2)
                raise DemoError(f"the hub did not start: {self.last_error()} "
                                f"(its log: {self.log_path})")
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                time.sleep(0.05)
        raise DemoError(f"the hub started but does not answer at {self.url}/health "
                        f"(its log: {self.log_path})")

    def last_error(self) -> str:
        """Why the hub process ended, in a few words (its own error line when it gave one)."""
        lines = [ln for ln in self._last_lines if ln.strip() and not _LISTENING.search(ln)]
        for line in reversed(lines):
            if line.startswith("telehub-hub:"):
                return line.removeprefix("telehub-hub:").strip()
        code = self.proc.poll() if self.proc is not None else None
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        if lines:
            return lines[-1]
        return f"exit code {code}" if code is not None else "it exited without a word"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._drain is not None:
            self._drain.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
