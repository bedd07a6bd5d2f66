"""Labels that tell assistive technology what they show: a status label's accessible name is
its text (Qt's default, kept by never fixing a name), and a value without words of its own
("7", "00:42") is named by its meaning plus the value. What the label is for goes in the
accessible description, which a screen reader reads after the name."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget


def status_label(meaning: str, text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label whose text speaks for itself ("NEWS2 7", "Saved 10:42"); ``meaning`` ("NEWS2
    total", "Draft save state") is its description, so the name is always what it shows."""
    label = QLabel(text, parent)
    label.setAccessibleDescription(meaning)
    return label


class ValueLabel(QLabel):
    """A bare value ("2", "00:42") named by its meaning and the value: "Pulse sub-score 2",
    "Call time 00:42". The name follows every :meth:`setText`."""

    def __init__(self, meaning: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.meaning = meaning
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setAccessibleName(f"{self.meaning} {text}".strip())
