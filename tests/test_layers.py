"""The layer rule from DESIGN.md: calls/, records/ and hub/ never import Qt or ui/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ("calls", "records", "hub")
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "ui")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_packages_do_not_import_qt_or_ui_anywhere_in_their_source() -> None:
    offenders = []
    files = [f for pkg in CORE for f in (ROOT / pkg).rglob("*.py")]
    assert len(files) > 10
    for f in files:
        for name in _imports(f):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{f.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_importing_every_core_module_loads_no_qt() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"for pkg in {CORE!r}:\n"
        "    mod = importlib.import_module(pkg)\n"
        "    for info in pkgutil.walk_packages(mod.__path__, pkg + '.'):\n"
        "        if '.migrations' in info.name or info.name.endswith('__main__'): continue\n"
        "        importlib.import_module(info.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_the_checker_would_catch_a_qt_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtCore import QObject\nimport ui.desk\n")
    assert [n.split(".")[0] for n in _imports(bad)] == ["PySide6", "ui"]
