"""The one data folder: where existing users' files already are, and every program under it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hub.db import default_db_url
from records.data_home import data_home

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the XDG rule is Linux's")


def test_linux_keeps_the_folder_existing_users_have(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("TELEHUB_DB", raising=False)
    assert data_home() == tmp_path / ".local" / "share" / "telehub"
    assert data_home("desk") == tmp_path / ".local" / "share" / "telehub" / "desk"
    assert default_db_url() == f"sqlite:///{tmp_path}/.local/share/telehub/hub.db"
    assert not (tmp_path / ".local").exists()  # asking creates nothing


def test_xdg_data_home_moves_every_part(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TELEHUB_DB", raising=False)
    for part in ("desk", "demo", "station"):
        assert data_home(part) == tmp_path / "xdg" / "telehub" / part
    assert default_db_url() == f"sqlite:///{tmp_path}/xdg/telehub/hub.db"


def test_a_station_set_up_before_keeps_its_residents_list(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    (tmp_path / "telehub-site").mkdir()  # Qt's folder for the program telehub-site
    assert data_home("station") == tmp_path / "telehub-site"
    (tmp_path / "telehub" / "station").mkdir(parents=True)
    assert data_home("station") == tmp_path / "telehub" / "station"
