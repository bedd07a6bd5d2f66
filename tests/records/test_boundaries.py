"""records/ stays free of Qt, the UI, the hub and the call engine (DESIGN.md dependency rules).

The hub's wire contract (hub/contract) and its one REST client (hub/client) are the
exceptions: records/sync.py and telehub-export talk to the hub through them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODULES = ["records.news2", "records.nhs_number", "records.codes", "records.schema",
           "records.models", "records.store", "records.sync", "records.avoided_log",
           "records.export"]  # fmt: skip


def test_records_imports_no_qt_ui_hub_or_calls() -> None:
    probe = (
        f"import {', '.join(MODULES)}, sys; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'ui', 'hub', 'calls', 'aiortc') "
        "and m not in ('hub', 'hub.client') "
        "and not m.startswith(('hub.contract', 'hub.client.'))); print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
