"""Database plumbing for the hub: engines (SQLite default, PostgreSQL by URL), sessions, types."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import DateTime, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from records import store as records_store
from records.data_home import data_home

T = TypeVar("T")


def default_db_url() -> str:
    """$TELEHUB_DB, else the embedded SQLite file in the user's data folder."""
    return os.environ.get("TELEHUB_DB") or f"sqlite:///{data_home() / 'hub.db'}"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    """An engine for ``url``.

    Built by the record store's engine factory, so the hub gets the same WAL + FULL sync
    settings on SQLite, the same private file (folder 0700, file 0600, made if missing) and
    the same hiding of SQL parameters (patient data) from errors.
    """
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        return records_store.create_engine(url, connect_args={"check_same_thread": False})
    return records_store.create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=64)
def _insert_plan(dialect: Dialect, table: sa.Table, names: tuple[str, ...]
                 ) -> tuple[str, bool, tuple[tuple[str, Callable[[Any], Any] | None], ...]]:
    """The driver's INSERT for these columns, whether it takes positional parameters, and
    each parameter's column with that column type's own bind conversion, in order."""
    unknown = set(names) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(sorted(unknown))}")
    # A client-side default would be skipped on this path: every such column must be given.
    missing = [c.key for c in table.c if c.default is not None and c.key not in names]
    if missing:
        raise ValueError(f"insert_many into {table.name} needs {', '.join(missing)}")
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=list(names))
    order = tuple(compiled.positiontup or ()) if compiled.positional else names
    if set(order) != set(names):  # the binds are named after the columns
        raise ValueError(f"unexpected parameters for {table.name}: {order}")
    convert = tuple(
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in order
    )
    return str(compiled), compiled.positional, convert


def insert_many(conn: sa.Connection, table: sa.Table,
                rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (each with the same columns) as one executemany, straight to the
    driver, each value converted by its column type as SQLAlchemy would.

    Why: SQLAlchemy builds every row's parameters through its generic machinery, which was
    over half of the SQL time of a 500-record batch pushed to the central store (three rows
    a record: version, log row, audit event). Defaults are not applied on this path, so a
    column with a client-side default must be given (checked).
    """
    if not rows:
        return
    sql, positional, convert = _insert_plan(conn.dialect, table, tuple(rows[0]))
    names = [name for name, _ in convert]
    values = itemgetter(*names)
    params = ([list(values(row)) for row in rows] if len(names) > 1
              else [[values(row)] for row in rows])  # fmt: skip
    # Only the columns whose type converts (UUIDs, timestamps on SQLite) cost a call a row.
    converting = [(i, fn) for i, (_, fn) in enumerate(convert) if fn is not None]
    for row_params in params if converting else ():
        for i, fn in converting:
            value = row_params[i]
            if value is not None:
                row_params[i] = fn(value)
    # Rows as tuples (positional parameters: SQLAlchemy takes a list of lists for one row's
    # values) or mappings (named parameters).
    final: list[Any] = ([tuple(p) for p in params] if positional
                        else [dict(zip(names, p, strict=True)) for p in params])  # fmt: skip
    conn.exec_driver_sql(sql, final)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The hub's sessions: objects stay readable after commit (answers are built from them)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction per action: commits on success, rolls back on error, always closes
    (SQLAlchemy's ``sessionmaker.begin()`` does all three)."""
    with factory.begin() as session:
        yield session


class GroupCommit:
    """Runs writes on one database thread, many to a transaction, so that a burst of calls
    pays for one durable commit instead of one each. Every caller still gets its answer only
    after the commit that holds its write (durable before anyone is told)."""

    def __init__(self, factory: sessionmaker[Session], max_batch: int = 256,
                 observe: Callable[[float], None] | None = None) -> None:
        self._factory = factory
        self._max_batch = max_batch
        # Told each transaction's seconds, commit included (the hub's write-latency metric).
        self._observe = observe
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-db-write")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in the next group transaction and return its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            outcomes = await loop.run_in_executor(self._thread, self._apply, batch)
            for (_fn, _args, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _apply(
        self, batch: list[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]]
    ) -> list[tuple[bool, Any]]:
        started = time.perf_counter()
        try:
            with unit_of_work(self._factory) as session:
                done = [(True, fn(session, *args)) for fn, args, _f in batch]
            if self._observe is not None:
                self._observe(time.perf_counter() - started)
            return done
        except Exception as exc:
            if len(batch) == 1:
                return [(False, exc)]
        # One write failed and took the group down: redo each alone so only it fails.
        outcomes: list[tuple[bool, Any]] = []
        for fn, args, _f in batch:
            try:
                with unit_of_work(self._factory) as session:
                    outcomes.append((True, fn(session, *args)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    def close(self) -> None:
        self._thread.shutdown(wait=True)
