"""The suite's root: the shared fixtures (hubs, databases, browsers, the CI rule on skips) are
one plugin, tests/helpers/fixtures.py; each folder's conftest.py keeps only its own. Here
too: the order files run in, the longest first, for an even end on xdist's workers."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

pytest_plugins = ["tests.helpers.fixtures"]

# Seconds each file took (set-up, test and teardown; 2 workers on a 2-core machine,
# 2026-12-01), for the files of 8 s or more. xdist's worksteal gives each worker an equal
# slice of the collection in order, and later moves only tests not yet begun from the end
# of one worker's queue to an idle one: so each slice should begin with the long files
# and end with short tests, and the slices should weigh the same. Only the order depends
# on these figures (a file missing here counts as short); a file's tests stay together
# and in their order, for the fixtures a module shares.
SLOWEST = {
    "hub/test_central_store.py": 65, "hub/test_queue.py": 58, "e2e/test_caller_page.py": 53,
    "hub/test_account_lifecycle.py": 45, "calls/test_network.py": 43,
    "hub/test_cluster.py": 37, "hub/test_site_calling.py": 37,
    "ui/a11y/test_dialogs_atspi.py": 36, "e2e/test_demo.py": 35,
    "ui/a11y/test_desk_atspi.py": 32, "records/test_crash.py": 31,
    "hub/test_report_rollups.py": 29, "hub/test_restart.py": 29, "e2e/test_wheel.py": 28,
    "hub/test_auth.py": 27, "hub/test_through_haproxy.py": 25,
    "ui/station/test_station_atspi.py": 21, "hub/test_cli.py": 21, "hub/test_api_fuzz.py": 18,
    "calls/test_call.py": 15, "hub/test_record_authority.py": 15, "hub/test_reports.py": 14,
    "hub/test_signaling.py": 14, "ui/test_desk_call.py": 13, "hub/test_mfa.py": 12,
    "hub/test_bad_input.py": 11, "hub/test_signin_limits.py": 11, "hub/test_balancer.py": 10,
    "hub/test_abuse.py": 10, "ui/station/test_station.py": 10, "hub/test_record_checks.py": 9,
    "hub/test_hand_over_clinics.py": 9, "ui/test_keyring.py": 8,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each xdist worker's slice: long files first (the slices weighing the same), then
    short tests up to the slice's size."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    tests = config.rootpath / "tests"
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)

    def seconds(path: Path) -> int:
        try:
            return SLOWEST.get(path.relative_to(tests).as_posix(), 0)
        except ValueError:
            return 0

    long = sorted((p for p in files if seconds(p)), key=seconds, reverse=True)
    slices: list[list[pytest.Item]] = [[] for _ in range(workers)]
    weights = [0] * workers
    for path in long:  # each to the lightest slice so far
        lightest = weights.index(min(weights))
        slices[lightest].extend(files[path])
        weights[lightest] += seconds(path)
    short = [item for path, its in files.items() if not seconds(path) for item in its]
    size = -(-len(items) // workers)
    ordered: list[pytest.Item] = []
    for share in slices:
        fill = max(size - len(share), 0)
        ordered += share + short[:fill]
        del short[:fill]
    items[:] = ordered + short


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the imports and the collection made lasts the whole run: it is frozen out of
    the cyclic collector's reach, so that each gc.collect() (the UI and call tests make one
    or two a test, on purpose) walks only what the tests made since, not 200,000 objects
    of modules (a tenth of a second each, more as a worker's heap grows)."""
    gc.collect()
    gc.freeze()
