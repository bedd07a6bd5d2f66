"""The one data folder: where existing users' files already are, every program under it, and
its files kept from the computer's other accounts."""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.db import default_db_url
from records.data_home import data_home, private_database, private_folder
from records.store import Store
from tests.records.builders import make_record

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


# --- the data kept from the computer's other accounts ---------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022: new files readable by everyone), which telehub must not trust."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_a_desks_record_store_is_private_with_its_write_ahead_log(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loose_umask: None) -> None:
    """The desk's store (the station's is opened the same way) under the data folder: every
    folder made for it 0700, the database and SQLite's -wal and -shm 0600 while it is open."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    folder = data_home("desk")
    store = Store.open(f"sqlite:///{folder / 'records-nina.db'}")
    try:
        with store.unit_of_work() as uow:
            uow.records.save_draft(make_record(), actor="nurse-ann")
        for name in ("records-nina.db", "records-nina.db-wal", "records-nina.db-shm"):
            assert mode(folder / name) == 0o600, name
        for made in (folder, data_home(), tmp_path / "xdg"):
            assert mode(made) == 0o700, made
    finally:
        store.close()


def test_telehubs_own_folders_are_tightened_a_chosen_folder_is_warned_about(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loose_umask: None,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    own = data_home("station")
    own.mkdir(parents=True, mode=0o755)
    os.chmod(data_home(), 0o755)
    with caplog.at_level(logging.WARNING, "records.data_home"):
        private_folder(own)
    assert mode(own) == 0o700 and mode(data_home()) == 0o700
    assert mode(tmp_path / "xdg") == 0o755  # above telehub's folder: not telehub's to change
    assert caplog.records == []

    chosen = tmp_path / "shared"  # --data-dir, or a sqlite:/// path somebody chose
    chosen.mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING, "records.data_home"):
        private_database(chosen / "hub.db")
    assert mode(chosen) == 0o755  # perhaps shared on purpose: left, and said
    assert [r.getMessage() for r in caplog.records] == [
        f"the folder {chosen} can be opened by other accounts on this computer; telehub "
        "keeps clinical data there (chmod 700 it)"]
    assert mode(chosen / "hub.db") == 0o600  # the file is telehub's own wherever it is


def test_database_files_left_readable_are_tightened_with_their_companions(
        tmp_path: Path, loose_umask: None) -> None:
    db = tmp_path / "data" / "hub.db"
    db.parent.mkdir(mode=0o700)
    for name in ("hub.db", "hub.db-wal", "hub.db-shm", "hub.db-journal"):
        (db.parent / name).touch(mode=0o644)
    private_database(db)
    for name in ("hub.db", "hub.db-wal", "hub.db-shm", "hub.db-journal"):
        assert mode(db.parent / name) == 0o600, name
    os.chmod(db, 0o400)  # narrower than telehub's own: left as the operator set it
    private_database(db)
    assert mode(db) == 0o400
