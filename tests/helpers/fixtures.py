"""The suite's shared fixtures, one plugin (registered by tests/conftest.py): the CI rule on
skips, a private PostgreSQL cluster, hub databases and real hubs on loopback, enrolled
people, and headless Chromium and Firefox. A folder's conftest.py keeps only what is its own
(its hub timings, its databases, its desks and stations)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.helpers.atspi import A11yBus
from tests.helpers.atspi import missing as atspi_missing
from tests.helpers.chromium import FLAGS, Chromium, chromium_binary
from tests.helpers.cluster import HubCluster, haproxy_binary
from tests.helpers.driven import DrivenBrowser
from tests.helpers.firefox import PREFS, Firefox, firefox_binary
from tests.helpers.hubserver import (
    HubDatabase,
    HubStarter,
    ProcessHub,
    Seeded,
    ThreadedHub,
    free_port,
)
from tests.helpers.postgres import (
    NoPostgres,
    database_name,
    is_empty,
    new_database,
    private_cluster,
    replace_with_copy,
)
from tests.helpers.record_desk import Desk
from tests.helpers.scratch import scratch_parent

IN_CI = os.environ.get("CI", "").lower() == "true"
# Screenshots go to a temporary folder, so a test run leaves the work tree clean; run with
# TELEHUB_SCREENSHOTS=docs/screenshots to refresh the ones the docs show.
SHOTS = Path(os.environ.get("TELEHUB_SCREENSHOTS")
             or Path(tempfile.gettempdir()) / "telehub-screenshots")
SHOTS.mkdir(parents=True, exist_ok=True)
# No display here: Qt draws offscreen unless the caller chose a platform (.ci/test does too).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Hub timings. FAST: heartbeat and grace-period tests take seconds, not minutes. STEADY: for
# tests whose other end is a browser or a GUI, slow to answer a ping on a loaded machine.
FAST: dict[str, Any] = {"heartbeat_interval": 0.3, "heartbeat_timeout": 1.5,
                        "reconnect_grace": 2.0}
STEADY: dict[str, Any] = {"heartbeat_interval": 1.0, "heartbeat_timeout": 6.0,
                          "reconnect_grace": 5.0}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """In CI a skipped test is a failed test: every real component must be there."""
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"
    return report


@pytest.fixture(scope="session", autouse=True)
def _private_data_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The run (each xdist worker) keeps what the programs write by default in a folder of its
    own, never in the user's ~/.local/share, and never in another worker's."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
        env.delenv("TELEHUB_DB", raising=False)
        yield


def need(reason: str) -> None:
    """A real component is missing: outside CI skip with the reason; in CI fail."""
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)


# --- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL cluster on loopback for this test run (one per xdist worker, each
    in its own folder on its own port, in memory where there is room); yields its admin
    URL."""
    url = os.environ.get("TELEHUB_TEST_PG_URL")
    if url:
        yield url
        return
    try:
        with private_cluster(parent=scratch_parent()) as admin:
            yield admin
    except NoPostgres as exc:
        need(str(exc))


@pytest.fixture
def fresh_pg_database(postgres_server: str) -> Callable[[], str]:
    """Makes a new empty database on the test server and returns its URL."""
    return lambda: new_database(postgres_server)


@pytest.fixture(scope="session")
def _pg_hub_template(postgres_server: str) -> str:
    """A hub database on the test server migrated to head, once per run (per xdist worker);
    its name. A test's new migrated PostgreSQL hub database is a copy of it (CREATE DATABASE
    ... TEMPLATE): the same as migrating it anew (migrations write no rows of their own into
    an empty database), without Alembic's seconds a database on a loaded machine."""
    url = new_database(postgres_server)
    HubDatabase(url).dispose()  # no connection left: a template must have none
    return database_name(url)


@pytest.fixture
def migrated_pg_database(postgres_server: str, _pg_hub_template: str) -> Callable[[], str]:
    """Makes a new hub database migrated to head on the test server; returns its URL."""
    return lambda: new_database(postgres_server, template=_pg_hub_template)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: an SQLite file, and (second run) a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    maker: Callable[[], str] = request.getfixturevalue("fresh_pg_database")
    return maker()


# --- hubs -----------------------------------------------------------------------------------


@pytest.fixture
def hub_db_url(tmp_path: Path) -> str:
    """Where the test hub keeps its data: an SQLite file (tests/hub runs on both databases)."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    """The test hub's heartbeat and grace timings (a folder or module may override it)."""
    return FAST


@pytest.fixture(scope="session")
def _migrated_hub_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite hub database migrated to head, once per run (per xdist worker). A test's new
    SQLite hub database starts as a copy of it: the same as migrating it anew (migrations
    write no rows of their own into an empty database), in a fraction of the time."""
    path = tmp_path_factory.mktemp("hub-template") / "hub.db"
    HubDatabase(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def hubdb(hub_db_url: str, request: pytest.FixtureRequest) -> Iterator[HubDatabase]:
    """The test hub's database, migrated (HubDatabase checks it is at head either way). A new
    one starts as a copy of the run's migrated template (SQLite file or PostgreSQL database)."""
    if hub_db_url.startswith("sqlite:///"):
        path = Path(hub_db_url.removeprefix("sqlite:///"))
        if not path.exists():
            shutil.copyfile(request.getfixturevalue("_migrated_hub_file"), path)
    elif hub_db_url.startswith("postgresql") and is_empty(hub_db_url):
        replace_with_copy(request.getfixturevalue("postgres_server"), hub_db_url,
                          request.getfixturevalue("_pg_hub_template"))
    db = HubDatabase(hub_db_url)
    yield db
    db.dispose()


@pytest.fixture
def start_hub(hubdb: HubDatabase, hub_timings: dict[str, Any]
              ) -> Iterator[Callable[..., ThreadedHub]]:
    """Starts hubs on the test's database (keyword arguments override settings); all are
    stopped after the test."""
    starter = HubStarter(hubdb.url, hub_timings)
    yield starter
    starter.stop_all()


@pytest.fixture
def hub(start_hub: Callable[..., ThreadedHub]) -> ThreadedHub:
    return start_hub()


# For hub processes on one database: a dead client (or hub lease) within 3 s, and 10 s to
# come back: a hub killed under load on this 2-core machine still leaves its clients time to
# find another.
CLUSTER_TIMINGS = ("--heartbeat-interval", "0.5", "--heartbeat-timeout", "3",
                   "--reconnect-grace", "10")


@pytest.fixture
def start_hubs(hubdb: HubDatabase) -> Iterator[Callable[[int], list[ProcessHub]]]:
    """Starts ``n`` hub processes on the test's database (make it PostgreSQL), no load
    balancer: each is told every hub's address (``--peer-url``) as a service whose clients
    reach the hubs one by one is. The first to start dispatches. All stop after the test."""
    started: list[ProcessHub] = []

    def start(n: int) -> list[ProcessHub]:
        ports = [free_port() for _ in range(n)]
        peers = ("--peer-url", ",".join(f"http://127.0.0.1:{port}" for port in ports))

        def spawn(port: int) -> ProcessHub:
            hub = ProcessHub(hubdb.url, *CLUSTER_TIMINGS, *peers, port=port)
            started.append(hub)
            return hub

        first = spawn(ports[0])
        with ThreadPoolExecutor(max(1, n - 1)) as pool:  # the rest at once: they only wait
            rest = list(pool.map(spawn, ports[1:]))
        return [first, *rest]

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def cluster_db(migrated_pg_database: Callable[[], str]) -> Iterator[HubDatabase]:
    """A migrated hub database of its own on the run's PostgreSQL server, for a cluster."""
    db = HubDatabase(migrated_pg_database())
    yield db
    db.dispose()


@pytest.fixture
def start_cluster(cluster_db: HubDatabase, tmp_path: Path
                  ) -> Iterator[Callable[..., HubCluster]]:
    """Starts ``n`` real hub processes on ``cluster_db`` behind a real HAProxy (extra
    arguments go to each ``serve``); returns once HAProxy holds every hub up. All are
    stopped after the test."""
    binary = haproxy_binary()
    if binary is None:
        need("HAProxy is not installed (apt-get install haproxy)")
    assert binary is not None
    started: list[HubCluster] = []

    def start(n: int, *hub_args: str) -> HubCluster:
        folder = tmp_path / f"cluster-{len(started)}"
        folder.mkdir()
        cluster = HubCluster(cluster_db.url, n, folder, binary, hub_args)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.close()


@pytest.fixture(scope="module")
def module_cluster(postgres_server: str, _pg_hub_template: str,
                   tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                   ) -> Iterator[tuple[HubCluster, HubDatabase]]:
    """One cluster for a whole module (starting hubs is most of a short test): two hubs
    behind HAProxy on a database of their own, with the module's ``CLUSTER_ARGS``."""
    binary = haproxy_binary()
    if binary is None:
        need("HAProxy is not installed (apt-get install haproxy)")
    assert binary is not None
    db = HubDatabase(new_database(postgres_server, template=_pg_hub_template))
    args = getattr(request.module, "CLUSTER_ARGS", ())
    cluster = HubCluster(db.url, 2, tmp_path_factory.mktemp("cluster"), binary, args)
    try:
        yield cluster, db
    finally:
        cluster.close()
        db.dispose()


@pytest.fixture
def whole_cluster(module_cluster: tuple[HubCluster, HubDatabase]
                  ) -> tuple[HubCluster, HubDatabase]:
    """The module's cluster with every hub running and up in HAProxy (an earlier test may
    have killed or stopped one)."""
    cluster, db = module_cluster
    for i, hub in enumerate(cluster.hubs):
        if hub.proc.poll() is not None:
            cluster.restart(i)
    cluster.wait_all_up(30)
    return cluster, db


@dataclass
class People:
    site: Seeded
    nurse: Seeded
    specialist: Seeded
    nurse2: Seeded


@pytest.fixture
def people(hubdb: HubDatabase) -> People:
    """A care home and three staff (password ``hubserver.PASSWORD``), enrolled in the hub."""
    return People(
        site=hubdb.site("Beech House", "care_home"),
        nurse=hubdb.staff("nina", "nurse"),
        specialist=hubdb.staff("sam", "specialist"),
        nurse2=hubdb.staff("nora", "nurse"),
    )


@pytest.fixture
def desks() -> Iterator[list[Desk]]:
    """Desks without a window (tests/helpers/record_desk.py) a test makes, closed after it."""
    made: list[Desk] = []
    yield made
    for desk in made:
        desk.close()


# --- browsers -------------------------------------------------------------------------------


# What the tests need of a driven browser, Chromium (CDP) or Firefox (WebDriver BiDi).
Browser = DrivenBrowser
B = TypeVar("B", bound=DrivenBrowser)


async def open_chromium(flags: tuple[str, ...] = FLAGS) -> Chromium:
    binary = chromium_binary()
    if binary is None:
        need("Chromium is not installed (apt-get install chromium)")
    assert binary is not None
    return await _started(Chromium(binary, flags), 60)


async def open_firefox(prefs: dict[str, bool | int | str] | None = None) -> Firefox:
    binary = firefox_binary()
    if binary is None:
        need("Firefox is not installed (apt-get install firefox-esr)")
    assert binary is not None
    return await _started(Firefox(binary, prefs=prefs or PREFS), 45)


async def _started(browser: B, within: float) -> B:
    """``browser`` started, or closed if it fails to start: a browser process left running
    (its pipe open) would be collected in a later test, whose run it would then fail."""
    try:
        await asyncio.wait_for(browser.start(), within)
    except BaseException:
        await asyncio.wait_for(browser.close(), 30)
        raise
    return browser


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    """A headless Chromium with a fresh profile and a fake camera and microphone."""
    browser = await open_chromium()
    try:
        yield browser
    finally:
        await asyncio.wait_for(browser.close(), 30)


@pytest.fixture(params=["chromium", "firefox"])
async def any_browser(request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    """Each test using it runs once in headless Chromium and once in headless Firefox."""
    browser: Browser = (await open_chromium() if request.param == "chromium"
                        else await open_firefox())
    try:
        yield browser
    finally:
        await asyncio.wait_for(browser.close(), 30)


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core's axe.min.js (tests/helpers/axe.py), installed by .ci/setup (npm ci)."""
    from tests.helpers.axe import AXE_DIR, AXE_SCRIPT

    if not AXE_SCRIPT.is_file():
        need(f"axe-core is not installed (cd {AXE_DIR} && npm ci)")
    return AXE_SCRIPT.read_text()


# --- the accessibility bus ------------------------------------------------------------------


@pytest.fixture(scope="session")
def a11y_bus() -> Iterator[A11yBus]:
    """Xvfb, a private session bus with at-spi2-core's accessibility bus, and the AT-SPI
    reader, one a test session (each xdist worker): tests launch programs on it and read them
    as Orca does (tests/helpers/atspi.py)."""
    lack = atspi_missing()
    if lack:
        need(lack)
    bus = A11yBus().start()
    yield bus
    bus.stop()
