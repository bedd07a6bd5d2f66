"""The station's page after a call: how it ended, and the plan agreed with the hub (shown
when the nurse writes it, printed, saved as PDF)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from hub.contract.rest import PlanOut as Plan
from ui.station.page import Page, landing, title

WILL_SHOW = "<p>The nurse may send the plan you agreed; it will show here.</p>"


def plan_html(site: str, plan: Plan, reason: str, resident: str | None) -> str:
    when = plan.written_at.astimezone().strftime("%d %b %Y %H:%M")
    about = f"<p><b>Resident:</b> {escape(resident)}</p>" if resident else ""
    again = escape(plan.call_again or "If you are worried, call the hub again.")
    return (f"<h1>Plan agreed with the hub</h1><p><b>{escape(site)}</b></p>{about}"
            f"<p><b>Reason for the call:</b> {escape(reason)}</p>"
            f"<h2>What was agreed</h2><p>{escape(plan.decision)}</p>"
            f"<h2>When to call again</h2><p>{again}</p>"
            f"<p><i>Written by {escape(plan.written_by_name)}, {when}</i></p>")


class PlanPage(Page):
    """After the call.

    Signals:
        doneRequested(): "Done" was pressed.
    """

    doneRequested = Signal()

    def __init__(self, site_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.site_name = site_name
        self.plan: Plan | None = None
        # The reason of the call and the resident it was about (their name).
        self._about: tuple[str, str | None] = ("", None)
        col = QVBoxLayout(self)
        col.setContentsMargins(40, 30, 40, 30)
        self.after_title = landing(title("The call has ended"))
        self.landing = self.after_title
        col.addWidget(self.after_title)
        self.plan_view = QTextBrowser()
        self.plan_view.setAccessibleName("The plan")
        self.plan_view.setTabChangesFocus(True)
        self.plan_view.document().setDocumentMargin(20)
        col.addWidget(self.plan_view, 1)
        row = QHBoxLayout()
        self.print_button = QPushButton("Print")
        self.print_button.clicked.connect(self.on_print)
        self.pdf_button = QPushButton("Save as PDF")
        self.pdf_button.clicked.connect(self.on_save_pdf)
        done = QPushButton("Done")
        done.clicked.connect(self.doneRequested)
        for b in (self.print_button, self.pdf_button):
            b.setEnabled(False)
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(done)
        col.addLayout(row)

    def begin(self, reason: str, resident: str | None) -> None:
        """A new call, about ``resident`` (by name) for ``reason``: no plan yet."""
        self.plan = None
        self._about = (reason, resident)

    def call_over(self, heading: str, note_html: str) -> None:
        self.after_title.setText(heading)
        self.plan_view.setHtml(note_html)
        self.print_button.setEnabled(False)
        self.pdf_button.setEnabled(False)

    def show_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.plan_view.setHtml(self._html())
        self.print_button.setEnabled(True)
        self.pdf_button.setEnabled(True)

    def _html(self) -> str:
        assert self.plan is not None
        return plan_html(self.site_name, self.plan, *self._about)

    def plan_document(self) -> QTextDocument:
        doc = QTextDocument()
        doc.setDefaultFont(self.font())
        doc.setHtml(self._html())
        return doc

    def save_plan_pdf(self, path: Path) -> None:
        writer = QPdfWriter(str(path))
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        writer.setTitle("Plan agreed with the hub")
        writer.setCreator("telehub-site")
        self.plan_document().print_(writer)

    @Slot()
    def on_save_pdf(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save the plan as PDF",
                                              str(Path.home() / "telehub-plan.pdf"), "PDF (*.pdf)")
        if name:
            self.save_plan_pdf(Path(name))

    @Slot()
    def on_print(self) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        if QPrintDialog(printer, self).exec():
            self.plan_document().print_(printer)
