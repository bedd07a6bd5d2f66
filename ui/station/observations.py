"""The pre-call observations with their NEWS2 as they are typed, and the soft signs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QWidget,
)

from records import codes, news2
from ui import theme
from ui.station.page import named

# What the chart calls each observation, in the form's order, with a typical range as a hint.
OBSERVATIONS = (("respiration_rate", "Breaths / min", "12-20"), ("spo2", "SpO2 %", "96"),
                ("systolic_bp", "Systolic BP", "120"), ("pulse", "Pulse / min", "70"),
                ("temperature", "Temperature °C", "37.0"))
HINTS = {name: f"Optional; typical value {hint}" for name, _, hint in OBSERVATIONS}


def news2_words(result: news2.News2Score) -> str:
    if not any(v is not None for v in result.subscores.values()):
        return "NEWS2: enter observations to see the score"
    if result.complete:
        return f"NEWS2 {result.total} – {result.band.replace('-', '–')}"
    return (f"NEWS2 at least {result.total} (partial: {len(result.missing)} of 7 missing) – "
            f"{result.band.replace('-', '–')} or higher")


class ObservationsBox(QGroupBox):
    """The five numbers, air or oxygen, ACVPU and the SpO2 scale; NEWS2 below, live."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Observations (optional)", parent)
        form = QGridLayout(self)
        self.obs: dict[str, QLineEdit] = {}
        for i, (name, label_text, hint_text) in enumerate(OBSERVATIONS):
            edit = QLineEdit(placeholderText=hint_text)
            label = QLabel(label_text)
            label.setWordWrap(True)
            # Named by its own label: the group's title alone names all five alike.
            named(edit, label_text, label)
            edit.setAccessibleDescription(HINTS[name])
            edit.textChanged.connect(self.on_observations_changed)
            self.obs[name] = edit
            # One observation a row, label then field: nothing runs off the side at a
            # large system font (and a single column is the easier form to follow).
            form.addWidget(label, i, 0)
            form.addWidget(edit, i, 1)
        self.oxygen = QComboBox()
        for text, data in (("Not said", None), ("Air", False), ("Oxygen", True)):
            self.oxygen.addItem(text, data)
        self.acvpu = QComboBox()
        self.acvpu.addItem("Not said", None)
        for level, meaning in news2.ACVPU:  # the one ACVPU vocabulary
            self.acvpu.addItem(meaning, level)
        self.scale = QComboBox()
        self.scale.addItem("Scale 1", 1)
        self.scale.addItem("Scale 2 (only if a clinician chose it)", 2)
        for i, (combo, label_text) in enumerate(((self.oxygen, "Air or oxygen"),
                                                 (self.acvpu, "Alert or confused (ACVPU)"),
                                                 (self.scale, "SpO2 scale"))):
            label = QLabel(label_text)
            label.setWordWrap(True)
            named(combo, label_text, label)
            # As narrow as the form needs: the longest choice may wrap the page otherwise.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
            combo.currentIndexChanged.connect(self.on_observations_changed)
            form.addWidget(label, len(OBSERVATIONS) + i, 0)
            form.addWidget(combo, len(OBSERVATIONS) + i, 1)
        self.news2_label = QLabel("")
        self.news2_label.setObjectName("news2")
        self.news2_label.setWordWrap(True)
        form.addWidget(self.news2_label, len(OBSERVATIONS) + 3, 0, 1, 2)
        form.setColumnStretch(1, 1)
        self.on_observations_changed()

    def observation_values(self) -> dict[str, Any]:
        """The typed observations; raises ``news2.ObservationError`` naming a bad one."""
        values: dict[str, Any] = {}
        for name, edit in self.obs.items():
            text = edit.text().strip().replace(",", ".")
            if text:
                try:
                    values[name] = float(text) if name == "temperature" else int(text)
                except ValueError:
                    raise news2.ObservationError(name, "type a number") from None
        for key, combo in (("on_oxygen", self.oxygen), ("consciousness", self.acvpu)):
            if combo.currentData() is not None:
                values[key] = combo.currentData()
        values["scale"] = self.scale.currentData() or 1
        return values

    @Slot()
    def on_observations_changed(self) -> None:
        try:
            result = news2.score(news2.Observations(**self.observation_values()))
        except news2.ObservationError as exc:
            label = dict((n, t) for n, t, _ in OBSERVATIONS).get(exc.field, exc.field)
            problem = f"Check {label}: {str(exc).split(': ', 1)[-1]}"
            self.mark_invalid(exc.field, problem)
            self.news2_label.setText(problem)
            return
        self.mark_invalid(None, "")
        self.news2_label.setText(news2_words(result))

    def mark_invalid(self, field: str | None, problem: str) -> None:
        """The one field with a bad value gets the invalid ring, and its problem as its
        description (a screen reader reads it with the field); the others lose theirs."""
        for name, edit in self.obs.items():
            bad = name == field
            if edit.property("state") == ("bad" if bad else None):
                continue
            edit.setProperty("state", "bad" if bad else None)
            edit.setAccessibleDescription(problem if bad else HINTS[name])
            edit.style().unpolish(edit)
            edit.style().polish(edit)


class SoftSignsBox(QGroupBox):
    """A tick for each soft sign that is new (records.codes' soft-sign table)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Soft signs (tick any that are new)", parent)
        grid = QGridLayout(self)
        # Two columns, or one where two would run off the side (a large system font).
        columns = 1 if theme.station_point_size(QApplication.font().pointSizeF()) > 24 else 2
        self.signs: dict[str, QCheckBox] = {}
        for i, code in enumerate(codes.soft_signs().codes):
            box = QCheckBox(codes.soft_signs()[code].label)
            self.signs[code] = box
            grid.addWidget(box, i // columns, i % columns)

    def ticked(self) -> list[str]:
        return [c for c, box in self.signs.items() if box.isChecked()]
