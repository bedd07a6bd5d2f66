"""The history's dialogs: amend a signed-off record, and record a follow-up check on it."""

from __future__ import annotations

from uuid import UUID

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QVBoxLayout,
    QWidget,
)

from records.schema import FollowUp, TriageRecord, utc_now
from ui.desk.recordkeeper import RecordKeeper
from ui.desk.triage import TriageForm


class AmendDialog(QDialog):
    """The record's own triage form; signing it off writes the next version."""

    def __init__(self, keeper: RecordKeeper, record: TriageRecord,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Amend record (now version {record.version})")
        self.resize(720, 860)
        self.form = TriageForm(keeper, self)
        self.form.load(record)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        self.form.signedOff.connect(lambda _r: self.accept())
        col = QVBoxLayout(self)
        col.addWidget(self.form, 1)
        col.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)


class FollowUpDialog(QDialog):
    """The 72-hour or 7-day check: an unplanned attendance or admission since the call."""

    def __init__(self, keeper: RecordKeeper, record_uuid: UUID, checked_by: str,
                 parent: QWidget | None = None, *, window: str | None = None,
                 adopt: TriageRecord | None = None) -> None:
        super().__init__(parent)
        self.keeper, self.record_uuid, self.checked_by = keeper, record_uuid, checked_by
        self.adopt = adopt  # the hub's version of a record made at another desk
        self.setWindowTitle("Follow-up check")
        self.setAccessibleName("Follow-up check")
        self.window_choice = QComboBox()
        self.window_choice.setAccessibleName("Follow-up window")
        self.window_choice.addItem("72 hours", "72h")
        self.window_choice.addItem("7 days", "7d")
        if window is not None:
            self.window_choice.setCurrentIndex(max(0, self.window_choice.findData(window)))
        # "&&": a single "&" made the E a mnemonic, shown and read as "AE".
        self.attended = QCheckBox("Unplanned A&&E attendance since the call")
        self.admitted = QCheckBox("Unplanned admission since the call")
        form = QFormLayout(self)
        form.addRow("&Window", self.window_choice)
        form.addRow(self.attended)
        form.addRow(self.admitted)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        form.addRow(buttons)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.on_save)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    @Slot()
    def on_save(self) -> None:
        self.keeper.follow_up(self.record_uuid, FollowUp(
            window=self.window_choice.currentData(), checked_at=utc_now(),
            checked_by=self.checked_by, unplanned_attendance=self.attended.isChecked(),
            unplanned_admission=self.admitted.isChecked()), self.adopt)
        self.accept()
