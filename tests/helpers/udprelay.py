"""A userspace UDP relay on loopback that drops packets and goes dark on demand (no netem here).

``LossyNetwork.rewrite`` is handed to the call engine as its SDP rewriter: each host UDP
candidate in an offer or answer is replaced by a relay port on 127.0.0.1 that forwards to it
(like a NAT's port mapping), so every media packet between the two engines crosses the relay
both ways. ``loss`` drops that fraction of packets; ``down`` drops everything (an outage).
"""

from __future__ import annotations

import random
import re
import selectors
import socket
import threading
from dataclasses import dataclass, field

_CANDIDATE = re.compile(
    r"^a=candidate:(\S+) (\d+) (udp|UDP) (\d+) (\d+\.\d+\.\d+\.\d+) (\d+) typ host(.*)$")


@dataclass
class _Relay:
    front: socket.socket
    target: tuple[str, int]
    backs: dict[tuple[str, int], socket.socket] = field(default_factory=dict)
    clients: dict[socket.socket, tuple[str, int]] = field(default_factory=dict)


class LossyNetwork:
    """Every relay made by :meth:`rewrite`, served by one thread until :meth:`close`."""

    def __init__(self, loss: float = 0.0, seed: int = 7) -> None:
        self.loss = loss
        self.down = False
        self.forwarded = 0
        self.dropped = 0
        self._rng = random.Random(seed)
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._relays: list[_Relay] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="udp-relay", daemon=True)
        self._thread.start()

    def rewrite(self, sdp: str) -> str:
        """Keeps only IPv4 host UDP candidates, each swapped for a relay port in front of it."""
        out = []
        for line in sdp.splitlines():
            if line.startswith("a=candidate:"):
                m = _CANDIDATE.match(line)
                if m is None:
                    continue
                port = self._add_relay((m.group(5), int(m.group(6))))
                line = (f"a=candidate:{m.group(1)} {m.group(2)} {m.group(3)} {m.group(4)} "
                        f"127.0.0.1 {port} typ host{m.group(7)}")
            out.append(line)
        return "\r\n".join(out) + "\r\n"

    def _add_relay(self, target: tuple[str, int]) -> int:
        front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        front.bind(("127.0.0.1", 0))
        front.setblocking(False)
        relay = _Relay(front, target)
        with self._lock:
            self._relays.append(relay)
            self._sel.register(front, selectors.EVENT_READ, (relay, None))
        return int(front.getsockname()[1])

    def _passes(self) -> bool:
        if self.down or (self.loss and self._rng.random() < self.loss):
            self.dropped += 1
            return False
        self.forwarded += 1
        return True

    def _serve(self) -> None:
        while not self._stop.is_set():
            # epoll may be given new sockets from another thread while it waits
            ready = self._sel.select(timeout=0.05)
            for key, _ in ready:
                relay, client = key.data
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data, addr = sock.recvfrom(65536)
                except OSError:
                    continue
                if not self._passes():
                    continue
                try:
                    if client is None:  # from a peer to the relayed endpoint
                        back = relay.backs.get(addr)
                        if back is None:
                            back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            back.bind(("127.0.0.1", 0))
                            back.setblocking(False)
                            relay.backs[addr] = back
                            with self._lock:
                                self._sel.register(back, selectors.EVENT_READ, (relay, addr))
                        back.sendto(data, relay.target)
                    else:  # the relayed endpoint's reply goes back out of the front port
                        relay.front.sendto(data, client)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            for relay in self._relays:
                for sock in (relay.front, *relay.backs.values()):
                    sock.close()
            self._sel.close()
