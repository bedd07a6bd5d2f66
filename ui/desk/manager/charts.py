"""The dashboard's bar charts, readable without a mouse or colour vision: each chart is one
Tab stop whose arrow keys move a highlighted bar (its name says the series, the month and
the value, so a screen reader reads it), Enter or Space lists the records behind it as a
click does, and every series differs by a pattern and an outline, not by hue alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QBrush, QColor, QFocusEvent, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ui import theme

# One pattern per series, in order: solid, hatched, cross-hatched, dotted.
PATTERNS = (Qt.BrushStyle.SolidPattern, Qt.BrushStyle.BDiagPattern,
            Qt.BrushStyle.CrossPattern, Qt.BrushStyle.Dense5Pattern)
CHART_BACKGROUND = "#1d232a"
CHART_TEXT = "#d6dde6"
HOW = ("Left and Right choose the month, Up and Down the series; Enter or Space lists the "
       "records behind the bar")

Drill = Callable[[int, int], None]  # (series index, category index)


def bar_set(label: str, colour: str, index: int, values: Sequence[float]) -> QBarSet:
    """A series in its colour and the ``index``-th pattern, outlined in its colour so a
    hatched bar still has a clear edge (3:1 or more on the chart's background)."""
    bars = QBarSet(label)
    bars.setBrush(QBrush(QColor(colour), PATTERNS[index % len(PATTERNS)]))
    bars.setPen(QPen(QColor(colour), 2))
    bars.setSelectedColor(QColor(theme.FOCUS))
    bars.append([float(v) for v in values])
    return bars


class BarChart(QChartView):
    """A chart of bar sets over categories that a keyboard user can walk and drill into."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        self.chart_ = QChart()
        super().__init__(self.chart_, parent)
        self.title = title
        chart = self.chart_
        chart.setTitle(title)
        chart.setTheme(QChart.ChartTheme.ChartThemeDark)
        chart.setBackgroundBrush(QColor(CHART_BACKGROUND))
        chart.setTitleBrush(QColor(CHART_TEXT))
        chart.setTitleFont(theme.scaled_font(self, 1.1, bold=True))
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.legend().setLabelColor(QColor(CHART_TEXT))
        chart.legend().setFont(self.font())
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        # The view is the one Tab stop; its viewport (focusable by default, handing focus
        # to the view as its proxy) would be a second, nameless object to a screen reader.
        # The viewport's policy passes on to its proxy, the view: the view's is set after.
        self.viewport().setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(title)
        self.setAccessibleDescription(HOW)
        self.sets: list[QBarSet] = []
        self.categories: list[str] = []
        self.drill: Drill | None = None
        self.current = (0, 0)

    def show_bars(self, series: QBarSeries | QStackedBarSeries, categories: list[str],
                  drill: Drill | None = None) -> None:
        """Draws ``series`` over ``categories``; ``drill(set, category)`` lists what is
        behind a bar (clicked, or chosen with Enter/Space)."""
        chart = self.chart_
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        chart.addSeries(series)
        x = QBarCategoryAxis()
        x.append(categories)
        x.setLabelsFont(theme.scaled_font(self, 0.9))
        x.setLabelsBrush(QColor(CHART_TEXT))
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(x)
        y = QValueAxis()
        y.setLabelFormat("%.0f")
        y.setLabelsFont(theme.scaled_font(self, 0.9))
        y.setLabelsBrush(QColor(CHART_TEXT))
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(y)
        self.sets, self.categories, self.drill = list(series.barSets()), categories, drill
        if isinstance(series, QStackedBarSeries):
            peak = max((sum(b.at(i) for b in self.sets) for i in range(len(categories))),
                       default=0)
        else:
            peak = max((b.at(i) for b in self.sets for i in range(b.count())), default=0)
        y.setRange(0, max(float(peak), 4.0))  # an empty period still gets a readable axis
        y.applyNiceNumbers()
        for n, bars in enumerate(self.sets):
            bars.clicked.connect(lambda i, n=n: self._chosen(n, i))
        self._move(0, max(len(categories) - 1, 0))  # the latest month first

    def bar_text(self) -> str:
        """The current bar in words: "Care homes, Jan 25: 4"."""
        if not self.sets or not self.categories:
            return "no bars"
        n, i = self.current
        return f"{self.sets[n].label()}, {self.categories[i]}: {self.sets[n].at(i):,.0f}"

    def _move(self, n: int, i: int) -> None:
        if not self.sets or not self.categories:
            self.setAccessibleName(f"{self.title}: no bars")
            return
        n, i = n % len(self.sets), max(0, min(i, len(self.categories) - 1))
        self.current = (n, i)
        for k, bars in enumerate(self.sets):
            bars.deselectAllBars()
            if k == n and self.hasFocus():
                bars.selectBar(i)
        self.setAccessibleName(f"{self.title}. {self.bar_text()}")

    def _chosen(self, n: int, i: int) -> None:
        self._move(n, i)
        if self.drill is not None:
            self.drill(n, i)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        n, i = self.current
        key = event.key()
        moves = {Qt.Key.Key_Left: (n, i - 1), Qt.Key.Key_Right: (n, i + 1),
                 Qt.Key.Key_Up: (n - 1, i), Qt.Key.Key_Down: (n + 1, i),
                 Qt.Key.Key_Home: (n, 0), Qt.Key.Key_End: (n, len(self.categories) - 1)}
        if key in moves:
            self._move(*moves[Qt.Key(key)])
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self.sets:
            self._chosen(n, i)
        else:
            super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self._move(*self.current)  # the highlight shows only while the chart has focus

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        for bars in self.sets:
            bars.deselectAllBars()
