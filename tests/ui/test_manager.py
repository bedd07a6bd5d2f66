"""The manager view against a real hub holding the hand-counted history (report_fixture):
sign-in as a manager, figures, drill-down from a tile and a table cell, exports with
progress, and a cancelled export that leaves no file. Screenshots go to
$TELEHUB_SCREENSHOTS (docs/manager.md shows them)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QDate, Qt

from hub.client import HubClient, HubRefused
from hub.contract.rest import Filters, Report
from tests.helpers import report_fixture as fx
from tests.helpers import totp
from tests.helpers.fixtures import SHOTS
from tests.helpers.hubserver import PASSWORD, HubDatabase, ThreadedHub
from ui.desk.glance import GlanceStrip
from ui.desk.manager import dashboard
from ui.desk.manager.dashboard import ManagerView
from ui.desk.manager.download import Cancelled, download
from ui.desk.work import Workers


@pytest.fixture
def history(hubdb: HubDatabase) -> fx.History:
    return fx.seed(hubdb)


@pytest.fixture
def manager(hubdb: HubDatabase) -> str:
    return hubdb.staff("meg", "manager", password=PASSWORD).token


@pytest.fixture
def view(qtbot: Any, hub: ThreadedHub, history: fx.History, manager: str,
         desk_theme: Any) -> Iterator[ManagerView]:  # fmt: skip
    http = httpx.Client()
    workers = Workers(2, "manager-test")
    v = ManagerView(HubClient(http, hub.http, manager), workers, today=date(2025, 2, 28))
    qtbot.addWidget(v)
    v.start.setDate(QDate(2025, 1, 1))
    v.resize(1440, 900)
    v.show()
    yield v
    workers.shutdown()
    http.close()


def _shoot(qtbot: Any, widget: Any, name: str) -> None:
    from PySide6.QtCharts import QChartView

    # Each chart shown has laid out its axes and legend around a plot area.
    qtbot.waitUntil(lambda: all(chart.chart().plotArea().width() > 0
                                for chart in widget.findChildren(QChartView)
                                if chart.isVisible()), timeout=5_000)
    keep = os.environ.get("TELEHUB_SCREENSHOTS")
    image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 600
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        image.save(str(Path(keep) / f"manager-{name}.png"))


def test_figures_drill_down_and_exports(qtbot: Any, view: ManagerView, history: fx.History,
                                       tmp_path: Path) -> None:  # fmt: skip
    view.load_sites()
    qtbot.waitUntil(lambda: view.site.count() == 4, timeout=5_000)
    with qtbot.waitSignal(view.refreshed, timeout=10_000) as got:
        qtbot.mouseClick(view.refresh_button, Qt.MouseButton.LeftButton)
    report = got.args[0]
    assert isinstance(report, Report) and report.total("calls") == 10
    tiles = {k: v.text() for k, v in view.tile_values.items()}
    assert tiles["calls"] == "10" and tiles["within_60s"] == "57.1%"  # 4 of 7 answered
    assert tiles["no_record"] == "1" and tiles["confirmed:admission"] == "1 of 2"
    assert tiles["abandoned_after_30s"] == "1 (10.0%)" and tiles["withdrawn:admission"] == "1"
    # The table by setting: care homes 6 calls, 2 abandoned; claims with every result.
    assert [view.by_setting.item(0, c).text() for c in (1, 6)] == ["6", "2"]
    assert [view.claims.item(0, c).text() for c in range(1, 5)] == ["2", "1", "1", "0"]
    assert [view.claims.item(2, c).text() for c in range(1, 5)] == ["1", "0", "0", "1"]
    assert view.calls_chart.series() and view.claims_chart.series()
    assert "assumption" in view.savings.item(0, 6).text()
    _shoot(qtbot, view, "dashboard")

    # A tile drills into the calls behind it...
    with qtbot.waitSignal(view.drilled, timeout=5_000):
        qtbot.mouseClick(view.tiles["no_record"], Qt.MouseButton.LeftButton)
    assert view.drill_table.rowCount() == 1
    assert view.drill_table.item(0, 10).text() == fx.call_id("c3")[:8]
    # ...and a cell of the claims table into the records (withdrawn admissions: R6).
    with qtbot.waitSignal(view.drilled, timeout=5_000):
        view.claims.cellClicked.emit(0, 3)
    assert view.drill_table.rowCount() == 1
    assert view.drill_table.item(0, 8).text() == "withdrawn"
    assert view.drill_table.item(0, 11).text() == str(history.records["R6"])[:8]
    assert "1 of 1" in view.drill_title.text()
    # Every call of the period (one page: "More" stays off).
    with qtbot.waitSignal(view.drilled, timeout=5_000):
        view.by_setting.cellClicked.emit(3, 1)  # "All" row, calls
    assert view.drill_table.rowCount() == 10 and not view.more.isEnabled()
    _shoot(qtbot, view, "drill-down")

    # Filters: prisons only.
    view.kind.setCurrentIndex(view.kind.findData("prison"))
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.refresh()
    assert view.tile_values["calls"].text() == "2"

    # Exports: the PDF board paper, then the workbook, each appearing only when complete.
    view.kind.setCurrentIndex(0)
    target = tmp_path / "board.pdf"
    view.choose_path = lambda fmt, suggested, pattern: target
    with qtbot.waitSignal(view.exported, timeout=15_000):
        qtbot.mouseClick(view.export_buttons["pdf"], Qt.MouseButton.LeftButton)
    assert target.read_bytes().startswith(b"%PDF-")
    assert not view.progress.isVisible() and "Exported" in view.status.text()
    book = tmp_path / "log.xlsx"
    with qtbot.waitSignal(view.exported, timeout=15_000):
        view.export("xlsx", book)
    assert book.stat().st_size > 1000


def test_a_cancelled_export_leaves_no_file(qtbot: Any, view: ManagerView, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    started = threading.Event()

    def held(hub: HubClient, f: Filters, fmt: str, out: Path, cancel: threading.Event,
             progress: Callable[[int, int], None]) -> int:
        started.set()
        progress(1, 4)  # the bar moves while the manager decides
        cancel.wait(5)
        return download(hub, f, fmt, out, cancel, progress)

    monkeypatch.setattr(dashboard, "download", held)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "log.csv"
    view.export("csv", out)
    qtbot.waitUntil(started.is_set, timeout=5_000)
    qtbot.waitUntil(lambda: view.progress.value() == 250, timeout=5_000)
    assert view.progress.isVisible() and view.cancel_button.isVisible()
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cancelled" in view.status.text(), timeout=5_000)
    assert list(folder.iterdir()) == []  # neither the file nor a hidden partial one
    assert all(b.isEnabled() for b in view.export_buttons.values())


def test_client_cancel_and_refusal(hub: ThreadedHub, history: fx.History, manager: str,
                                   hubdb: HubDatabase, tmp_path: Path) -> None:  # fmt: skip
    f = Filters(start=date(2025, 1, 1), end=date(2025, 2, 28))
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    with httpx.Client() as http:
        client = HubClient(http, hub.http, manager)
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(Cancelled):
            download(client, f, "csv", tmp_path / "x.csv", cancel, lambda d, t: None)
        assert list(tmp_path.iterdir()) == []
        seen: list[tuple[int, int]] = []
        download(client, f, "csv", tmp_path / "x.csv", threading.Event(),
                 lambda d, t: seen.append((d, t)))  # fmt: skip
        assert seen[-1] == (1, 1) and (tmp_path / "x.csv").read_text().count("\n") == 7
        nurse = hubdb.staff("nina", "nurse", password=PASSWORD).token
        with pytest.raises(HubRefused, match="403"):
            HubClient(http, hub.http, nurse).report(f)


def test_a_manager_signing_in_gets_the_dashboard(qtbot: Any, hub: ThreadedHub,
                                                 history: fx.History, manager: str,
                                                 desk_factory: Any) -> None:  # fmt: skip
    with httpx.Client(base_url=hub.http, timeout=20) as http:  # a manager needs a 2nd factor
        secret, _codes, _answer = totp.enrol(http, "meg")
    desk = desk_factory()
    desk.signin.hub.setText(hub.http)
    desk.signin.user.setText("meg")
    qtbot.keyClicks(desk.signin.password, PASSWORD)
    qtbot.keyClick(desk.signin.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: desk.stack.currentWidget() is desk.second, timeout=10_000)
    qtbot.keyClicks(desk.second.code, totp.code_at(secret, 1))
    qtbot.keyClick(desk.second.code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: desk.manager is not None, timeout=10_000)
    view = desk.manager
    assert isinstance(view, ManagerView)
    assert desk.stack.currentWidget() is view and desk.bridge is None  # no call engine
    qtbot.waitUntil(lambda: view.report is not None, timeout=10_000)
    # The hub at a glance, live over a listening signaling connection (issue 14).
    strip = view.findChild(GlanceStrip)
    assert isinstance(strip, GlanceStrip)
    qtbot.waitUntil(lambda: strip.glance is not None, timeout=10_000)
    assert strip.nurses.text() == "Nurses: 0 signed in · 0 free · 0 in a call"
    assert strip.answered.text().startswith("Answered within the standard today:")
    assert view.grab().save(str(SHOTS / "manager-glance.png"))
