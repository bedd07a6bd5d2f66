"""The PDF canvas under the board paper: every letter of a name in any of its scripts is drawn
(none dropped, none a "?"), read back with pdftotext."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from records.pdf import Canvas

NAMES = [
    "Łąka House",  # Polish
    "ہری پور جیل",  # Urdu: letters DejaVu lacks (ہ ے) and joined forms
    "بیت السلام (۱۲)",  # Arabic-Indic figures and brackets, which Naskh lacks
    "Home (ہری-پور/جیل) 12",  # both directions in one line
    "Αθήνα, Москва",  # Greek and Cyrillic
]
_IGNORED = dict.fromkeys(map(ord, " \u202a\u202b\u202c\u202d\u202e\u200e\u200f"))


def letters(text: str) -> Counter[str]:
    """The characters of ``text`` whatever their order (pdftotext puts right-to-left runs
    its own way and mirrors brackets), without spaces and direction marks."""
    return Counter(text.translate(_IGNORED).replace(")", "(").replace("]", "["))


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_every_letter_of_every_name_comes_back(tmp_path: Path) -> None:
    canvas = Canvas(title="names")
    for i, name in enumerate(NAMES):
        canvas.text(40, 60 + 30 * i, name, 12, bold=i % 2 == 1)
    out = tmp_path / "names.pdf"
    with out.open("wb") as f:
        canvas.write(f)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    lines = [line for line in text.splitlines() if line.strip()]
    assert [letters(line) for line in lines] == [letters(name) for name in NAMES]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_right_aligned_text_ends_where_asked_in_either_direction(tmp_path: Path) -> None:
    canvas = Canvas()
    for i, name in enumerate(NAMES):
        canvas.text(500, 60 + 30 * i, name, 10, align="right")
    out = tmp_path / "right.pdf"
    with out.open("wb") as f:
        canvas.write(f)
    html = subprocess.run(["pdftotext", "-bbox", str(out), "-"], capture_output=True,
                          text=True, check=True).stdout
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"', html)
    right_ends: dict[int, float] = {}
    for x_min, y_min, x_max in words:
        line = round((float(y_min) - 40) / 30)
        right_ends[line] = max(right_ends.get(line, 0.0), float(x_max))
        assert float(x_min) > 300, "a piece of a name was drawn far from its place"
    assert sorted(right_ends) == list(range(len(NAMES)))
    for line, end in right_ends.items():
        assert end == pytest.approx(500, abs=1.5), NAMES[line]


def test_letters_a_font_lacks_never_reach_the_logs(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    name = "রহিম কেয়ার হোম"  # Bengali: no shipped font has these letters
    canvas = Canvas(title="names")
    canvas.text(40, 60, name, 12)
    with caplog.at_level(logging.DEBUG), (tmp_path / "bengali.pdf").open("wb") as f:
        canvas.write(f)
    assert any("lacks some letters" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert not set(record.getMessage()) & set(name.replace(" ", ""))
