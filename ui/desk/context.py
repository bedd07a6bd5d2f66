"""The context of a call, beside the triage form: who the patient is to the hub, their earlier
encounters and NEWS2 trend, the site's recent calls, and what the site has recorded about the
resident (usual NEWS2, ReSPECT, DNACPR)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QScrollArea,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hub.contract.history import (
    EncounterSummary,
    FollowUpState,
    News2Point,
    PatientContext,
)
from records import codes
from records.codes import CodeTable
from ui import theme
from ui.announce import announce
from ui.desk.tables import ColumnsModel, Index, keyboard_table
from ui.heading import heading
from ui.labels import status_label

FOLLOW_UP_WORDS = {FollowUpState.NONE: "—", FollowUpState.DUE: "due",
                   FollowUpState.OVERDUE: "overdue", FollowUpState.CONFIRMED: "confirmed",
                   FollowUpState.WITHDRAWN: "claim withdrawn"}
_MATCHED = {"nhs_number": "by NHS number", "name": "by name at this site (no NHS number)",
            "none": ""}


def outcome_words(code: str | None) -> str:
    table = codes.outcomes()
    return table[code].label if code and code in table else (code or "—")


def news2_words(total: int | None, band: str | None, complete: bool | None) -> str:
    if total is None:
        return "—"
    return f"{total} {band or ''}".strip() + ("" if complete or complete is None else " partial")


def trend_words(points: list[News2Point], usual: int | None) -> str:
    """"NEWS2 trend: 2 (3 Nov) → 5 (28 Nov) → 7 now; usual for them 2", oldest first."""
    if not points:
        return "NEWS2 trend: no earlier score"
    steps = [f"{p.total} now" if p.now else f"{p.total} ({p.at.astimezone():%d %b})"
             for p in points]
    tail = f"; usual for them {usual}" if usual is not None else ""
    return "NEWS2 trend: " + " → ".join(steps) + tail


def _label(table: CodeTable, code: str | None) -> str:
    return table[code].label if code and code in table else (code or "")


def resident_lines(context: PatientContext) -> list[str]:
    """What the site has recorded about the resident, line by line: the one function the
    panel's resident section is drawn from. The site's own record of them (held by the hub)
    first; else what the patient's latest earlier record carried."""
    held = context.resident
    if held is not None:
        d = held.details
        lines = []
        if d.usual is not None:
            lines.append(f"Usual NEWS2 (normal for them): {d.usual.news2_total}, taken "
                         f"{d.usual.taken_on:%d %b %Y} by {d.usual.taken_by}")
        if d.respect is not None:
            plan = "; ".join(x for x in (_label(codes.respect_focus(), d.respect.focus),
                                         _label(codes.cpr_recommendations(), d.respect.cpr),
                                         d.respect.treatments) if x)
            lines.append(f"ReSPECT: {plan or 'recorded'} (by {d.respect.made_by}, "
                         f"{d.respect.made_on:%d %b %Y})")
        if d.dnacpr is not None:
            lines.append(f"DNACPR: in place ({d.dnacpr.source}, {d.dnacpr.decided_on:%d %b %Y})")
        lines.append(f"Recorded by {held.site_name}, version {held.version} of "
                     f"{held.written_at.astimezone():%d %b %Y}.")
        return lines
    notes = context.last_recorded
    if notes is None:
        return ["Nothing recorded by the site about this resident."]
    lines = []
    if notes.usual_news2 is not None:
        lines.append(f"Usual NEWS2 (normal for them): {notes.usual_news2}")
    if notes.dnacpr is not None:
        lines.append("DNACPR: in place" if notes.dnacpr else "DNACPR: none recorded")
    if notes.respect_plan:
        lines.append(f"ReSPECT: {notes.respect_plan}")
    if notes.source:
        lines.append(f"As recorded in {notes.source}.")
    return lines


def usual_news2(context: PatientContext) -> int | None:
    held = context.resident
    if held is not None and held.details.usual is not None:
        return held.details.usual.news2_total
    return context.last_recorded.usual_news2 if context.last_recorded is not None else None


class EncounterModel(ColumnsModel):
    columns = ("When", "Problem", "NEWS2", "Outcome", "Plan", "Follow-up")

    def __init__(self, with_patient: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[EncounterSummary] = []
        if with_patient:
            self.columns = ("When", "Patient", "Problem", "NEWS2", "Outcome", "Follow-up")

    def set_rows(self, rows: list[EncounterSummary]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row, title = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "When": row.occurred_at.astimezone().strftime("%d %b %Y %H:%M"),
                "Patient": row.patient_name or "—",
                "Problem": row.problem,
                "NEWS2": news2_words(row.news2_total, row.news2_band, row.news2_complete),
                "Outcome": outcome_words(row.outcome),
                "Plan": row.plan or "—",
                "Follow-up": FOLLOW_UP_WORDS[row.follow_up],
            }[title]
        if role == Qt.ItemDataRole.ForegroundRole and title == "NEWS2" and row.news2_band:
            return QBrush(QColor(theme.BAND_COLOURS.get(row.news2_band, "#d6dde6")))
        if role == Qt.ItemDataRole.ToolTipRole and title in ("Problem", "Plan"):
            return row.problem if title == "Problem" else row.plan
        return None


def _table(model: EncounterModel, name: str) -> QTableView:
    table = QTableView()
    table.setModel(model)
    keyboard_table(table, name, "Up and Down read each encounter")
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


class ContextPanel(QWidget):
    """What the hub knows of this call's patient and site, shown as the call is answered."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Patient context")
        self.call_id: str | None = None
        self.title = heading(status_label("Patient context", "Patient context"))
        self.title.setProperty("role", "heading")
        self.who = status_label("Who the hub found")
        self.who.setWordWrap(True)
        self.state = status_label("Context state")
        self.state.setWordWrap(True)
        self.state.setProperty("role", "muted")
        self.resident_title = heading(status_label("Section", "Recorded by the site"))
        self.resident = status_label("What the site has recorded about the resident")
        self.resident.setWordWrap(True)
        self.trend = status_label("NEWS2 trend")
        self.trend.setWordWrap(True)
        # Owned by the panel (Qt parent), not by Python's GC: see ui/desk/history.py.
        self.theirs = EncounterModel(parent=self)
        self.theirs_table = _table(self.theirs, "Patient's earlier encounters")
        self.site = EncounterModel(with_patient=True, parent=self)
        self.site_table = _table(self.site, "Site's recent encounters")
        self.lists = QTabWidget()
        self.lists.setAccessibleName("Earlier encounters and the site's recent calls")
        self.lists.addTab(self.theirs_table, "Patient's earlier encounters")
        self.lists.addTab(self.site_table, "Recent calls from the site")
        # The words scroll rather than crowd when the call leaves the panel little height.
        words = QWidget()
        about = QVBoxLayout(words)
        about.setContentsMargins(0, 0, 4, 0)
        # What changes the decision first: the site's notes and the trend, then the rest.
        for widget in (self.title, self.who, self.trend, self.resident_title, self.resident,
                       self.state):
            about.addWidget(widget)
        about.addStretch(1)
        self.about = QScrollArea()
        self.about.setWidget(words)
        self.about.setWidgetResizable(True)
        self.about.setFrameShape(QFrame.Shape.NoFrame)
        self.about.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.about.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.about, 2)
        layout.addWidget(self.lists, 5)
        self.clear()

    def clear(self, call_id: str | None = None) -> None:
        """An empty panel for a call whose context has not come yet."""
        self.call_id = call_id
        self.who.setText("")
        self.state.setText("Asking the hub for this patient's earlier encounters…"
                           if call_id else "No call")
        self.resident.setText("")
        self.trend.setText("")
        self.theirs.set_rows([])
        self.site.set_rows([])
        self.lists.setTabText(0, "Patient's earlier encounters")
        self.lists.setTabText(1, "Recent calls from the site")

    def failed(self, call_id: str, why: str) -> None:
        if call_id != self.call_id:
            return
        self.state.setText(f"The hub's record could not be read: {why}. The triage form "
                           "works as usual.")
        announce(self.state, "Patient context unavailable")

    def show_context(self, context: PatientContext) -> None:
        if context.call_id != self.call_id:
            return
        patient = context.patient
        if patient is None or context.matched_by == "none":
            self.who.setText(f"{context.site}: the call names no patient, so no earlier "
                             "encounters of theirs can be found.")
        else:
            number = f", NHS {patient.nhs_number}" if patient.nhs_number else ""
            self.who.setText(f"{patient.name or 'Unnamed'}{number} at {context.site} — "
                             f"found {_MATCHED[context.matched_by]}")
        n = len(context.patient_encounters)
        self.state.setText(f"{n} earlier encounter{'s' if n != 1 else ''} of this patient; "
                           f"{len(context.site_encounters)} recent from the site.")
        self.resident.setText("\n".join(resident_lines(context)))
        self.trend.setText(trend_words(context.news2_trend, usual_news2(context)))
        self.theirs.set_rows(context.patient_encounters)
        self.site.set_rows(context.site_encounters)
        self.lists.setTabText(0, f"Patient's earlier encounters ({n})")
        self.lists.setTabText(1, f"Recent calls from the site ({len(context.site_encounters)})")
        announce(self, f"Patient context: {self.state.text()}")
