"""The HAProxy configuration for several hubs: the shipped template
(resources/haproxy/telehub.cfg) filled in with this deployment's addresses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import resources

_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+|):\d{1,5}$")
_PATH = re.compile(r"^/[\w./-]+$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class BadSetting(ValueError):
    """A value that would not make a valid (or a safe) HAProxy configuration."""


@dataclass(frozen=True)
class Balancer:
    """What differs between deployments; the rest is the template's."""

    hubs: Sequence[str]  # host:port of each hub's service port
    bind: str = ":443"
    tls_pem: str | None = "/etc/haproxy/telehub.pem"  # certificate and key; None: plain HTTP
    stats_socket: str = "/run/haproxy/telehub.sock"
    log: str = "/dev/log"
    maxconn: int = 20_000  # 3,000 sites and their desks, with room for a reconnect storm

    def render(self) -> str:
        if not self.hubs:
            raise BadSetting("at least one hub is needed")
        for address in [*self.hubs, self.bind]:
            _check(_ADDRESS, address, "an address is host:port, e.g. 10.0.0.11:8470")
        for path in [self.stats_socket, *([self.tls_pem] if self.tls_pem else [])]:
            _check(_PATH, path, "a path is absolute, without spaces")
        if self.log != "stdout" and not _PATH.match(self.log):
            raise BadSetting("the log is stdout or an absolute path (a syslog socket)")
        if not 100 <= self.maxconn <= 1_000_000:
            raise BadSetting("maxconn is between 100 and 1,000,000")
        bind = self.bind + (f" ssl crt {self.tls_pem} alpn http/1.1" if self.tls_pem else "")
        values = {
            "bind": bind, "stats_socket": self.stats_socket, "maxconn": str(self.maxconn),
            "log": "stdout format raw" if self.log == "stdout" else self.log,
            "servers": "\n".join(f"    server hub{i} {address}"
                                 for i, address in enumerate(self.hubs, start=1)),
        }
        template = resources.file("haproxy", "telehub.cfg").read_text(encoding="utf-8")
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _check(pattern: re.Pattern[str], value: str, why: str) -> None:
    if not pattern.match(value):
        raise BadSetting(why)
