"""The hub's Alembic migrations build, from empty, exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import hub.models  # noqa: F401
from hub import schema
from hub.db import Base, make_engine


def test_migrations_from_empty_to_head_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        schema.check_current(engine)
        raise AssertionError("an empty database must not pass the schema check")
    except schema.SchemaOutOfDate as exc:
        assert "telehub-hub db upgrade" in str(exc)
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    schema.check_current(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
