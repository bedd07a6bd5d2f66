"""Resolve a conflict: both takes of a record side by side, and the version that supersedes both.

Issue 13. Two desks amended one version; the hub took the first, so the second nurse sees
the hub's take and her own, field by field where they differ, chooses or edits each, and
signs the result with a reason. It is written to this desk's store first (the keeper's
``resolve``) and synced with both takes, so nothing is lost. :func:`open_amendment` is what
History's Amend calls: the amend dialog, or this screen when the record is in conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from records import codes
from records.hub_versions import Conflict, Opened
from records.schema import TriageRecord
from ui.announce import announce
from ui.desk.followup import AmendDialog
from ui.desk.recordkeeper import RecordKeeper

__all__ = ["FIELDS", "ConflictDialog", "open_amendment"]


@dataclass(frozen=True)
class Field:
    """One thing a take says: where it is in the record, how it reads, how it is chosen."""

    path: tuple[str, ...]  # e.g. ("sbard", "background")
    label: str
    kind: str  # "text": editable; "code": one of the takes' codes; "whole": one take's value
    show: Callable[[Any], str] = str


def _code(table: str) -> Callable[[Any], str]:
    def show(value: Any) -> str:
        return "—" if value is None else getattr(codes, table)()[value].label

    return show


def _observations(obs: Any) -> str:
    if obs is None:
        return "—"
    parts = [("RR", obs.get("respiration_rate")), ("SpO₂", obs.get("spo2")),
             ("BP", obs.get("systolic_bp")), ("pulse", obs.get("pulse")),
             ("ACVPU", obs.get("consciousness")), ("temp", obs.get("temperature"))]
    return " · ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in parts if v is not None) or "none taken"


def _claims(avoided: Any) -> str:
    names = {"admission": "admission", "ae_attendance": "A&E attendance",
             "prison_transfer": "prison transfer", "gp_visit": "GP visit"}
    claimed = [label for key, label in names.items() if avoided.get(key)]
    return ("avoided: " + ", ".join(claimed)) if claimed else "no claim"


def _follow_ups(checks: Any) -> str:
    return "; ".join(f"{c['window']} by {c['checked_by']}: claim "
                     + ("withdrawn" if c["unplanned_attendance"] or c["unplanned_admission"]
                        else "confirmed") for c in checks) or "none"


FIELDS: tuple[Field, ...] = (
    Field(("presenting_problem",), "Presenting problem", "text"),
    Field(("sbard", "situation"), "Situation", "text"),
    Field(("sbard", "background"), "Background", "text"),
    Field(("sbard", "assessment"), "Assessment", "text"),
    Field(("sbard", "recommendation"), "Recommendation", "text"),
    Field(("sbard", "decision"), "Decision", "text"),
    Field(("intended_action",), "Intended action", "code", _code("intended_actions")),
    Field(("outcome",), "Outcome", "code", _code("outcomes")),
    Field(("referral_target",), "Referred to", "code", _code("referral_targets")),
    Field(("specialist",), "Specialist", "text"),
    Field(("observations",), "Observations", "whole", _observations),
    Field(("soft_signs",), "Soft signs", "whole",
          lambda signs: ", ".join(codes.soft_signs()[s].label for s in signs) or "none"),
    Field(("avoided",), "Avoided-admission claim", "whole", _claims),
    Field(("follow_ups",), "Follow-up checks", "whole", _follow_ups),
)


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def differences(conflict: Conflict) -> list[tuple[Field, Any, Any]]:
    """The fields where the two takes differ: (field, the hub's value, this desk's)."""
    hub = conflict.hub.model_dump(mode="json")
    mine = conflict.mine.model_dump(mode="json")
    return [(f, _get(hub, f.path), _get(mine, f.path)) for f in FIELDS
            if _get(hub, f.path) != _get(mine, f.path)]


class _Choice:
    """One row of the screen: both takes of a field and what the resolution says."""

    def __init__(self, grid: QGridLayout, row: int, field: Field, hub: Any, mine: Any,
                 hub_by: str) -> None:  # fmt: skip
        self.field, self.hub, self.mine = field, hub, mine
        name = QLabel(field.label)
        name.setWordWrap(True)
        grid.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
        for column, value, whose in ((1, hub, f"on the hub ({hub_by})"), (2, mine, "yours")):
            shown = QPlainTextEdit(field.show(value) if value is not None else "—")
            shown.setReadOnly(True)
            shown.setTabChangesFocus(True)
            shown.setAccessibleName(f"{field.label}, {whose}")
            shown.setFixedHeight(64)
            grid.addWidget(shown, row, column, Qt.AlignmentFlag.AlignTop)
        self.text: QPlainTextEdit | None = None
        self.pick = QComboBox()
        self.pick.setAccessibleName(f"{field.label}: which to keep")
        self.pick.addItem(f"Keep the hub's ({hub_by})", "hub")
        self.pick.addItem("Keep yours", "mine")
        if field.path == ("follow_ups",):
            self.pick.addItem("Keep both", "both")
            self.pick.setCurrentIndex(2)  # a check done at either desk was done
        cell = QVBoxLayout()
        cell.addWidget(self.pick)
        if field.kind == "text":
            self.text = QPlainTextEdit(hub or "")
            self.text.setTabChangesFocus(True)
            self.text.setAccessibleName(f"{field.label}, resolved")
            self.text.setFixedHeight(64)
            cell.addWidget(self.text)
            self.pick.currentIndexChanged.connect(self.on_pick)
        holder = QWidget()
        holder.setLayout(cell)
        cell.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(holder, row, 3, Qt.AlignmentFlag.AlignTop)

    @Slot()
    def on_pick(self) -> None:
        if self.text is not None:
            self.text.setPlainText((self.hub if self.pick.currentData() == "hub"
                                    else self.mine) or "")

    def value(self) -> Any:
        if self.text is not None:
            return self.text.toPlainText().strip() or (None if self.field.path ==
                                                        ("specialist",) else "")
        choice = self.pick.currentData()
        if choice == "both":
            seen = {(c["window"], c["checked_at"]): c for c in [*self.hub, *self.mine]}
            return sorted(seen.values(), key=lambda c: c["checked_at"])
        return self.hub if choice == "hub" else self.mine


class ConflictDialog(QDialog):
    """Both takes side by side; signing writes the version that supersedes both."""

    def __init__(self, keeper: RecordKeeper, conflict: Conflict, hub_payload: str,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.keeper, self.conflict, self.hub_payload = keeper, conflict, hub_payload
        hub, mine = conflict.hub, conflict.mine
        who = hub.signed_off_by or "another desk"
        self.setWindowTitle(f"Resolve a conflict (the hub holds version {hub.version})")
        self.setAccessibleName("Resolve a conflict")
        self.resize(1000, 720)
        about = hub.patient.name if hub.patient is not None else "A call"
        heading = QLabel(f"{about} · {hub.site_id} · version {hub.version} on the hub")
        heading.setProperty("role", "heading")
        intro = QLabel(
            f"Two desks amended this record. The hub holds version {hub.version} by {who}"
            + (f" (“{hub.amendment_reason}”)" if hub.amendment_reason else "")
            + f"; your version {mine.version} was not taken, and is kept. For each "
            "difference choose a take or edit the text, give a reason, and sign the version "
            f"that supersedes both (version {hub.version + 1}).")
        intro.setWordWrap(True)
        grid = QGridLayout()
        for column, title in enumerate(("Field", f"On the hub ({who})", "Yours", "Resolved")):
            label = QLabel(title)
            label.setProperty("role", "muted")
            grid.addWidget(label, 0, column)
        self.choices = [_Choice(grid, n + 1, field, a, b, who)
                        for n, (field, a, b) in enumerate(differences(conflict))]
        if not self.choices:
            grid.addWidget(QLabel("The takes say the same: sign to close the conflict."),
                           1, 0, 1, 4)
        grid.setRowStretch(len(self.choices) + 1, 1)  # the rows keep their height, at the top
        grid.setContentsMargins(0, 0, 12, 0)  # clear of the scroll bar
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(2, 2)
        grid.setColumnStretch(3, 3)
        body = QWidget()
        body.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        scroll.setAccessibleName("The differences between the two takes")
        self.reason = QLineEdit()
        self.reason.setAccessibleName("Reason for the resolution")
        self.reason.setPlaceholderText("Reason for the resolution (required)")
        self.error = QLabel("")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.sign = QPushButton("&Sign the resolution")
        self.sign.setAccessibleName("Sign the version that supersedes both takes")
        self.sign.setDefault(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setAccessibleName("Cancel: leave the conflict for later")
        buttons = QHBoxLayout()
        buttons.addWidget(self.error, 1)
        buttons.addWidget(self.cancel)
        buttons.addWidget(self.sign)
        col = QVBoxLayout(self)
        col.addWidget(heading)
        col.addWidget(intro)
        col.addWidget(scroll, 1)
        col.addWidget(self.reason)
        col.addLayout(buttons)
        self.sign.clicked.connect(self.on_sign)
        self.reason.textChanged.connect(lambda _text: self.error.setText(""))
        self.cancel.clicked.connect(self.reject)
        keeper.signedOff.connect(self.on_signed_off)
        keeper.saveFailed.connect(self.on_failed)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def resolved(self) -> TriageRecord:
        """The hub's take with each difference as chosen (version, author, reason: the
        keeper's resolve writes those)."""
        data = self.conflict.hub.model_dump(mode="json", exclude={"news2"})
        for choice in self.choices:
            _set(data, choice.field.path, choice.value())
        return TriageRecord.model_validate(data)

    @Slot()
    def on_sign(self) -> None:
        if not self.reason.text().strip():
            self._problem("Give the reason for the resolution.")
            self.reason.setFocus()
            return
        try:
            record = self.resolved()
        except ValueError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in
                             getattr(exc, "errors", lambda: [])()}) or ["the record"]
            self._problem("Not signed: check " + ", ".join(fields[:4]) + ".")
            return
        self.sign.setEnabled(False)
        self.keeper.resolve(self.hub_payload, record, self.reason.text().strip())

    def _problem(self, text: str) -> None:
        self.error.setText(text)
        announce(self.error, text, assertive=True)

    @Slot(object)
    def on_signed_off(self, record: object) -> None:
        if isinstance(record, TriageRecord) and record.uuid == self.conflict.hub.uuid:
            self.accept()

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.sign.setEnabled(True)
        self._problem(message)


def open_amendment(keeper: RecordKeeper, opened: Opened, parent: QWidget | None) -> QDialog:
    """What Amend opens for a record fetched with ``keeper.open_record``: the amend dialog
    on the version to amend from, or the conflict screen when there are two takes."""
    if opened.conflict is not None and opened.hub_payload:
        dialog: QDialog = ConflictDialog(keeper, opened.conflict, opened.hub_payload, parent)
        dialog.open()
        first = dialog.findChild(QComboBox)
        (first or dialog.reason).setFocus()  # type: ignore[attr-defined]
        return dialog
    assert opened.record is not None
    amend = AmendDialog(keeper, opened.record, parent)
    amend.setToolTip(opened.note)
    amend.open()
    amend.form.reason.setFocus()
    return amend
