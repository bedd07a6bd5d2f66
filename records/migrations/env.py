"""Alembic environment of the records local store (run through records.store.Store.upgrade)."""

from __future__ import annotations

from alembic import context

from records.models import Base
from records.store import ALEMBIC_VERSION_TABLE, create_engine

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # Run from the alembic command line: sqlalchemy.url comes from the ini or -x url=...
        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
            "sqlalchemy.url"
        )
        if not url:
            raise SystemExit("give the database: alembic -x url=sqlite:///desk.db upgrade head")
        engine = create_engine(url)
        with engine.begin() as own_connection:
            _run(own_connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        version_table=ALEMBIC_VERSION_TABLE,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("records migrations run online only")
run_migrations_online()
