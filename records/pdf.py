"""The board paper's pages (text, lines, filled boxes) as PDF, drawn through fpdf2.

The summary is written by the hub, by ``telehub-export`` on a server with no display and by
the desk, so it cannot depend on Qt (records/ never imports it). Text is set in fonts that
ship with telehub (resources/fonts, subset into each PDF): DejaVu Sans Condensed for Latin,
Greek and Cyrillic (about Helvetica's widths, which the layout was made for), Noto Naskh
Arabic for each run of Arabic script (Urdu, Arabic), shaped and put right to left by
HarfBuzz (fpdf2's text shaping, uharfbuzz). So "Łąka House" or a site named in Urdu prints
as itself, and ``pdftotext`` reads it back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import IO

import resources

__all__ = ["A4", "Canvas", "Colour"]

A4 = (595.0, 842.0)


class _NoGlyphsInLogs(logging.Filter):
    """fpdf2 logs the letters a font lacks, which are letters of a site's or patient's name:
    keep the warning, drop the letters (no patient data in logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "missing the following glyphs" in str(record.msg) and record.args:
            font = record.args[0] if isinstance(record.args, tuple) else "?"
            record.msg, record.args = "font %s lacks some letters of a text (not printed)", (
                font,)
        return True


logging.getLogger("fpdf.output").addFilter(_NoGlyphsInLogs())
Colour = tuple[float, float, float]

_FONTS = {  # family: (regular, bold) in resources/fonts
    "sans": ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf"),
    "naskh": ("NotoNaskhArabic-Regular.ttf", "NotoNaskhArabic-Bold.ttf"),
}
_ARABIC = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
# A run of Arabic script: its letters with the spaces, digits and punctuation between them,
# the figures just after (a house number) and the bracket that closes one it opened, which
# stay with it when it is put right to left.
_ARABIC_RUN = re.compile(
    rf"[{_ARABIC}](?:[\s\d.,:;'()/\-{_ARABIC}]*[{_ARABIC}])?(?:\s*\d+)*\)?")
_STRONG = re.compile(rf"[{_ARABIC}]|[^\W\d_]")


def _runs(text: str) -> list[tuple[str, str]]:
    """(family, text) runs left to right as they are set on the line.

    A run of Arabic script is one right-to-left piece inside a left-to-right line; a line
    that starts with Arabic script reads right to left, so its runs go in reverse order.
    """
    runs: list[tuple[str, str]] = []
    at = 0
    for match in _ARABIC_RUN.finditer(text):
        run = match.group()
        if run.endswith(")") and run.count("(") < run.count(")"):
            run = run[:-1]  # a bracket opened before the run closes outside it
        if match.start() > at:
            runs.append(("sans", text[at:match.start()]))
        runs.append(("naskh", run))
        at = match.start() + len(run)
    if at < len(text):
        runs.append(("sans", text[at:]))
    first = _STRONG.search(text)
    if first is not None and re.match(rf"[{_ARABIC}]", first.group()):
        # The spaces between runs stay between them when the order turns round.
        runs = [(family, _mirror_spaces(part)) for family, part in reversed(runs)]
    return runs


def _mirror_spaces(text: str) -> str:
    core = text.strip()
    if not core:
        return text
    lead, trail = text[: text.index(core)], text[text.index(core) + len(core):]
    return trail + core + lead


class Canvas:
    """Pages drawn top-down in points (y grows downward, from the top-left corner)."""

    def __init__(self, size: tuple[float, float] = A4, title: str = "") -> None:
        self.width, self.height = size
        self.title = title
        # Imported here: fpdf2 with fontTools and Pillow takes ~0.5 s to import, which the
        # hub and telehub-export should not pay at start for a paper they may never write.
        from fpdf import FPDF

        self._pdf = FPDF(unit="pt", format=size)
        self._pdf.set_margins(0, 0, 0)
        self._pdf.set_auto_page_break(False)
        self._pdf.c_margin = 0  # a cell's text starts at its x, as a Canvas text does
        self._pdf.set_title(title)
        self._pdf.set_producer("telehub")
        self._loaded: set[str] = set()
        self._pdf.add_page()

    @property
    def page_count(self) -> int:
        return self._pdf.pages_count

    def new_page(self) -> None:
        self._pdf.add_page()

    def _font(self, family: str, size: float, bold: bool) -> None:
        """Selects a shipped font, loading it on first use (Naskh only when a text needs it)."""
        for needed in ("sans", family):
            if needed not in self._loaded:
                regular, heavy = _FONTS[needed]
                self._pdf.add_font(needed, "", resources.path("fonts", regular))
                self._pdf.add_font(needed, "B", resources.path("fonts", heavy))
                self._loaded.add(needed)
                # Naskh has the Arabic script's own punctuation but not brackets, slashes
                # or hyphens: those come from DejaVu.
                self._pdf.set_fallback_fonts(["sans"])
        self._pdf.set_font(family, "B" if bold else "", size)
        # Shaping is what Arabic script needs (joined letter forms, right to left); Latin
        # text is set as it is, so ligatures never change what pdftotext reads back.
        self._pdf.set_text_shaping(family == "naskh")

    def text_width(self, text: str, size: float, bold: bool = False) -> float:
        width = 0.0
        for family, part in _runs(text):
            self._font(family, size, bold)
            width += self._pdf.get_string_width(part)
        return width

    def text(self, x: float, y: float, text: str, size: float = 10, bold: bool = False,
             colour: Colour = (0, 0, 0), align: str = "left") -> None:  # fmt: skip
        """Text whose baseline is at ``y``; ``align`` right or centre puts its end or middle
        at ``x``."""
        if align != "left":
            width = self.text_width(text, size, bold)
            x -= width if align == "right" else width / 2
        self._pdf.set_text_color(*(round(c * 255) for c in colour))
        for family, part in _runs(text):
            self._font(family, size, bold)
            width = self._pdf.get_string_width(part)
            # A cell's baseline is 0.8 of its height below its top when the height is the
            # font size (fpdf2 puts it at half the height plus 0.3 of the size).
            self._pdf.set_xy(x, y - 0.8 * size)
            self._pdf.cell(width, size, part)
            x += width

    def box(self, x: float, y: float, w: float, h: float, fill: Colour) -> None:
        self._pdf.set_fill_color(*(round(c * 255) for c in fill))
        self._pdf.rect(x, y, w, h, style="F")

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: Colour = (0, 0, 0),
             width: float = 0.5) -> None:  # fmt: skip
        self._pdf.set_draw_color(*(round(c * 255) for c in colour))
        self._pdf.set_line_width(width)
        self._pdf.line(x1, y1, x2, y2)

    def wrap(self, x: float, y: float, width: float, text: str, size: float = 8,
             colour: Colour = (0.25, 0.25, 0.25), leading: float = 1.3) -> float:  # fmt: skip
        """Text wrapped at spaces within ``width``; returns the y below the last line."""
        line = ""
        for word in text.split():
            trial = f"{line} {word}".strip()
            if line and self.text_width(trial, size) > width:
                self.text(x, y, line, size, colour=colour)
                y += size * leading
                line = word
            else:
                line = trial
        if line:
            self.text(x, y, line, size, colour=colour)
            y += size * leading
        return y

    def write(self, out: IO[bytes]) -> None:
        """The document, its fonts embedded (only the glyphs it uses), content deflated."""
        out.write(bytes(self._pdf.output()))


def bars(canvas: Canvas, x: float, y: float, w: float, h: float, labels: Sequence[str],
         series: Sequence[tuple[str, Colour, Sequence[float]]], title: str,
         stacked: bool = True) -> None:  # fmt: skip
    """A bar chart (stacked or grouped) with a legend, in the box x, y, w, h."""
    canvas.text(x, y + 10, title, 10, bold=True)
    top, bottom, left = y + 28, y + h - 16, x + 34
    if stacked:
        peak = max([sum(s[2][i] for s in series) for i in range(len(labels))] or [0])
    else:
        peak = max([max(s[2]) for s in series if s[2]] or [0])
    peak = max(peak, 1.0)
    step = _nice(peak / 4)
    scale_top = step * max(1, -(-peak // step))
    grid = (0.85, 0.85, 0.85)
    tick = 0.0
    while tick <= scale_top + 1e-9:
        ty = bottom - (bottom - top) * tick / scale_top
        canvas.line(left, ty, x + w, ty, grid, 0.3)
        canvas.text(left - 4, ty + 3, f"{tick:,.0f}", 7, align="right")
        tick += step
    n = max(len(labels), 1)
    slot = (x + w - left) / n
    for i, label in enumerate(labels):
        base = bottom
        groups = len(series)
        for k, (_name, colour, values) in enumerate(series):
            value = values[i] if i < len(values) else 0
            bh = (bottom - top) * value / scale_top
            if stacked:
                canvas.box(left + slot * 0.15 + slot * i, base - bh, slot * 0.7, bh, colour)
                base -= bh
            else:
                bw = slot * 0.8 / groups
                canvas.box(left + slot * 0.1 + slot * i + bw * k, bottom - bh, bw, bh, colour)
        canvas.text(left + slot * (i + 0.5), bottom + 9, label, 7, align="centre")
    lx = left
    for name, colour, _values in series:
        canvas.box(lx, y + 15, 7, 7, colour)
        canvas.text(lx + 10, y + 21.5, name, 7)
        lx += 18 + canvas.text_width(name, 7)


def _nice(raw: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) at or above ``raw``."""
    power = 1.0
    while power * 10 <= raw:
        power *= 10
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power
