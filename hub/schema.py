"""Schema versioning of the hub database through Alembic: upgrade, and check before serving."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from hub.reporting import rollup

MIGRATIONS = files("hub").joinpath("migrations")  # package data, also in a wheel


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision``; at head, also roll up the report's figures of the days that
    migrations marked (0005 marks every day with calls or records; see hub/reporting/rollup.py)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        if revision == "head":
            rollup.refresh(conn)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this hub version needs."""


def check_current(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` with the command to run when the schema is not at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = "is empty" if current is None else f"is at revision {current}"
        raise SchemaOutOfDate(
            f"the hub database {where}, but this hub needs revision {head}; "
            "run `telehub-hub db upgrade` (with the same --db) first"
        )
