"""The audit log: every change is written with who, when, what, before, after and why, in
the same transaction; tampering (edit, delete, reorder, truncate) is found and located."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.clinic.support import SYSTEM, add_patient, add_user, filled_baclofen_pump
from thecal.clinic import audit
from thecal.clinic.access import Role
from thecal.clinic.service import Clinic, patients, users
from thecal.clinic.storage.database import Database


def verify(database: Database) -> audit.AuditVerification:
    with database.reading() as session:
        return audit.verify_chain(session)


def tamper(database: Database, *statements: str) -> None:
    """Change the log the way someone with full database access could: triggers off first."""
    with database.write_engine.begin() as connection:
        if database.is_sqlite:
            connection.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        for statement in statements:
            connection.exec_driver_sql(statement)


def test_a_clean_history_verifies(clinic: Clinic, database: Database) -> None:
    filled_baclofen_pump(clinic)
    result = verify(database)
    assert result.ok, result.problems
    assert result.entries == result.head_seq == 5


def test_a_change_records_who_what_before_after_and_why(clinic: Clinic, database: Database) -> None:
    patient = add_patient(clinic)
    form = patients.PatientUpdate(version=1, family_name="Lee-Smith", reason="married")
    clinic.perform(SYSTEM, lambda call: patients.update_patient(call, patient.id, form))
    with database.reading() as session:
        entry = list(audit.history(session, "patients", patient.id))[-1]
    assert (entry.actor, entry.action, entry.reason) == ("test", "update", "married")
    assert '"family_name":"Lee"' in (entry.before or "")
    assert '"family_name":"Lee-Smith"' in (entry.after or "")


def test_the_database_refuses_to_edit_or_delete_audit_entries(
    clinic: Clinic, database: Database
) -> None:
    add_patient(clinic)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), database.writing() as session:
            session.execute(text(statement))
    assert verify(database).ok


def test_an_edited_entry_is_found_and_named(clinic: Clinic, database: Database) -> None:
    filled_baclofen_pump(clinic)
    tamper(database, "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3")
    result = verify(database)
    assert not result.ok
    assert [(p.seq, p.kind) for p in result.problems] == [(3, "altered")]


def test_an_entry_edited_with_a_recomputed_hash_breaks_the_next_link(
    clinic: Clinic, database: Database
) -> None:
    filled_baclofen_pump(clinic)
    with database.reading() as session:
        entry = session.get(audit.AuditEntry, 3)
        assert entry is not None
        forged = audit.entry_hash(
            seq=3, at=entry.at, actor_id=entry.actor_id, actor="someone else",
            action=entry.action, entity=entry.entity, entity_id=entry.entity_id,
            before=entry.before, after=entry.after, reason=entry.reason,
            prev_hash=entry.prev_hash,
        )  # fmt: skip
    tamper(
        database, f"UPDATE audit_log SET actor = 'someone else', hash = '{forged}' WHERE seq = 3"
    )
    result = verify(database)
    assert [(p.seq, p.kind) for p in result.problems] == [(4, "broken_link")]


def test_a_deleted_entry_is_found_where_it_was(clinic: Clinic, database: Database) -> None:
    filled_baclofen_pump(clinic)
    tamper(database, "DELETE FROM audit_log WHERE seq = 4")
    result = verify(database)
    kinds = {(p.seq, p.kind) for p in result.problems}
    assert (5, "missing") in kinds
    assert (5, "broken_link") in kinds


def test_deleting_the_newest_entries_is_found_at_the_head(
    clinic: Clinic, database: Database
) -> None:
    filled_baclofen_pump(clinic)
    head = verify(database).head_seq
    tamper(database, f"DELETE FROM audit_log WHERE seq >= {head - 1}")
    result = verify(database)
    assert [p.kind for p in result.problems] == ["head_mismatch"]


def test_reordered_entries_are_found(clinic: Clinic, database: Database) -> None:
    filled_baclofen_pump(clinic)
    tamper(
        database,
        "UPDATE audit_log SET seq = 1000 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 1000",
    )
    result = verify(database)
    assert not result.ok
    assert {p.seq for p in result.problems} >= {3, 4}
    assert all(p.kind in ("altered", "broken_link") for p in result.problems)


def test_password_hashes_never_enter_the_log(clinic: Clinic, database: Database) -> None:
    user = add_user(clinic, "nurse", Role.NURSE)
    form = users.UserUpdate(version=user.version, password="another long password")
    clinic.perform(SYSTEM, lambda call: users.update_user(call, user.id, form))
    with database.reading() as session:
        text_ = " ".join(f"{e.before} {e.after}" for e in audit.history(session, "users", user.id))
    assert "$argon2" not in text_
    assert '"password_hash":"(redacted)"' in text_
