"""HAProxy in front of several hubs, from the shipped configuration: readiness health checks,
what the balancer forwards (never the metrics), and X-Forwarded-For as the hub sees it."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import psycopg
import pytest

from hub.haproxy import BadSetting, Balancer
from tests.helpers.cluster import Haproxy, HubCluster, haproxy_binary
from tests.helpers.fixtures import need
from tests.helpers.hubserver import HubDatabase
from tests.helpers.waiting import holds_for, wait_until
from tests.helpers.wsclient import HubClient

pytestmark = pytest.mark.postgres


@pytest.fixture
def binary() -> str:
    found = haproxy_binary()
    if found is None:
        need("HAProxy is not installed (apt-get install haproxy)")
    assert found is not None
    return found


def test_the_rendered_configuration_is_valid_haproxy(binary: str, tmp_path: Path) -> None:
    import subprocess

    text = Balancer(hubs=["10.0.0.11:8470", "10.0.0.12:8470", "[fd00::13]:8470"],
                    tls_pem=None, stats_socket=str(tmp_path / "s.sock")).render()
    assert "{{" not in text
    assert "    server hub3 [fd00::13]:8470" in text
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    checked = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    with_tls = Balancer(hubs=["10.0.0.11:8470"]).render()
    assert "bind :443 ssl crt /etc/haproxy/telehub.pem alpn http/1.1" in with_tls


@pytest.mark.parametrize("field", ["hubs", "bind", "stats_socket", "log"])
def test_a_setting_that_would_break_the_configuration_is_refused(field: str) -> None:
    bad: dict[str, object] = {"hubs": ["10.0.0.11:8470\n    server evil 6.6.6.6:80"],
                              "bind": ":443 ssl crt /x", "stats_socket": "relative/path",
                              "log": "udp@evil"}
    settings: dict[str, object] = {"hubs": ["10.0.0.11:8470"], field: bad[field]}
    with pytest.raises(BadSetting):
        Balancer(**settings).render()  # type: ignore[arg-type]


def test_the_admin_guide_shows_what_the_command_prints() -> None:
    """docs/admin.md shows the configuration for its example; it is the template's output."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "admin.md").read_text()
    shown = doc.split("<!-- haproxy-config -->\n```\n", 1)[1].split("```", 1)[0]
    assert shown == Balancer(hubs=["10.0.0.11:8470", "10.0.0.12:8470"]).render()


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A stand-in backend that notes the headers of each request HAProxy forwards."""

    seen: ClassVar[list[list[str]]] = []

    def do_GET(self) -> None:
        if self.path != "/ready":
            type(self).seen.append(self.headers.get_all("X-Forwarded-For") or [])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_forged_x_forwarded_for_is_replaced_by_the_address_haproxy_saw(
    binary: str, tmp_path: Path, recorder: http.server.ThreadingHTTPServer
) -> None:
    port = recorder.server_address[1]
    lb = Haproxy(binary, [f"127.0.0.1:{port}"], tmp_path)
    try:
        lb.wait_status("hub1", "UP")
        for headers in ({}, {"X-Forwarded-For": "203.0.113.9"},
                        {"X-Forwarded-For": "203.0.113.9, 198.51.100.7",
                         "Forwarded": "for=203.0.113.9"}):
            assert httpx.get(f"{lb.http}/anything", headers=headers).status_code == 200
        assert _Recorder.seen == [["127.0.0.1"]] * 3
    finally:
        lb.stop()


class _BusyHub(http.server.BaseHTTPRequestHandler):
    """A stand-in hub whose ``/ready`` answers ``delay_s`` late: its event loop is busy (a
    dead hub's clients all signing in at once), not gone."""

    delay_s: ClassVar[float] = 0.0
    checks: ClassVar[int] = 0

    def do_GET(self) -> None:
        time.sleep(type(self).delay_s)
        type(self).checks += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_hub_answering_its_checks_late_stays_in_and_a_gone_one_is_out_at_once(
    binary: str, tmp_path: Path
) -> None:
    """Taking a busy hub out would cut its clients off onto the other hubs, which would then
    be too busy to answer in turn: a cascade. Late is not down; gone is."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BusyHub)
    _BusyHub.delay_s, _BusyHub.checks = 0.0, 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lb = Haproxy(binary, [f"127.0.0.1:{server.server_address[1]}"], tmp_path)
    try:
        lb.wait_status("hub1", "UP")
        # Over the 1 s check interval (which, without `timeout check`, is also how long a
        # check may take: it would be down within 3 s), well under `timeout check`; short
        # enough that at least two late answers come within the 7 s held.
        _BusyHub.delay_s = 1.5
        before = _BusyHub.checks
        holds_for(lambda: lb.servers()["hub1"].startswith("UP"), 7,
                  lambda: f"a hub answering late to stay in: {lb.servers()}")
        assert _BusyHub.checks - before >= 2  # late answers were given, and counted good
        server.shutdown()
        server.server_close()  # gone: the check's connection is refused
        started = time.monotonic()
        lb.wait_status("hub1", "DOWN", timeout=10)
        assert time.monotonic() - started < 6
    finally:
        lb.stop()
        server.server_close()


@pytest.mark.slow
async def test_hubs_behind_haproxy_are_checked_on_readiness_and_never_forward_metrics(
    start_cluster: Callable[..., HubCluster], cluster_db: HubDatabase
) -> None:
    cluster = start_cluster(2)
    site = cluster_db.site("Beech House")
    nurse = cluster_db.staff("nina", "nurse")
    assert httpx.get(f"{cluster.http}/ready").json() == {"status": "ready"}
    # metrics: on each hub's own loopback listener, never through the balancer
    for headers in ({}, {"Authorization": f"Bearer {site.token}"}):
        answer = httpx.get(f"{cluster.http}/metrics", headers=headers)
        assert answer.status_code == 404 and "telehub_" not in answer.text
    for hub in cluster.hubs:
        assert "telehub_calls_waiting" in httpx.get(hub.metrics_url).text
    # a WebSocket through the balancer, to whichever hub it chose
    desk = await HubClient.connect(cluster.ws, nurse.token)
    assert sum(cluster.lb.sessions().values()) >= 1

    # the database stops answering: every hub says so, HAProxy takes them out and closes
    # their connections (the clients would reconnect to a hub that has its database)
    admin = cluster_db.url.replace("postgresql+psycopg://", "postgresql://")
    name = admin.rsplit("/", 1)[1]
    server = admin.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    try:
        for hub in cluster.hubs:
            answer = wait_until(lambda h=hub: _not_ready(h.http), 10,
                                "each hub to say its database does not answer")
            assert answer == {"status": "database_unreachable"}
        wait_until(lambda: set(cluster.lb.servers().values()) == {"DOWN"}, 10,
                   lambda: f"HAProxy to take both hubs out: {cluster.lb.servers()}")
        assert await desk.closed(10) is not None
        assert httpx.get(f"{cluster.http}/ready").status_code == 503  # HAProxy: no server
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # the database is back: so are the hubs, and a client gets through again
    cluster.wait_all_up()
    again = await HubClient.connect(cluster.ws, nurse.token)
    assert again.welcome is not None


def _not_ready(url: str) -> dict[str, str] | None:
    answer = httpx.get(f"{url}/ready", timeout=5)
    return answer.json() if answer.status_code == 503 else None  # type: ignore[no-any-return]
