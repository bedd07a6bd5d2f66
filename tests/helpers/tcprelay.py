"""A TCP relay on loopback in front of a hub, which a test can cut and restore: the hub
"lost" as by a network failure (every connection dropped, new ones refused) and back on the
same address, while the hub itself runs on."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpRelay:
    """Listens on ``port`` (a free one by default) and relays each connection to
    ``target_port`` on loopback."""

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self.lock = threading.Lock()
        self.live: list[socket.socket] = []
        self.server: socket.socket | None = None
        self.port = port
        self.restore()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Listens again on the same port."""
        server = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        self.port = int(server.getsockname()[1])
        self.server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        """Stops listening (new connections are refused) and drops every connection."""
        with self.lock:
            server, self.server = self.server, None
            live, self.live = self.live, []
        if server is not None:
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            server.close()
        for sock in live:
            _close(sock)

    def close(self) -> None:
        self.cut()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 5)
            except OSError:
                _close(client)
                continue
            with self.lock:
                if self.server is not server:
                    _close(client)
                    _close(upstream)
                    return
                self.live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(sink)
        _close(source)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
