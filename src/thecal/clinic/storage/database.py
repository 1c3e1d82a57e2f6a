"""Engines and sessions: embedded SQLite by default, PostgreSQL by URL.

SQLite is set up on every connection for clinical records: WAL journal,
``synchronous=FULL`` (a commit that returned survives a power loss, not only a
crash), foreign keys enforced, a busy timeout instead of instant "database is
locked" errors. The stdlib driver's own implicit BEGIN is switched off and the
transaction is begun explicitly (SQLAlchemy's documented recipe), so that write
transactions take the write lock up front (``BEGIN IMMEDIATE``): two writers queue
instead of deadlocking on a lock upgrade, and read-modify-write sequences (the
audit chain, reminder claims) see no interleaving.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

__all__ = [
    "DATABASE_URL_VARIABLE",
    "DEFAULT_DATABASE",
    "Database",
    "database_url",
    "is_unavailable",
    "normalise_url",
]

DATABASE_URL_VARIABLE = "THECAL_DATABASE_URL"
DEFAULT_DATABASE = "sqlite:///var/clinic.sqlite"
"""The embedded default: a SQLite file under ./var relative to where thecal runs."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "thecal_write"


def normalise_url(text: str) -> URL:
    """A SQLAlchemy URL from user text: a URL, or a plain path meaning a SQLite file.

    ``postgresql://`` gets the psycopg 3 driver; anything other than SQLite or
    PostgreSQL is refused with `ValueError` naming what is accepted.
    """
    text = text.strip()
    if not text:
        raise ValueError("database: empty; accepted: a sqlite:/// or postgresql:// URL, or a path")
    if "://" not in text:
        return make_url(f"sqlite:///{text}")
    try:
        url = make_url(text)
    except Exception:
        raise ValueError(
            f"database: {text!r} is not a database URL; accepted: sqlite:///FILE or "
            "postgresql://USER@HOST:PORT/NAME"
        ) from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url
    if backend == "sqlite":
        return url
    raise ValueError(
        f"database: {backend!r} is not supported; accepted: sqlite (embedded) or postgresql"
    )


def database_url(explicit: str | None = None) -> URL:
    """The database to use: `explicit`, else $THECAL_DATABASE_URL, else the SQLite default."""
    chosen = explicit or os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE
    return normalise_url(chosen)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """One clinic database: an engine for reads, one for writes, and session factories.

    `schema` (PostgreSQL only) puts every table in that schema via the search path;
    the test suite uses it to give each run its own schema.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        schema: str | None = None,
        pool_size: int = 10,
        echo: bool = False,
    ) -> None:
        self.url = normalise_url(url) if isinstance(url, str) else url
        self.schema = schema
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                self.url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            )
            _configure_sqlite(self.engine)
            self.write_engine: Engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        else:
            connect_args: dict[str, Any] = {"connect_timeout": 5}
            if schema:
                connect_args["options"] = f"-csearch_path={schema}"
            self.engine = create_engine(
                self.url,
                echo=echo,
                pool_pre_ping=True,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                pool_timeout=10,
                connect_args=connect_args,
            )
            self.write_engine = self.engine

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    def describe(self) -> str:
        """The URL without any password, for messages."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session in one read transaction (rolled back at the end)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session  # closing the session rolls the read transaction back

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session in one write transaction: committed at the end, rolled back on error."""
        with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def is_unavailable(error: BaseException) -> bool:
    """True when `error` means the database cannot be reached or used right now
    (connection lost or refused, pool exhausted, SQLite busy or I/O failure), as opposed
    to a bad request or a bug."""
    if isinstance(error, DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError):
        return bool(
            error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
        )
    return False
