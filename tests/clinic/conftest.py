"""Fixtures for the clinic suite: every database test runs on SQLite and, when
$THECAL_TEST_POSTGRES_URL names a server, on PostgreSQL too.

Each test gets its own database: a copy of a migrated SQLite file, or a fresh PostgreSQL
schema (migrated, then dropped after the test), so parallel pytest-xdist workers never
share state.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.clinic.support import SETTINGS, T0, add_user, login
from thecal.clinic.access import Role
from thecal.clinic.api import create_app
from thecal.clinic.service import Clinic, FixedClock
from thecal.clinic.storage import migrate
from thecal.clinic.storage.database import Database

POSTGRES_URL = os.environ.get("THECAL_TEST_POSTGRES_URL")

BACKENDS = [pytest.param("sqlite", id="sqlite")]
if POSTGRES_URL:
    BACKENDS.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))


@dataclass
class ClinicDatabase:
    """A per-test database and how to reach it from another process."""

    database: Database
    url: str
    """A URL a subprocess (`thecal clinic ... --database URL`) can use."""
    backend: str


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "clinic.sqlite"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()
    return path


def _admin_connection() -> psycopg.Connection[Any]:
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


@pytest.fixture
def fresh_schema() -> Iterator[str]:
    """A new, empty PostgreSQL schema, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with _admin_connection() as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def make_test_database(
    backend: str, tmp_path: Path, template: Path, schema: str | None
) -> ClinicDatabase:
    if backend == "sqlite":
        path = tmp_path / "clinic.sqlite"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
        return ClinicDatabase(Database(url), url, backend)
    assert POSTGRES_URL is not None and schema is not None
    database = Database(POSTGRES_URL, schema=schema, pool_size=5)
    migrate.upgrade(database)
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return ClinicDatabase(database, url.render_as_string(hide_password=False), backend)


@pytest.fixture(params=BACKENDS)
def test_db(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[ClinicDatabase]:
    schema = request.getfixturevalue("fresh_schema") if request.param == "postgresql" else None
    made = make_test_database(request.param, tmp_path, sqlite_template, schema)
    try:
        yield made
    finally:
        made.database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[ClinicDatabase]:
    """SQLite only, for tests of SQLite-specific behaviour or too slow to run twice."""
    made = make_test_database("sqlite", tmp_path, sqlite_template, None)
    try:
        yield made
    finally:
        made.database.dispose()


@pytest.fixture
def database(test_db: ClinicDatabase) -> Database:
    return test_db.database


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def clinic(database: Database, clock: FixedClock) -> Clinic:
    return Clinic(database, SETTINGS, clock)


# --- the API --------------------------------------------------------------------------


@pytest.fixture
def client(clinic: Clinic) -> Iterator[TestClient]:
    with TestClient(create_app(clinic), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def staff(clinic: Clinic, client: TestClient) -> dict[str, dict[str, str]]:
    """Signed-in headers for one user of each staff role."""
    headers = {}
    for role in (Role.CLINICIAN, Role.NURSE, Role.PHARMACIST, Role.ADMINISTRATOR):
        add_user(clinic, role.value, role)
        headers[role.value] = login(client, role.value)
    return headers
