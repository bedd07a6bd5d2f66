"""The manager's dashboard: filters, headline figures, charts, tables, drill-down and exports.

Every figure comes from the hub (``/api/v1/reports``) on a worker thread; the view only draws
what arrives. Clicking a headline, a table cell or a bar, or Enter/Space on it, lists the
calls or records behind it (paged, "More" fetches the next page). Exports stream to a hidden
file renamed into place when complete; Cancel stops the download and leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCharts import (
    QBarSeries,
    QStackedBarSeries,
)
from PySide6.QtCore import QDate, QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hub.client import HubClient
from hub.contract.followups import Worklist
from hub.contract.rest import (
    CLAIMS,
    WAIT_BAND_LABELS,
    DrillPage,
    DrillQuery,
    DrillRow,
    Filters,
    Report,
)
from hub.contract.rest import SETTINGS as SITE_KINDS
from records import codes
from ui import theme
from ui.announce import announce
from ui.desk.manager.charts import BarChart, bar_set
from ui.desk.manager.download import Cancelled, download
from ui.desk.tables import choose_by_keys, keyboard_table
from ui.desk.work import Workers
from ui.labels import status_label

__all__ = ["ManagerView"]

KIND_LABELS = {"care_home": "Care homes", "prison": "Prisons", "home": "Home (Gold Line)"}
KIND_COLOURS = {"care_home": "#4c9aff", "prison": "#ffb454", "home": "#7ee787"}
CLAIM_LABELS = {"admission": "Admissions avoided", "ae_attendance": "A&E attendances avoided",
                "prison_transfer": "Prison transfers avoided",
                "ambulance_conveyance": "Ambulance conveyances avoided"}  # fmt: skip
RESULT_COLOURS = {"confirmed": "#3fb950", "withdrawn": "#ff6b6b", "pending": "#93a1b0"}
EXPORTS = (("summary", "Summary CSV", "CSV files (*.csv)"), ("csv", "Log CSV", "CSV (*.csv)"),
           ("xlsx", "XLSX", "Excel workbooks (*.xlsx)"), ("fhir", "FHIR R4", "JSON (*.json)"),
           ("pdf", "PDF board paper", "PDF files (*.pdf)"))  # fmt: skip
DRILL_COLUMNS = ("requested (UTC)", "site", "setting", "answer", "end", "intended", "outcome",
                 "claims", "follow-up", "nurse", "call", "record")  # fmt: skip


def _pct(part: float, whole: float) -> str:
    return "–" if not whole else f"{100 * part / whole:.1f}%"


def _month_label(month: str) -> str:
    return date.fromisoformat(f"{month}-01").strftime("%b %y")


class DayEdit(QDateEdit):
    """A date field that Tab leaves at once (Qt's would step through day, month and year
    first, a stop a keyboard user does not expect); Left and Right move between them."""

    def focusNextPrevChild(self, forward: bool) -> bool:
        return QWidget.focusNextPrevChild(self, forward)


class Progress(QObject):
    """Export progress from the worker thread.

    Signals:
        moved(int, int): done and total (bytes, or records), delivered on the UI thread.
    """

    moved = Signal(int, int)


class ManagerView(QWidget):
    """The dashboard for one signed-in manager.

    Signals:
        refreshed(Report): the figures have been drawn.
        drilled(DrillPage): the calls behind a figure have been listed.
        exported(str): the path of a finished export.
        failed(str): known trouble (hub unreachable, refused), in plain words.
    """

    refreshed = Signal(Report)
    drilled = Signal(DrillPage)
    exported = Signal(str)
    failed = Signal(str)

    def __init__(self, client: HubClient, workers: Workers, today: date | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client, self.workers = client, workers
        self.report: Report | None = None
        self.drill_page: DrillPage | None = None
        self._drill_args: tuple[Filters, str, str | None, str] | None = None
        self._generation = 0
        self._cancel: threading.Event | None = None
        # Where an export goes: a save dialog; tests hand in their own.
        self.choose_path: Callable[[str, str, str], Path | None] = self._ask_path
        today = today or date.today()
        start = (today.replace(day=1) - timedelta(days=335)).replace(day=1)

        # Filters.
        self.start = DayEdit(QDate(start.year, start.month, start.day))
        self.end = DayEdit(QDate(today.year, today.month, today.day))
        for edit, name in ((self.start, "From (UTC day)"), (self.end, "To (UTC day)")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setAccessibleName(name)
        self.kind = QComboBox()
        self.kind.setAccessibleName("Setting")
        self.kind.addItem("All settings", None)
        for k in SITE_KINDS:
            self.kind.addItem(KIND_LABELS[k], k)
        self.site = QComboBox()
        self.site.setAccessibleName("Site")
        self.site.setMinimumWidth(220)
        self.site.addItem("All sites", None)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setDefault(True)
        self.status = status_label("Report status")
        self.status.setProperty("role", "muted")
        bar = QHBoxLayout()
        for label, widget in (("&From", self.start), ("t&o", self.end),
                              ("S&etting", self.kind), ("S&ite", self.site)):
            caption = QLabel(label)
            caption.setBuddy(widget)
            bar.addWidget(caption)
            bar.addWidget(widget)
        bar.addWidget(self.refresh_button)
        bar.addStretch(1)
        # The hub-wide follow-up worklist's overdue checks (issue 13), whatever the filters.
        self.overdue = status_label("Follow-up checks of avoided claims, across the hub",
                                    "Follow-ups overdue: –")
        bar.addWidget(self.overdue)

        # Headline tiles: each a button that drills into its figure.
        self.tiles: dict[str, QPushButton] = {}
        self.tile_values: dict[str, QLabel] = {}
        tiles = QGridLayout()
        # Eight tiles a row at an everyday font; four at a large one, so captions stay legible.
        per_row = 4 if theme.large_text(self) else 8
        for figure, name in (("calls", "Calls"), ("within_60s", "Answered ≤ 60 s"),
                             ("within_5min", "Answered ≤ 5 min"),
                             ("abandoned_after_30s", "Abandoned > 30 s"),
                             ("caller_lost", "Caller lost"), ("no_record", "No outcome recorded"),
                             ("confirmed:admission", "Admissions confirmed"),
                             ("withdrawn:admission", "Admissions withdrawn")):
            tile = QPushButton()
            tile.setObjectName("tile")
            tile.setAccessibleName(f"{name}: –")
            tile.setAccessibleDescription("Lists the calls or records behind the figure")
            tile.setToolTip(f"List the calls or records behind “{name}”")
            inside = QVBoxLayout(tile)
            inside.setContentsMargins(10, 6, 10, 6)
            # A button's own minimum ignores a layout inside it: the layout sets it, so the
            # tile is never lower than its figure and wrapped caption (at a large font too).
            inside.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
            value, caption = QLabel("–"), QLabel(name)
            value.setProperty("role", "figure")
            caption.setProperty("role", "muted")
            caption.setWordWrap(True)
            for part in (value, caption):
                part.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
                inside.addWidget(part)
            self.tile_values[figure] = value
            tile.clicked.connect(lambda _=False, f=figure: self.drill(f))
            row, column = divmod(len(self.tiles), per_row)
            tiles.addWidget(tile, row, column)
            self.tiles[figure] = tile

        # Charts.
        self.calls_view = BarChart("Calls by month and setting")
        self.claims_view = BarChart("Admissions, A&E and transfers avoided: follow-up")
        self.wait_view = BarChart("Time to answer (answered calls)")
        self.calls_chart, self.claims_chart, self.wait_chart = (
            v.chart_ for v in (self.calls_view, self.claims_view, self.wait_view))
        charts = QGridLayout()
        for n, view in enumerate((self.calls_view, self.claims_view, self.wait_view)):
            view.setMinimumHeight(max(220, view.fontMetrics().height() * 8))
            stack = QVBoxLayout()
            stack.addWidget(view.caption)
            stack.addWidget(view, 1)
            # Side by side at an everyday font; one under another at a large one, so the
            # legends and month labels keep their words.
            at = (n, 0) if theme.large_text(self) else (0, n)
            charts.addLayout(stack, at[0], at[1])

        # Tables.
        self.by_setting = self._table(["setting", "calls", "answered", "≤ 60 s", "≤ 5 min",
                                       "mean answer", "abandoned", "> 30 s", "caller lost",
                                       "no outcome"])  # fmt: skip
        self.claims = self._table(["claim", "claimed", "confirmed", "withdrawn", "pending"])
        self.outcomes = self._table(["outcome", "records"])
        self.sites = self._table(["site", "setting", "calls", "answered", "≤ 5 min",
                                  "abandoned"])  # fmt: skip
        self.savings = self._table(["item", "unit cost", "year", "claimed", "confirmed",
                                    "estimate (confirmed)", "source"])  # fmt: skip
        savings_page = QWidget()
        col = QVBoxLayout(savings_page)
        note = QLabel("Estimates only. Unit costs are editable assumptions "
                      "(records/data/unit_costs.csv), each with its source: confirm them "
                      "locally before quoting. The headline counts confirmed claims only.")
        note.setWordWrap(True)
        note.setProperty("role", "muted")
        col.addWidget(note)
        col.addWidget(self.savings)
        self.drill_table = self._table(list(DRILL_COLUMNS))
        drill_header = self.drill_table.horizontalHeader()
        drill_header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        drill_header.setStretchLastSection(True)
        for table, name in ((self.by_setting, "By setting"), (self.claims, "Claims"),
                            (self.outcomes, "Outcomes")):
            keyboard_table(table, name, "Enter or Space on a cell lists the records behind "
                           "it")
        keyboard_table(self.sites, "Sites")
        keyboard_table(self.savings, "Savings")
        keyboard_table(self.drill_table, "Records behind a figure")
        self.drill_title = status_label(
            "Records behind a figure",
            "Choose a figure, a cell or a bar (click it, or Enter) to list what is behind it.")
        self.drill_title.setWordWrap(True)
        self.more = QPushButton("&More")
        self.more.setEnabled(False)
        drill_page = QWidget()
        col = QVBoxLayout(drill_page)
        top = QHBoxLayout()
        top.addWidget(self.drill_title, 1)
        top.addWidget(self.more)
        col.addLayout(top)
        col.addWidget(self.drill_table)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Tables")  # focusable (it hands focus to its tabs)
        self.tabs.addTab(self.by_setting, "By &setting")
        self.tabs.addTab(self.claims, "&Claims")
        self.tabs.addTab(self.outcomes, "&Outcomes")
        self.tabs.addTab(self.sites, "Si&tes")
        self.tabs.addTab(savings_page, "Sa&vings")
        self.tabs.addTab(drill_page, "&Records behind a figure")

        # Exports.
        self.export_buttons: dict[str, QPushButton] = {}
        exports = QHBoxLayout()
        exports.addWidget(QLabel("Export:"))
        for fmt, label, _pattern in EXPORTS:
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, f=fmt: self.on_export_clicked(f))
            self.export_buttons[fmt] = button
            exports.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Export progress")
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setVisible(False)
        exports.addWidget(self.progress, 1)
        exports.addWidget(self.cancel_button)
        exports.addStretch(1)
        self.status.setWordWrap(True)
        self.progress_signal = Progress(self)

        upper = QWidget()
        grid = QVBoxLayout(upper)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(tiles)
        grid.addLayout(charts, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        # In a scroll area: at a large font the dashboard is taller (and wider) than the
        # window, and scrolls rather than squeezing its figures until their text is cut.
        page = QWidget()
        layout = QGridLayout(page)
        layout.addLayout(bar, 0, 0)
        layout.addWidget(split, 1, 0)
        layout.addLayout(exports, 2, 0)
        layout.addWidget(self.status, 3, 0)
        scroll = QScrollArea()
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes control to control
        scroll.setAccessibleName("Dashboard")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.refresh_button.clicked.connect(self.refresh)
        self.more.clicked.connect(self.on_more)
        self.cancel_button.clicked.connect(self.on_cancel)
        self.progress_signal.moved.connect(self.on_progress)
        for table, chosen in ((self.by_setting, self.on_setting_cell),
                              (self.claims, self.on_claim_cell),
                              (self.outcomes, self.on_outcome_cell)):
            table.cellClicked.connect(chosen)
            choose_by_keys(table, chosen, click=False)

    # --- building blocks ----------------------------------------------------------------------

    def _table(self, headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.setAlternatingRowColors(True)
        return table

    @staticmethod
    def _fill(table: QTableWidget, rows: list[list[Any]]) -> None:
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem("" if value is None else str(value))
                numeric = isinstance(value, int | float) or (
                    isinstance(value, str) and value[:1] != "" and value[0] in "£0123456789–")
                if c > 0 and numeric:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)

    def filters(self) -> Filters:
        return Filters(start=self.start.date().toPython(), end=self.end.date().toPython(),
                       site_id=self.site.currentData(), site_kind=self.kind.currentData())

    # --- refresh ------------------------------------------------------------------------------

    def load_sites(self) -> None:
        def fill(sites: object) -> None:
            assert isinstance(sites, list)
            for s in sorted(sites, key=lambda s: s.name):
                self.site.addItem(f"{s.name} ({KIND_LABELS.get(s.role, s.role)})", s.id)

        self.workers.run(self.client.sites, on_done=fill, on_failed=self._trouble)

    @Slot()
    def refresh(self) -> None:
        f = self.filters()
        if f.end < f.start:
            self.status.setText("“To” is before “From”.")
            return
        self._generation += 1
        generation = self._generation
        self.status.setText("Refreshing…")
        self.refresh_button.setEnabled(False)

        def done(report: object) -> None:
            if generation == self._generation:
                assert isinstance(report, Report)
                self.show_report(report)

        self.workers.run(self.client.report, f, on_done=done, on_failed=self._trouble)
        self.workers.run(self.client.follow_ups, on_done=self.show_follow_ups,
                         on_failed=lambda _e: self.overdue.setText("Follow-ups: not reached"))

    def show_follow_ups(self, worklist: Worklist) -> None:
        c = worklist.counts
        self.overdue.setText(f"Follow-ups overdue: {c.overdue} (due: {c.due})")

    def _trouble(self, exc: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        text = str(exc) if str(exc) else type(exc).__name__
        self.status.setText(f"Could not reach the figures: {text}")
        announce(self.status, self.status.text(), assertive=True)
        self.failed.emit(text)

    def show_report(self, r: Report) -> None:
        self.report = r
        self.refresh_button.setEnabled(True)
        calls, answered = r.total("calls"), r.total("answered")
        values = {
            "calls": f"{calls:,.0f}",
            "within_60s": _pct(r.total("within_60s"), answered),
            "within_5min": _pct(r.total("within_5min"), answered),
            "abandoned_after_30s": f"{r.total('abandoned_after_30s'):,.0f} "
                                   f"({_pct(r.total('abandoned_after_30s'), calls)})",
            "caller_lost": f"{r.total('caller_lost'):,.0f}",
            "no_record": f"{r.total('no_record'):,.0f}",
            "confirmed:admission": f"{r.claim_total('admission', 'confirmed'):,} of "
                                   f"{r.claim_total('admission', 'claimed'):,}",
            "withdrawn:admission": f"{r.claim_total('admission', 'withdrawn'):,}",
        }  # fmt: skip
        for figure, label in self.tile_values.items():
            label.setText(values[figure])
            name = self.tiles[figure].accessibleName().rsplit(":", 1)[0]
            self.tiles[figure].setAccessibleName(f"{name}: {values[figure]}")
        self._draw_charts(r)
        self._fill_tables(r)
        self.status.setText(f"{calls:,.0f} calls · the hub took {r.elapsed_ms:.0f} ms · "
                            f"{r.generated_at:%H:%M:%S} UTC")
        self.refreshed.emit(r)

    def _draw_charts(self, r: Report) -> None:
        months = r.months()[-12:]
        labels = [_month_label(m) for m in months]
        stacked = QStackedBarSeries()
        for n, kind in enumerate(SITE_KINDS):
            stacked.append(bar_set(KIND_LABELS[kind], KIND_COLOURS[kind], n, [
                r.total("calls", month=m, site_kind=kind) for m in months]))
        self.calls_view.show_bars(stacked, labels, lambda n, i: self.drill(
            "calls", months[i], SITE_KINDS[n]))
        claims = QStackedBarSeries()
        main = CLAIMS[:3]
        results = list(RESULT_COLOURS)
        for n, (result, colour) in enumerate(RESULT_COLOURS.items()):
            per = []
            for m in months:
                if result == "pending":
                    per.append(sum(r.claim_total(c, "claimed", month=m)
                                   - r.claim_total(c, "confirmed", month=m)
                                   - r.claim_total(c, "withdrawn", month=m) for c in main))
                else:
                    per.append(sum(r.claim_total(c, result, month=m) for c in main))
            claims.append(bar_set(result.capitalize(), colour, n, per))
        self.claims_view.show_bars(claims, labels, lambda n, i: self.drill(
            f"{results[n]}:admission", months[i]))
        waits = QBarSeries()
        waits.append(bar_set("Answered calls", "#4c9aff", 0, r.wait_bands()))
        self.wait_view.show_bars(waits, list(WAIT_BAND_LABELS))
        self.wait_chart.legend().setVisible(False)

    def _fill_tables(self, r: Report) -> None:
        rows = []
        for kind in (*SITE_KINDS, None):
            t = {f: r.total(f, site_kind=kind) for f in (
                "calls", "answered", "within_60s", "within_5min", "answer_s_total",
                "abandoned", "abandoned_after_30s", "caller_lost", "no_record")}
            mean = f"{t['answer_s_total'] / t['answered']:.0f} s" if t["answered"] else "–"
            rows.append([KIND_LABELS[kind] if kind else "All", int(t["calls"]),
                         int(t["answered"]), _pct(t["within_60s"], t["answered"]),
                         _pct(t["within_5min"], t["answered"]), mean, int(t["abandoned"]),
                         int(t["abandoned_after_30s"]), int(t["caller_lost"]),
                         int(t["no_record"])])  # fmt: skip
        self._fill(self.by_setting, rows)
        claim_rows = []
        for claim in CLAIMS:
            got = [r.claim_total(claim, w) for w in ("claimed", "confirmed", "withdrawn")]
            claim_rows.append([CLAIM_LABELS[claim], *got, got[0] - got[1] - got[2]])
        self._fill(self.claims, claim_rows)
        table = codes.outcomes()
        self._outcome_codes = sorted(r.outcome_totals(), key=lambda c: -r.outcome_totals()[c])
        self._fill(self.outcomes, [[table[c].label if c in table else c, r.outcome_totals()[c]]
                                   for c in self._outcome_codes])  # fmt: skip
        self._fill(self.sites, [[s.site_name, KIND_LABELS.get(s.site_kind, s.site_kind), s.calls,
                                 s.answered, _pct(s.within_5min, s.answered), s.abandoned]
                                for s in r.sites])  # fmt: skip
        self._fill(self.savings, [[s.unit.label, f"£{s.unit.cost_gbp:,.0f}", s.unit.year,
                                   s.claimed, s.confirmed, f"£{s.confirmed_gbp:,.0f}",
                                   s.unit.source] for s in r.savings])  # fmt: skip
        for row, s in enumerate(r.savings):
            for col in range(self.savings.columnCount()):
                item = self.savings.item(row, col)
                if item is not None:
                    item.setToolTip(s.unit.source)

    # --- drill-down ---------------------------------------------------------------------------

    _SETTING_FIGURES = ("records", "calls", "answered", "within_60s", "within_5min", "calls",
                        "abandoned", "abandoned_after_30s", "caller_lost", "no_record")

    @Slot(int, int)
    def on_setting_cell(self, row: int, column: int) -> None:
        kind = SITE_KINDS[row] if row < len(SITE_KINDS) else None
        figure = self._SETTING_FIGURES[column]
        self.drill("calls" if figure == "records" else figure, None, kind)

    @Slot(int, int)
    def on_claim_cell(self, row: int, column: int) -> None:
        which = ("claimed", "claimed", "confirmed", "withdrawn", "pending")[column]
        self.drill(f"{which}:{CLAIMS[row]}")

    @Slot(int, int)
    def on_outcome_cell(self, row: int, _column: int) -> None:
        self.drill(f"outcome:{self._outcome_codes[row]}")

    def drill(self, figure: str, month: str | None = None, kind: str | None = None) -> None:
        f = self.filters()
        if kind is not None:
            f = f.model_copy(update={"site_kind": kind})
        where = ", ".join(x for x in (month and _month_label(month),
                                      kind and KIND_LABELS.get(kind, kind)) if x)
        title = figure.replace("_", " ").replace(":", ": ") + (f" — {where}" if where else "")
        self._drill_args = (f, figure, month, title)
        self.drill_table.setRowCount(0)
        self.drill_title.setText(f"{title}: loading…")
        self.tabs.setCurrentIndex(self.tabs.count() - 1)
        self._fetch_drill(0)

    def _fetch_drill(self, offset: int) -> None:
        assert self._drill_args is not None
        f, figure, month, _title = self._drill_args
        args = self._drill_args
        self.more.setEnabled(False)

        def done(page: object) -> None:
            if self._drill_args is args:
                assert isinstance(page, DrillPage)
                self.show_drill(page)

        query = DrillQuery(figure=figure, month=month, offset=offset, limit=200)
        self.workers.run(self.client.drill, f, query, on_done=done,
                         on_failed=self._trouble)  # fmt: skip

    @Slot()
    def on_more(self) -> None:
        if self.drill_page is not None and self.drill_page.next_offset is not None:
            self._fetch_drill(self.drill_page.next_offset)

    def show_drill(self, page: DrillPage) -> None:
        self.drill_page = page
        start = page.offset
        self.drill_table.setRowCount(start + len(page.rows))
        for n, row in enumerate(page.rows):
            for c, value in enumerate(_drill_cells(row)):
                self.drill_table.setItem(start + n, c, QTableWidgetItem(value))
        title = self._drill_args[3] if self._drill_args else page.figure
        shown = start + len(page.rows)
        self.drill_title.setText(f"{title}: {shown:,} of {page.total:,}")
        announce(self.drill_title, f"Records behind {self.drill_title.text()}")
        self.more.setEnabled(page.next_offset is not None)
        self.drilled.emit(page)

    # --- exports ------------------------------------------------------------------------------

    def _ask_path(self, fmt: str, suggested: str, pattern: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, "Export", suggested, pattern)
        return Path(path) if path else None

    @Slot(str)
    def on_export_clicked(self, fmt: str) -> None:
        f = self.filters()
        ext = {"summary": "summary.csv", "fhir": "json"}.get(fmt, fmt)
        pattern = next(p for code, _label, p in EXPORTS if code == fmt)
        path = self.choose_path(fmt, f"telehub-{f.start}-{f.end}.{ext}", pattern)
        if path is not None:
            self.export(fmt, path)

    def export(self, fmt: str, path: Path) -> None:
        """Download one export to ``path`` on a worker; progress shown, Cancel available."""
        f = self.filters()
        cancel = threading.Event()
        self._cancel = cancel
        for button in self.export_buttons.values():
            button.setEnabled(False)
        self.progress.setRange(0, 0)  # busy until the first figure arrives
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        moved = self.progress_signal.moved

        def run() -> str:
            download(self.client, f, fmt, path, cancel, lambda d, t: moved.emit(d, t))
            return str(path)

        def finished(message: str, ok: str | None = None) -> None:
            self._cancel = None
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            for button in self.export_buttons.values():
                button.setEnabled(True)
            self.status.setText(message)
            announce(self.status, message, assertive=ok is None and "cancelled" not in message)
            if ok is not None:
                self.exported.emit(ok)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, Cancelled):
                finished("Export cancelled; nothing was written.")
            else:
                finished(f"Export failed ({exc or type(exc).__name__}); nothing was written.")
                self.failed.emit(str(exc))

        self.workers.run(run, on_done=lambda p: finished(f"Exported to {p}", str(p)),
                         on_failed=failed)  # fmt: skip

    @Slot(int, int)
    def on_progress(self, done: int, total: int) -> None:
        if total <= 0:
            return
        scale = 1000
        self.progress.setRange(0, scale)
        self.progress.setValue(int(scale * min(done, total) / total))

    @Slot()
    def on_cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.status.setText("Cancelling the export…")


def _drill_cells(row: DrillRow) -> list[str]:
    answer = "–" if row.answer_s is None else (
        f"{row.answer_s:.0f} s" if row.answer_s < 120 else f"{row.answer_s / 60:.1f} min")
    return [
        f"{row.requested_at:%Y-%m-%d %H:%M}" if row.requested_at else "",
        row.site, KIND_LABELS.get(row.site_kind, row.site_kind), answer, row.end_reason or "",
        row.intended_action or "", row.outcome or "", ", ".join(row.claims),
        row.follow_up or ("pending" if row.claims else ""), row.nurse or "",
        (row.call_id or "")[:8], (row.record_uuid or "")[:8],
    ]  # fmt: skip
