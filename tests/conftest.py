"""The suite's root: the shared fixtures (hubs, databases, browsers, the CI rule on skips) are
one plugin, tests/helpers/fixtures.py; each folder's conftest.py keeps only its own. Here
too: the order files run in, the longest first, for an even end on xdist's workers."""

from __future__ import annotations

import gc

import pytest

pytest_plugins = ["tests.helpers.fixtures"]

# Seconds the slowest files took, summed over their slow tests (2 workers, a loaded 2-core
# machine, 2026-12-01). They run first: xdist's worksteal hands an idle worker only tests
# not yet begun, so a long file near the end of one worker's share keeps it busy while
# the other waits. Only the order depends on these figures (a file missing here keeps its
# place after them); each file's tests stay together and in their own order, for the
# fixtures a module shares.
SLOWEST = {
    "hub/test_central_store.py": 111, "hub/test_cluster.py": 87,
    "hub/test_report_rollups.py": 74, "hub/test_cli.py": 61,
    "ui/a11y/test_dialogs_atspi.py": 46, "hub/test_api_fuzz.py": 43,
    "e2e/test_wheel.py": 42, "ui/test_keyring.py": 37, "hub/test_queue.py": 33,
    "records/test_crash.py": 31, "hub/test_restart.py": 30, "e2e/test_demo.py": 26,
    "ui/test_desk_call.py": 24, "e2e/test_caller_page.py": 24,
    "ui/a11y/test_desk_atspi.py": 23, "calls/test_network.py": 20,
    "ui/station/test_station_atspi.py": 19, "ui/test_screens.py": 14,
    "hub/test_balancer.py": 14, "hub/test_account_lifecycle.py": 14,
    "hub/test_record_checks.py": 13, "ui/test_desk_context.py": 12,
    "hub/test_through_haproxy.py": 10, "hub/test_site_calling.py": 9,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = config.rootpath / "tests"
    first: dict[str, int] = {}
    for n, item in enumerate(items):
        first.setdefault(str(item.path), n)

    def weight(item: pytest.Item) -> tuple[int, int]:
        try:
            name = item.path.relative_to(tests).as_posix()
        except ValueError:
            name = ""
        return -SLOWEST.get(name, 0), first[str(item.path)]

    items.sort(key=weight)  # stable: a file's tests keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the imports and the collection made lasts the whole run: it is frozen out of
    the cyclic collector's reach, so that each gc.collect() (the UI and call tests make one
    or two a test, on purpose) walks only what the tests made since, not 200,000 objects
    of modules (a tenth of a second each, more as a worker's heap grows)."""
    gc.collect()
    gc.freeze()
