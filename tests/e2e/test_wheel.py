"""telehub as a user installs it: the sdist and wheel built, the wheel installed (not editable)
into a fresh virtual environment, and run from a folder outside the checkout.

What it proves: ``resources/`` and both sets of migrations ship in the wheel and are found
through importlib.resources; the headless demo answers, signs off and syncs; the hub serves
the caller page at /call; the desk's theme, icon and ring load; and all of it ran from the
installed files (the new environment's site-packages), never from this checkout.

The wheel is installed with ``--no-deps``, and the new environment reaches the third-party
packages of the one running the tests through a ``.pth`` line naming its site-packages.
Why: installing them for real (PySide6 is most of it) took 46 s on a quiet machine and 113 s
under the usual load of these two shared cores, which would take the test past two minutes.
A plain path line in a ``.pth`` file only adds that folder to ``sys.path`` (the lines that
run code, such as an editable install's finder, run only in a site directory), and it comes
after the new site-packages; so telehub itself is the wheel's, which the test checks file by
file, and ``pip check`` checks that the wheel's dependency list is met.

The wheel is built from the sdist (``python -m build`` does that when asked for both), so the
sdist holds everything a build needs. ``--no-isolation`` builds with this environment's
setuptools (the test extra has setuptools>=77 and build): no download.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

import resources
from hub import schema
from records import store
from tests.e2e.test_demo import summary_value

ROOT = Path(__file__).resolve().parents[2]
# What the sdist is built from: the distribution's files, not the whole checkout.
SOURCES = ("pyproject.toml", "README.md", "hub", "calls", "records", "ui", "resources")

# Run with the venv's python from the temporary folder: what a user's program would see.
PROBE = r"""
import json, sys, wave
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication
import calls, hub, records, resources, ui
from ui import theme
from ui.desk import ring
from ui.demo import app as demo_app

app = QApplication(sys.argv[:1])
theme.apply(app)
icon = theme.icon()
with wave.open(str(ring.RING_WAV), "rb") as sound:
    ring_frames = sound.getnframes()
print(json.dumps({
    "modules": {m.__name__: m.__file__ for m in (calls, hub, records, resources, ui, demo_app)},
    "style": app.styleSheet() == theme.desk_style(app.font().pointSizeF(),
                                                  QFontMetrics(app.font()).height()),
    "window": app.palette().color(app.palette().ColorRole.Window).name(),
    "icon": str(resources.path("desk", "telehub.svg")),
    "icon_drawn": not icon.isNull() and not icon.pixmap(64, 64).isNull(),
    "ring": str(ring.RING_WAV), "ring_frames": ring_frames,
    "caller": str(resources.path("caller")),
    "deny_list": len(__import__("hub.password_policy").password_policy.common_passwords()),
    "sys_path": sys.path,
}))
"""


def clean_env(tmp: Path) -> dict[str, str]:
    """No display, no PYTHONPATH to the checkout, an empty data folder in ``tmp``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTHONPATH",
                        "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["XDG_DATA_HOME"] = str(tmp / "xdg")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def alembic_version(db: Path, table: str) -> str:
    with sqlite3.connect(db) as conn:
        (version,) = conn.execute(f"SELECT version_num FROM {table}").fetchone()
    return str(version)


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_serves_the_caller_page_and_has_the_desk_files(
        tmp_path: Path) -> None:
    # --- build: sdist from a copy of the sources, then the wheel from the sdist -------------
    src, dist = tmp_path / "src", tmp_path / "dist"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    started = time.monotonic()
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src], cwd=tmp_path)
    (sdist,) = dist.glob("telehub-*.tar.gz")
    (wheel,) = dist.glob("telehub-*.whl")
    shipped = subprocess.run([sys.executable, "-m", "zipfile", "-l", wheel], text=True,
                             capture_output=True, check=True).stdout
    for name in ("resources/caller/index.html", "resources/desk/ring.wav",
                 "resources/desk/telehub.svg", "resources/fonts/NotoNaskhArabic-Regular.ttf",
                 "hub/migrations/env.py", "records/migrations/env.py",
                 "records/data/outcomes.csv", "resources/passwords/common-passwords.txt.gz"):
        assert name in shipped, f"{name} is not in the wheel"
    assert sdist.stat().st_size > 0
    print(f"build: {time.monotonic() - started:.0f} s")

    # --- install: a fresh environment, the wheel (not editable; its dependencies: see above) -
    venv, away = tmp_path / "venv", tmp_path / "elsewhere"
    away.mkdir()
    env = clean_env(tmp_path)
    started = time.monotonic()
    # No pip of its own (ensurepip installing one took 5 s of a loaded machine): this
    # environment's pip installs into it and checks it (``--python``: as pip run by the new
    # interpreter, its site-packages and its scripts).
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=away, env=env)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    site_packages = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path("
                              "'purelib'))"], cwd=away, env=env).stdout.strip())
    run([*pip, "install", "--quiet", "--no-deps", wheel], cwd=away, env=env)
    # After the install: pip would otherwise find this environment's editable telehub there.
    ours = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    (site_packages / "telehub-test-dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    run([*pip, "check"], cwd=away, env=env)
    print(f"venv and pip install of the wheel: {time.monotonic() - started:.0f} s")
    for program in ("telehub-hub", "telehub-export", "telehub-desk", "telehub-site",
                    "telehub-demo"):
        assert (bin_dir / program).exists(), program

    # --- the code and its files come from the installed wheel -------------------------------
    probe = json.loads(run([python, "-I", "-c", PROBE], cwd=away,
                           env={**env, "QT_QPA_PLATFORM": "offscreen"}).stdout)
    assert str(ROOT) not in probe["sys_path"] and "" not in probe["sys_path"]
    for name, file in probe["modules"].items():
        assert Path(file).is_relative_to(site_packages), f"{name} from {file}"
    assert Path(probe["ring"]).is_relative_to(site_packages) and probe["ring_frames"] > 1000
    assert Path(probe["icon"]).is_relative_to(site_packages) and probe["icon_drawn"]
    assert Path(probe["caller"]).is_relative_to(site_packages)
    assert probe["deny_list"] > 19_000, "the password deny-list did not ship"
    assert probe["style"] and probe["window"] == "#15191e", "the desk's theme did not apply"

    # --- the headless demo, from the folder outside the checkout ----------------------------
    started = time.monotonic()
    done = run([bin_dir / "telehub-demo", "--auto", "--calls", "2", "--port", "0",
                "--hold", "1", "--timeout", "60"], cwd=away, env=env, timeout=100)
    out = done.stdout
    print(f"demo: {time.monotonic() - started:.0f} s")
    assert "running headless" in out
    assert int(summary_value(out, "calls answered")) == 2
    assert int(summary_value(out, "records synced").split()[0]) == 2
    data = tmp_path / "xdg" / "telehub" / "demo"  # records.data_home under XDG_DATA_HOME
    # Both sets of migrations ran from the wheel: the hub's database and the desk's store.
    assert alembic_version(data / "hub.db", "alembic_version") == schema.head_revision()
    (desk_store,) = (data / "desk").glob("records-*.db")
    records_head = ScriptDirectory.from_config(store.alembic_config()).get_current_head()
    assert alembic_version(desk_store, store.ALEMBIC_VERSION_TABLE) == records_head

    # --- the installed hub serves the caller page -------------------------------------------
    hub = subprocess.Popen(
        [bin_dir / "telehub-hub", "serve", "--db", f"sqlite:///{data / 'hub.db'}",
         "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
        cwd=away, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert hub.stdout is not None
        lines, found = [], None
        for line in hub.stdout:  # the address is its first line; it ends if the hub fails
            lines.append(line)
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                break
        assert found, "".join(lines)
        url = found.group(1)
        page = httpx.get(f"{url}/call", timeout=10)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.text == resources.file("caller", "index.html").read_text()
        script = httpx.get(f"{url}/call/caller.js", timeout=10)
        assert script.status_code == 200
        assert script.text == resources.file("caller", "caller.js").read_text()
    finally:
        hub.terminate()
        hub.wait(10)
        if hub.stdout is not None:
            hub.stdout.close()
