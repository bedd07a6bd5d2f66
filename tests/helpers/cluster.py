"""Several real hub processes on one PostgreSQL database behind a real HAProxy, on loopback.

The balancer runs from the configuration operators use (``hub.haproxy.Balancer``, the shipped
template), with plain HTTP, its log on stdout and its stats socket in the test's folder; the
hubs are ``telehub-hub serve`` processes on fixed ports (a restarted hub comes back where
HAProxy expects it).
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from hub.haproxy import Balancer
from tests.helpers.hubserver import LoopbackHub, ProcessHub, free_port
from tests.helpers.waiting import wait_until


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)


class Haproxy(LoopbackHub):
    """``haproxy -db`` (foreground) in front of ``hubs``; :meth:`servers` is its view of them."""

    def __init__(self, binary: str, hubs: Sequence[str], folder: Path,
                 maxconn: int = 4000) -> None:
        self.port = free_port()
        self.stats = folder / "haproxy.sock"
        self.config = folder / "haproxy.cfg"
        self.config.write_text(Balancer(
            hubs=hubs, bind=f"127.0.0.1:{self.port}", tls_pem=None,
            stats_socket=str(self.stats), log="stdout", maxconn=maxconn).render())
        checked = subprocess.run([binary, "-c", "-q", "-f", str(self.config)],
                                 capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise RuntimeError(f"HAProxy refused the configuration:\n{checked.stderr}")
        self.output: list[str] = []
        self.proc = subprocess.Popen([binary, "-db", "-f", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._drain, daemon=True).start()
        try:
            wait_until(lambda: self._command("show info"), 15,
                       lambda: "HAProxy to answer on its stats socket:\n"
                       + "".join(self.output), ignoring=(OSError,))
        except BaseException:
            self.stop()  # not left running (nor its pipe open) for the rest of the run
            raise

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:  # closed where it is read, once it ends (see ProcessHub)
            for line in self.proc.stdout:
                self.output.append(line)

    def _command(self, command: str) -> str:
        if self.proc.poll() is not None:
            raise RuntimeError("HAProxy ended:\n" + "".join(self.output))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.stats))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, str]:
        """Each hub's state as HAProxy has it: "UP", "DOWN", "MAINT", "UP 1/2"..."""
        text = self._command("show stat").lstrip("# ")
        rows = csv.DictReader(text.splitlines())
        return {r["svname"]: r["status"] for r in rows
                if r["pxname"] == "hubs" and r["svname"] not in ("BACKEND", "FRONTEND")}

    def sessions(self) -> dict[str, int]:
        """Open sessions HAProxy holds to each hub."""
        text = self._command("show stat").lstrip("# ")
        return {r["svname"]: int(r["scur"]) for r in csv.DictReader(text.splitlines())
                if r["pxname"] == "hubs" and r["svname"] not in ("BACKEND", "FRONTEND")}

    @contextlib.contextmanager
    def only(self, server: str) -> Iterator[None]:
        """New connections go to ``server`` alone while inside (the others are set to drain
        through the stats socket, as an operator would; their open connections stay)."""
        others = [name for name in self.servers() if name != server]
        for name in others:
            self._command(f"set server hubs/{name} state drain")
        try:
            yield
        finally:
            for name in others:
                self._command(f"set server hubs/{name} state ready")

    def wait_status(self, server: str, status: str, timeout: float = 10) -> None:
        wait_until(lambda: self.servers().get(server) == status, timeout,
                   lambda: f"HAProxy to hold {server} {status}: {self.servers()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # hard stop: its open sessions end at once
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class HubCluster:
    """``n`` hubs (hub1..hubN as HAProxy names them) on one database, behind HAProxy."""

    def __init__(self, db_url: str, n: int, folder: Path, binary: str,
                 hub_args: Sequence[str] = (), maxconn: int = 4000) -> None:
        self.db_url = db_url
        self.hub_args = tuple(hub_args)
        self.ports = [free_port() for _ in range(n)]
        self.hubs: list[ProcessHub] = []
        try:
            self.hubs = [self._spawn(port) for port in self.ports]
            for hub in self.hubs:
                hub.wait_started()
            self.lb = Haproxy(binary, [f"127.0.0.1:{p}" for p in self.ports], folder, maxconn)
            self.wait_all_up()
        except BaseException:
            self.close()
            raise

    def _spawn(self, port: int) -> ProcessHub:
        # Record batches are not pushed here: no record checker process per hub.
        return ProcessHub(self.db_url, *self.hub_args, port=port, wait=False,
                          env={"TELEHUB_RECORD_CHECKERS": "0"})

    @staticmethod
    def name(i: int) -> str:
        return f"hub{i + 1}"

    @property
    def http(self) -> str:
        return self.lb.http

    @property
    def ws(self) -> str:
        return self.lb.ws

    def wait_all_up(self, timeout: float = 15) -> None:
        wait_until(lambda: set(self.lb.servers().values()) == {"UP"}, timeout,
                   lambda: f"HAProxy to hold every hub up: {self.lb.servers()}")

    def dispatching(self) -> int:
        """Which hub runs the live side now (its metrics say so)."""
        for i, hub in enumerate(self.hubs):
            if hub.proc.poll() is None and "telehub_dispatching 1.0" in httpx.get(
                    hub.metrics_url, timeout=5).text:
                return i
        raise AssertionError("no hub says it dispatches")

    def kill(self, i: int) -> None:
        """SIGKILL hub ``i``: no drain, no goodbye."""
        self.hubs[i].kill()

    def terminate(self, i: int) -> None:
        """SIGTERM hub ``i`` (it drains) without waiting for it to end."""
        self.hubs[i].proc.send_signal(signal.SIGTERM)

    def restart(self, i: int) -> ProcessHub:
        """Start hub ``i`` again on its port (after it ended); returns once HAProxy has it up."""
        hub = self.hubs[i]
        if hub.proc.poll() is None:
            raise RuntimeError(f"{self.name(i)} is still running")
        hub.stop()
        self.hubs[i] = self._spawn(self.ports[i]).wait_started()
        self.lb.wait_status(self.name(i), "UP")
        return self.hubs[i]

    def close(self) -> None:
        lb = getattr(self, "lb", None)
        if lb is not None:
            lb.stop()
        for hub in self.hubs:
            hub.stop()
