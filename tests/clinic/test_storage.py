"""Storage: durable SQLite settings, enforced foreign keys, exact values, both databases
migrated to the same schema as the models."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from tests.clinic.conftest import ClinicDatabase
from tests.clinic.support import SYSTEM, add_implant, add_patient
from thecal.clinic.service import Clinic
from thecal.clinic.storage import migrate
from thecal.clinic.storage.database import Database, normalise_url
from thecal.clinic.storage.models import Implant, Patient


def test_every_sqlite_connection_is_durable_and_enforces_foreign_keys(
    sqlite_db: ClinicDatabase,
) -> None:
    engine = sqlite_db.database.engine
    for _ in range(3):  # new connections, not one configured connection reused
        with engine.connect() as connection:
            connection.invalidate()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_row_pointing_at_a_missing_patient_is_refused(database: Database) -> None:
    with pytest.raises(IntegrityError), database.writing() as session:
        session.execute(
            text(
                "INSERT INTO pain_assessments (patient_id, assessed_at, regions, note) "
                "VALUES (999, '2026-01-01 00:00:00', '[]', '')"
            )
        )


def test_migrations_give_exactly_the_models_schema(database: Database) -> None:
    assert migrate.current_revision(database) == migrate.head_revision()
    assert migrate.schema_differences(database) == []


def test_migrations_downgrade_to_nothing_and_back(database: Database) -> None:
    migrate.downgrade(database, "base")
    assert migrate.current_revision(database) is None
    migrate.upgrade(database)
    assert migrate.schema_differences(database) == []


def test_volumes_are_stored_as_exact_fraction_text(clinic: Clinic, database: Database) -> None:
    patient = add_patient(clinic)
    add_implant(clinic, patient.id)
    with database.writing() as session:
        implant = session.get(Implant, 1)
        assert implant is not None
        implant.low_reservoir_alarm = type(implant.low_reservoir_alarm)(Fraction(1, 3))
    with database.engine.connect() as connection:
        raw = connection.execute(text("SELECT low_reservoir_alarm, reservoir FROM implants"))
        assert raw.one() == ("1/3", "20")


def _patient_row(session: Session) -> Patient:
    row = session.get(Patient, 1)
    assert row is not None
    return row


def test_a_float_is_refused_by_an_exact_column(clinic: Clinic, database: Database) -> None:
    add_patient(clinic)
    with pytest.raises(StatementError, match="float"), database.writing() as session:
        _patient_row(session).weight_kg = 70.5  # type: ignore[assignment]
        session.flush()


def test_a_naive_datetime_is_refused(clinic: Clinic, database: Database) -> None:
    add_patient(clinic)
    with pytest.raises(StatementError, match="naive"), database.writing() as session:
        _patient_row(session).created_at = datetime(2026, 1, 1)
        session.flush()


@pytest.mark.parametrize(
    ("text_", "backend"),
    [
        ("clinic.sqlite", "sqlite"),
        ("sqlite:///var/x.sqlite", "sqlite"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql"),
    ],
)
def test_database_text_is_a_url_or_a_sqlite_path(text_: str, backend: str) -> None:
    assert normalise_url(text_).get_backend_name() == backend


def test_an_unsupported_database_is_refused_naming_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="accepted: sqlite"):
        normalise_url("mysql://root@localhost/clinic")


def test_postgresql_urls_get_the_psycopg_driver() -> None:
    assert normalise_url("postgresql://u@h/d").drivername == "postgresql+psycopg"


def test_system_actor_can_write(clinic: Clinic) -> None:
    assert add_patient(clinic).id == 1
    assert SYSTEM.is_system
