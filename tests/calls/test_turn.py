"""TURN: a call relayed by a real coturn on loopback, with the engine limited to relay paths."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from calls.engine import CallEngine
from calls.session import SessionOptions
from tests.calls.test_call import answered_call
from tests.helpers.engines import frame_where
from tests.helpers.fixtures import People, need
from tests.helpers.hubserver import ThreadedHub, free_port
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.slow
SECRET = "loopback-turn-secret"


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[str]:
    """coturn on 127.0.0.1 with the use-auth-secret scheme the hub's credentials follow."""
    binary = shutil.which("turnserver")
    if binary is None:
        need("coturn (turnserver) is not installed")
    assert binary is not None
    port = free_port()
    log = tmp_path / "turn.log"
    proc = subprocess.Popen(
        [binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
         f"--listening-port={port}", "--min-port=49160", "--max-port=49960",
         "--use-auth-secret", f"--static-auth-secret={SECRET}", "--realm=telehub.test",
         "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--fingerprint",
         f"--log-file={log}", "--simple-log", "--pidfile=" + str(tmp_path / "turn.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        def answering() -> bool:
            if proc.poll() is not None:
                pytest.fail("coturn ended:\n" + (log.read_text() if log.exists() else ""))
            return _answers_stun(port)

        wait_until(answering, 10, lambda: "coturn to answer STUN:\n"
                   + (log.read_text() if log.exists() else ""))
        yield f"turn:127.0.0.1:{port}?transport=udp"
    finally:
        proc.terminate()
        proc.wait(10)


def _answers_stun(port: int) -> bool:
    """A STUN binding request to the server: ready when it answers."""
    request = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            data = sock.recv(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[8:20] == request[8:20]


async def test_call_through_coturn_with_relay_candidates_only(
        start_hub: Callable[..., ThreadedHub], coturn: str, people: People,
        engines: Callable[..., CallEngine]) -> None:
    hub = start_hub(turn_urls=[coturn], turn_secret=SECRET)
    opts = SessionOptions(relay_only=True)
    _, _, caller, answerer, _, _ = await answered_call(hub, people, engines, options=opts)
    assert any(s.username for s in answerer.ice_servers)  # hub-issued TURN credentials
    link = answerer.links[people.site.principal.participant_id]
    sdp = link.pc.localDescription.sdp
    candidates = [ln for ln in sdp.splitlines() if ln.startswith("a=candidate:")]
    assert candidates and all(" typ relay" in ln for ln in candidates), candidates
    assert link.video is not None
    await frame_where(link.video, lambda f: True)
    back = caller.links[people.nurse.principal.participant_id].video
    assert back is not None
    await frame_where(back, lambda f: True)
