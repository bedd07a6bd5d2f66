"""The layer rule from DESIGN.md, held by the import contracts in pyproject.toml
([tool.importlinter], run by ``lint-imports`` in .ci/test): these tests prove the contracts
see every module and catch each kind of breach, and that importing the core loads no Qt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
CORE = ("calls", "records", "hub")
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "ui")


def _contracts() -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = config["tool"]
    assert isinstance(tool, dict)
    linter: dict[str, object] = tool["importlinter"]
    return linter


def _module_names(package: str) -> set[str]:
    """Every module of a package as its source tree has it (a file or a package's __init__)."""
    names = set()
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` run on the packages found in ``cwd`` with ``cwd``'s pyproject.toml."""
    script = Path(sys.executable).parent / "lint-imports"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "importlinter.cli"]
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run([*command, "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_contracts_see_every_module_of_the_core() -> None:
    """A folder without an __init__.py is invisible to the import graph and so to every
    contract; each module of calls/, records/ and hub/ must be in it."""
    linter = _contracts()
    assert set(CORE) <= set(linter["root_packages"])  # type: ignore[call-overload]
    graph = grimp.build_graph(*CORE, cache_dir=None)
    for package in CORE:
        unseen = sorted(_module_names(package) - graph.modules)
        assert unseen == [], f"modules of {package}/ no import contract sees: {unseen}"


def test_the_contracts_hold_on_this_tree() -> None:
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def _breach(tree: Path, module: str, source: str) -> None:
    path = tree.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent != tree and not (path.parent / "__init__.py").exists():
        (path.parent / "__init__.py").write_text("")
    with path.open("a") as f:
        f.write(source)


def test_each_contract_catches_a_breach(tmp_path: Path) -> None:
    """A copy of the real tree and the real pyproject.toml, with one module breaking each rule
    and one keeping to it: lint-imports must name every breach and only the breaches."""
    for package in (*CORE, "ui"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    # One service module of the hub's own, so the breaches do not depend on today's layout.
    _breach(tmp_path, "hub.breach_service", "import hub.config\n")
    # hub.client may be a module, a package or not written yet: breach it in each case.
    client = tmp_path / "hub" / "client"
    client_module = "hub.client.breach" if client.is_dir() else "hub.client"
    breaches = {
        "records.breach_qt": "from PySide6.QtCore import QObject\n",
        "calls.breach_qt": "import shiboken6\n",
        "hub.breach_ui": "from ui.desk import window\n",
        "ui.breach_hub": "from hub import breach_service\n",
        "calls.breach_hub": "import hub.breach_service\n",
        "records.breach_hub": "from hub.breach_service import x\n",
        "hub.contract.breach": "from hub import breach_service\n",
        client_module: "from hub.contract import identity\nimport hub.breach_service\n",
    }
    for module, source in breaches.items():
        _breach(tmp_path, module, source)
    _breach(tmp_path, "ui.keeps_the_rule",
            "from hub.contract import signaling\nimport hub.contract.identity\nimport hub.client\n")
    _breach(tmp_path, "records.keeps_the_rule", "from hub.contract.identity import Principal\n")

    out = _lint_imports(tmp_path)
    report = out.stdout + out.stderr
    assert out.returncode == 1, report
    assert "0 kept" in report, report
    for module in breaches:
        assert f"{module} ->" in report, f"lint-imports missed the breach in {module}:\n{report}"
    assert "keeps_the_rule ->" not in report, report


def test_importing_every_core_module_loads_no_qt() -> None:
    """What static analysis cannot see: an import done at run time (importlib, a plugin)."""
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
