"""A small vector PDF writer (text, lines, filled boxes) for the board-paper summary.

The summary is written by the hub, by ``telehub-export`` on a server with no display and by
the desk, so it cannot depend on Qt (records/ never imports it) and matplotlib is not
installed. Pages use the PDF base-14 Helvetica fonts in WinAnsi encoding (so "£" and "–"
print, and ``pdftotext`` reads the text back); content streams are deflated.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import IO

__all__ = ["A4", "Canvas", "Colour", "text_width"]

A4 = (595.0, 842.0)
Colour = tuple[float, float, float]

# Helvetica glyph widths (1/1000 em) for ASCII 32..126, from the font's AFM metrics.
_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
)  # fmt: skip


def text_width(text: str, size: float, bold: bool = False) -> float:
    units = sum(_WIDTHS[ord(ch) - 32] if 32 <= ord(ch) <= 126 else 556 for ch in text)
    return units * size / 1000 * (1.06 if bold else 1.0)


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _num(value: float) -> bytes:
    return f"{value:.2f}".rstrip("0").rstrip(".").encode()


class Canvas:
    """Pages drawn top-down in points (y grows downward, from the top-left corner)."""

    def __init__(self, size: tuple[float, float] = A4, title: str = "") -> None:
        self.width, self.height = size
        self.title = title
        self._pages: list[list[bytes]] = []
        self.new_page()

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def new_page(self) -> None:
        self._pages.append([])

    def _op(self, *parts: bytes) -> None:
        self._pages[-1].append(b" ".join(parts))

    def text(self, x: float, y: float, text: str, size: float = 10, bold: bool = False,
             colour: Colour = (0, 0, 0), align: str = "left") -> None:  # fmt: skip
        """Text whose baseline is at ``y``; ``align`` right or centre puts its end or middle
        at ``x``."""
        width = text_width(text, size, bold)
        if align == "right":
            x -= width
        elif align == "centre":
            x -= width / 2
        r, g, b = colour
        self._op(_num(r), _num(g), _num(b), b"rg BT", b"/F2" if bold else b"/F1", _num(size),
                 b"Tf", _num(x), _num(self.height - y), b"Td (" + _escape(text) + b") Tj ET")

    def box(self, x: float, y: float, w: float, h: float, fill: Colour) -> None:
        r, g, b = fill
        self._op(_num(r), _num(g), _num(b), b"rg", _num(x), _num(self.height - y - h),
                 _num(w), _num(h), b"re f")  # fmt: skip

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: Colour = (0, 0, 0),
             width: float = 0.5) -> None:  # fmt: skip
        r, g, b = colour
        self._op(_num(width), b"w", _num(r), _num(g), _num(b), b"RG", _num(x1),
                 _num(self.height - y1), b"m", _num(x2), _num(self.height - y2), b"l S")

    def wrap(self, x: float, y: float, width: float, text: str, size: float = 8,
             colour: Colour = (0.25, 0.25, 0.25), leading: float = 1.3) -> float:  # fmt: skip
        """Text wrapped at spaces within ``width``; returns the y below the last line."""
        line = ""
        for word in text.split():
            trial = f"{line} {word}".strip()
            if line and text_width(trial, size) > width:
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
        """The document: catalog, pages, two fonts, one deflated content stream a page."""
        objects: list[bytes] = []

        def add(body: bytes) -> int:
            objects.append(body)
            return len(objects)

        catalog = add(b"")  # filled in once the pages object's number is known
        pages = add(b"")
        font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                   b"/Encoding /WinAnsiEncoding >>")  # fmt: skip
        bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
                   b"/Encoding /WinAnsiEncoding >>")  # fmt: skip
        kids: list[int] = []
        for ops in self._pages:
            data = zlib.compress(b"\n".join(ops))
            content = add(b"<< /Length " + str(len(data)).encode() + b" /Filter /FlateDecode >>\n"
                          b"stream\n" + data + b"\nendstream")  # fmt: skip
            kids.append(add(
                b"<< /Type /Page /Parent " + str(pages).encode() + b" 0 R /MediaBox [0 0 "
                + _num(self.width) + b" " + _num(self.height) + b"] /Resources << /Font << /F1 "
                + str(font).encode() + b" 0 R /F2 " + str(bold).encode() + b" 0 R >> >> "
                b"/Contents " + str(content).encode() + b" 0 R >>"
            ))  # fmt: skip
        objects[catalog - 1] = b"<< /Type /Catalog /Pages " + str(pages).encode() + b" 0 R >>"
        objects[pages - 1] = (b"<< /Type /Pages /Kids [" + b" ".join(
            str(k).encode() + b" 0 R" for k in kids) + b"] /Count " + str(len(kids)).encode()
            + b" >>")  # fmt: skip
        info = add(b"<< /Title (" + _escape(self.title) + b") /Producer (telehub) >>")
        buf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(buf))
            buf += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
        xref = len(buf)
        buf += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
        for off in offsets:
            buf += f"{off:010d} 00000 n \n".encode()
        buf += (b"trailer\n<< /Size " + str(len(objects) + 1).encode() + b" /Root "
                + str(catalog).encode() + b" 0 R /Info " + str(info).encode() + b" 0 R >>\n"
                b"startxref\n" + str(xref).encode() + b"\n%%EOF\n")  # fmt: skip
        out.write(bytes(buf))


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
        lx += 18 + text_width(name, 7)


def _nice(raw: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) at or above ``raw``."""
    power = 1.0
    while power * 10 <= raw:
        power *= 10
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power
