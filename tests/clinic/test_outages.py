"""The database going away: requests get 503 with the error body, nothing is partly
written, the audit chain still verifies, and the service recovers when it comes back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from tests.clinic.conftest import _admin_connection
from tests.clinic.support import SETTINGS, T0, add_user, filled_baclofen_pump, login
from thecal.clinic import audit
from thecal.clinic.access import Role
from thecal.clinic.api import create_app
from thecal.clinic.service import Clinic, FixedClock
from thecal.clinic.storage.database import Database
from thecal.clinic.storage.models import AuditEntry, Implant, Refill

REFILL = {"drug": "baclofen", "concentration": "500 mcg/mL", "lot": "L-7",
          "volume_added": "20 mL", "aspirated_volume": "12 mL"}  # fmt: skip


@contextmanager
def database_dies_at(database: Database, statement_start: str) -> Iterator[list[str]]:
    """Make the database vanish the first time a statement starting with
    `statement_start` is sent: PostgreSQL really drops the connection (the server
    terminates the session); SQLite reports the I/O failure a vanished disk gives."""
    fired: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fired or not statement.lstrip().upper().startswith(statement_start):
            return
        fired.append(statement)
        if database.is_sqlite:
            raise sqlite3.OperationalError("disk I/O error")
        pid = conn.connection.dbapi_connection.info.backend_pid
        with _admin_connection() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    event.listen(database.engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        event.remove(database.engine, "before_cursor_execute", before)


def counts(database: Database) -> tuple[int, int, str | None]:
    with database.reading() as session:
        refills = session.scalar(select(func.count()).select_from(Refill)) or 0
        entries = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        due = session.scalar(select(Implant.next_refill_due))
        return refills, entries, due.isoformat() if due else None


def test_the_database_dying_mid_refill_gives_503_and_writes_nothing(
    clinic: Clinic, clock: FixedClock, database: Database
) -> None:
    filled_baclofen_pump(clinic)
    add_user(clinic, "nurse", Role.NURSE)
    clock.advance(timedelta(days=10))
    with TestClient(create_app(clinic), raise_server_exceptions=False) as client:
        headers = login(client, "nurse")
        before = counts(database)
        # The refill row is already sent when the audit entry goes: a half-done change
        # would show as a refill without its audit entry or its new schedule.
        with database_dies_at(database, "INSERT INTO AUDIT_LOG") as fired:
            response = client.post("/api/v1/implants/1/refills", json=REFILL, headers=headers)
        assert fired
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response.headers["retry-after"] == "5"
        assert counts(database) == before
        with database.reading() as session:
            assert audit.verify_chain(session).ok
        # The database is back: the same request now succeeds.
        again = client.post("/api/v1/implants/1/refills", json=REFILL, headers=headers)
        assert again.status_code == 201
        assert counts(database)[0] == before[0] + 1


def test_an_unreachable_database_gives_503_on_every_route() -> None:
    gone = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    clinic = Clinic(gone, SETTINGS, FixedClock(T0))
    with TestClient(create_app(clinic), raise_server_exceptions=False) as client:
        responses = [
            client.get("/api/v1/health"),
            client.post("/api/v1/auth/login", json={"username": "a", "password": "b"}),
            client.get("/api/v1/patients", headers={"Authorization": "Bearer x"}),
        ]
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert {r.json()["error"]["code"] for r in responses} == {"database_unavailable"}


def test_psycopg_reports_a_refused_connection_as_unavailable() -> None:
    # The classification the 503 rests on, checked against the real driver error.
    from sqlalchemy.exc import OperationalError

    from thecal.clinic.storage.database import is_unavailable

    gone = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    try:
        with gone.engine.connect():
            raise AssertionError("connected to a closed port")
    except OperationalError as error:
        assert isinstance(error.orig, psycopg.OperationalError)
        assert is_unavailable(error)
