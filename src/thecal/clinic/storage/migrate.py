"""Run the clinic's Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from thecal.clinic.storage.database import Database
from thecal.clinic.storage.models import Base

__all__ = ["current_revision", "downgrade", "head_revision", "schema_differences", "upgrade"]


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    location = resources.files("thecal.clinic").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


def _run(database: Database, action: str, revision: str) -> None:
    with database.write_engine.connect() as connection:
        if database.is_sqlite:
            # Batch migrations copy tables; SQLite can only switch FK checks outside a
            # transaction, so they are off while the schema moves and on again after.
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        try:
            config = _config(connection)
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
            connection.commit()
            if database.is_sqlite:
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if problems:  # pragma: no cover - would be a migration bug
                    raise RuntimeError(f"migration left dangling foreign keys: {problems}")
        finally:
            if database.is_sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision` (default: the newest), in one transaction."""
    _run(database, "upgrade", revision)


def downgrade(database: Database, revision: str) -> None:
    """Take the schema back to `revision` ("base" removes every clinic table)."""
    _run(database, "downgrade", revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None before `thecal clinic init`."""
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences(database: Database) -> list[object]:
    """Differences between the migrated database and the models (empty when in step)."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))
