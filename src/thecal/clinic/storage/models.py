"""The clinic's tables as typed SQLAlchemy 2 models.

Conventions:

- exact clinical values use `QuantityType` / `ExactFraction` (fraction text in base units);
- every time is an aware UTC datetime (`UTCDateTime`);
- rows that people edit carry a `version` column (optimistic locking: a stale write is a 409);
- nothing clinical is deleted: implants are explanted, appointments cancelled,
  prescriptions superseded, users deactivated;
- constraint names follow one naming convention so Alembic batch mode on SQLite can
  drop and recreate them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from thecal.clinic.access import Role
from thecal.clinic.candidacy import PsychEvaluation, TrialCriterion, TrialMethod
from thecal.clinic.diagnoses import Diagnosis
from thecal.clinic.interrogation import AlarmPriority, BatteryState
from thecal.clinic.refill_schedule import RefillLimit
from thecal.clinic.storage.types import ExactFraction, QuantityType, UTCDateTime
from thecal.therapy.prescription import Mode
from thecal.therapy.quantities import Concentration, DoseRate, Volume
from thecal.therapy.refill import Discrepancy

__all__ = [
    "Alarm",
    "Appointment",
    "AppointmentKind",
    "AppointmentStatus",
    "AuditEntry",
    "AuditHead",
    "AuthSession",
    "Base",
    "IdempotencyKey",
    "Implant",
    "ImplantStatus",
    "Interrogation",
    "PainAssessment",
    "Patient",
    "PrescriptionRecord",
    "PrescriptionStatus",
    "Refill",
    "Reminder",
    "ReminderDelivery",
    "ReminderKind",
    "ReminderStatus",
    "Screening",
    "Sex",
    "Trial",
    "User",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum(kind: type[StrEnum], length: int = 40) -> Enum:
    """A string column holding one of an enum's values (no native database enum type, so
    adding a value needs no type migration)."""
    return Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class ImplantStatus(StrEnum):
    ACTIVE = "active"
    EXPLANTED = "explanted"


class PrescriptionStatus(StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"


class AppointmentKind(StrEnum):
    REFILL = "refill"
    FOLLOW_UP = "follow_up"
    TRIAL = "trial"
    IMPLANT = "implant"
    BATTERY_REPLACEMENT = "battery_replacement"
    INTERROGATION = "interrogation"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"


class ReminderKind(StrEnum):
    REFILL_UPCOMING = "refill_upcoming"
    REFILL_OVERDUE = "refill_overdue"
    BATTERY_REPLACEMENT = "battery_replacement"
    APPOINTMENT = "appointment"


class ReminderStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"


# --- people ---------------------------------------------------------------------------


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mrn: Mapped[str] = mapped_column(String(40), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(_enum(Sex))
    weight_kg: Mapped[Fraction | None] = mapped_column(ExactFraction)
    diagnosis: Mapped[Diagnosis] = mapped_column(_enum(Diagnosis))
    withdrawal_risk_factors: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    implants: Mapped[list[Implant]] = relationship(back_populates="patient")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it)
    __table_args__ = (Index("ix_patients_family_name_given_name", "family_name", "given_name"),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(_enum(Role))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it)
    __table_args__ = (
        CheckConstraint(
            "(role = 'patient') = (patient_id IS NOT NULL)", name="patient_link_iff_patient"
        ),
    )


class AuthSession(Base):
    """A sign-in: only the SHA-256 of the bearer token is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInFailure(Base):
    """A refused sign-in attempt, kept for the throttle's window (by username as typed,
    lower-cased; unknown usernames count too, so the throttle reveals nothing)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- assessment and candidacy -----------------------------------------------------------


class PainAssessment(Base):
    __tablename__ = "pain_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[int | None] = mapped_column(Integer)
    ashworth: Mapped[str | None] = mapped_column(String(4))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    mapping: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Segments and suggested tip level computed when recorded (from the anatomy data)."""
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 10)", name="score_0_to_10"),
        Index("ix_pain_assessments_patient_id_assessed_at", "patient_id", "assessed_at"),
    )


class Screening(Base):
    __tablename__ = "screenings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    conservative_therapies_tried: Mapped[bool] = mapped_column(Boolean)
    no_other_surgical_option: Mapped[bool] = mapped_column(Boolean)
    no_untreated_addiction: Mapped[bool] = mapped_column(Boolean)
    no_infection: Mapped[bool] = mapped_column(Boolean)
    body_size_adequate: Mapped[bool] = mapped_column(Boolean)
    implant_depth_adequate: Mapped[bool] = mapped_column(Boolean)
    psychological_evaluation: Mapped[PsychEvaluation] = mapped_column(_enum(PsychEvaluation))
    eligible: Mapped[bool] = mapped_column(Boolean)
    unmet: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Trial(Base):
    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[TrialMethod] = mapped_column(_enum(TrialMethod))
    drug: Mapped[str] = mapped_column(String(40))
    dose: Mapped[str] = mapped_column(String(40))
    """As entered and validated ("50 mcg" for a bolus, "100 mcg/day" for an infusion)."""
    baseline_pain: Mapped[int | None] = mapped_column(Integer)
    post_pain: Mapped[int | None] = mapped_column(Integer)
    baseline_ashworth: Mapped[str | None] = mapped_column(String(4))
    post_ashworth: Mapped[str | None] = mapped_column(String(4))
    criterion: Mapped[TrialCriterion] = mapped_column(_enum(TrialCriterion))
    improvement: Mapped[Fraction] = mapped_column(ExactFraction)
    success: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# --- devices and therapy ----------------------------------------------------------------


class Implant(Base):
    """An implanted pump with its catheter, and the schedule computed for it.

    The schedule columns (`next_refill_due` ...) are recomputed in the same transaction as
    every change that moves them (refill, prescription, interrogation), so the worklists
    are plain indexed reads.
    """

    __tablename__ = "implants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[ImplantStatus] = mapped_column(_enum(ImplantStatus))
    pump_model: Mapped[str] = mapped_column(String(40))
    serial: Mapped[str] = mapped_column(String(64))
    reservoir: Mapped[Volume] = mapped_column(QuantityType(Volume))
    low_reservoir_alarm: Mapped[Volume] = mapped_column(QuantityType(Volume))
    implanted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    catheter_model: Mapped[str] = mapped_column(String(40))
    catheter_length_cm: Mapped[Fraction] = mapped_column(ExactFraction)
    catheter_trimmed_length_cm: Mapped[Fraction] = mapped_column(ExactFraction)
    catheter_tip_level: Mapped[str] = mapped_column(String(8))
    explanted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    explant_reason: Mapped[str | None] = mapped_column(Text)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("implants.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    # Schedule (derived; see thecal.clinic.service.schedule)
    high_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    next_refill_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refill_limited_by: Mapped[RefillLimit | None] = mapped_column(_enum(RefillLimit))
    low_alarm_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    empty_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stability_limit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    battery_eri_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    battery_eos_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replacement_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    battery_basis: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="implants")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it)
    __table_args__ = (
        # The refills-due worklist: active implants by due time, high-risk group first.
        Index("ix_implants_status_next_refill_due", "status", "next_refill_due"),
        Index(
            "ix_implants_status_high_risk_next_refill_due",
            "status",
            "high_risk",
            "next_refill_due",
            "id",
        ),
        Index("ix_implants_status_replacement_due", "status", "replacement_due"),
        Index("ix_implants_serial", "serial"),
    )


class PrescriptionRecord(Base):
    """One prescription in an implant's history, with the safety verdicts it was saved with
    and the reasons given for every overridden warning."""

    __tablename__ = "prescriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implant_id: Mapped[int] = mapped_column(ForeignKey("implants.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[PrescriptionStatus] = mapped_column(_enum(PrescriptionStatus))
    active_from: Mapped[datetime] = mapped_column(UTCDateTime)
    active_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    drug: Mapped[str] = mapped_column(String(40))
    concentration: Mapped[Concentration] = mapped_column(QuantityType(Concentration))
    mode: Mapped[Mode] = mapped_column(_enum(Mode))
    daily_dose: Mapped[DoseRate] = mapped_column(QuantityType(DoseRate))
    worst_case_daily_dose: Mapped[DoseRate] = mapped_column(QuantityType(DoseRate))
    content_hash: Mapped[str] = mapped_column(String(64))
    toml: Mapped[str] = mapped_column(Text)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    override_reasons: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_prescriptions_implant_id_active_from", "implant_id", "active_from"),
    )


class Refill(Base):
    __tablename__ = "refills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implant_id: Mapped[int] = mapped_column(ForeignKey("implants.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    performed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expected_volume: Mapped[Volume | None] = mapped_column(QuantityType(Volume))
    expected_low: Mapped[Volume | None] = mapped_column(QuantityType(Volume))
    expected_high: Mapped[Volume | None] = mapped_column(QuantityType(Volume))
    aspirated_volume: Mapped[Volume | None] = mapped_column(QuantityType(Volume))
    discrepancy: Mapped[Discrepancy] = mapped_column(_enum(Discrepancy))
    discrepancy_message: Mapped[str] = mapped_column(Text, default="")
    drug: Mapped[str] = mapped_column(String(40))
    concentration: Mapped[Concentration] = mapped_column(QuantityType(Concentration))
    lot: Mapped[str] = mapped_column(String(64))
    volume_added: Mapped[Volume] = mapped_column(QuantityType(Volume))
    first_fill: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_refills_implant_id_performed_at", "implant_id", "performed_at"),)


class Interrogation(Base):
    __tablename__ = "interrogations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implant_id: Mapped[int] = mapped_column(ForeignKey("implants.id"))
    interrogated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reservoir_estimate: Mapped[Volume] = mapped_column(QuantityType(Volume))
    mode: Mapped[str] = mapped_column(String(32))
    delivering: Mapped[bool] = mapped_column(Boolean)
    battery_state: Mapped[BatteryState | None] = mapped_column(_enum(BatteryState))
    prescription_hash: Mapped[str | None] = mapped_column(String(64))
    prescription_matches: Mapped[bool | None] = mapped_column(Boolean)
    last_event_seq: Mapped[int | None] = mapped_column(BigInteger)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_interrogations_implant_id_interrogated_at", "implant_id", "interrogated_at"),
    )


class Alarm(Base):
    """A pump alarm as last reported by an interrogation (one row per alarm occurrence)."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implant_id: Mapped[int] = mapped_column(ForeignKey("implants.id"))
    kind: Mapped[str] = mapped_column(String(64))
    priority: Mapped[AlarmPriority] = mapped_column(_enum(AlarmPriority))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    interrogation_id: Mapped[int] = mapped_column(ForeignKey("interrogations.id"))

    __table_args__ = (
        UniqueConstraint("implant_id", "kind", "raised_at"),
        Index("ix_alarms_active", "active"),
    )


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    implant_id: Mapped[int | None] = mapped_column(ForeignKey("implants.id"))
    kind: Mapped[AppointmentKind] = mapped_column(_enum(AppointmentKind))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[AppointmentStatus] = mapped_column(_enum(AppointmentStatus))
    note: Mapped[str] = mapped_column(Text, default="")
    late_reason: Mapped[str | None] = mapped_column(Text)
    """Why a refill visit is booked after the refill-due time (required in that case)."""
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it)
    __table_args__ = (
        Index("ix_appointments_patient_id_starts_at", "patient_id", "starts_at"),
        Index("ix_appointments_status_starts_at", "status", "starts_at"),
    )


# --- reminders outbox -------------------------------------------------------------------


class Reminder(Base):
    """An outbox row: one reminder to send once, when due. `key` makes planning idempotent."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[ReminderKind] = mapped_column(_enum(ReminderKind))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    implant_id: Mapped[int | None] = mapped_column(ForeignKey("implants.id"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(Integer)
    """Lower is sent first: high-risk (withdrawal) overdue escalations come first."""
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ReminderStatus] = mapped_column(_enum(ReminderStatus))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        Index("ix_reminders_status_due_at", "status", "priority", "due_at"),
        Index("ix_reminders_implant_id", "implant_id"),
    )


class ReminderDelivery(Base):
    """The default sink: what was sent, once per reminder (the unique key is the backstop)."""

    __tablename__ = "reminder_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id"), unique=True)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(120))
    message: Mapped[str] = mapped_column(Text)
    worker: Mapped[str] = mapped_column(String(80))


# --- request bookkeeping and audit ------------------------------------------------------


class IdempotencyKey(Base):
    """A create request already answered: a retry with the same key gets the same answer."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)


class AuditEntry(Base):
    """One link of the hash chain. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(40))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)


class AuditHead(Base):
    """The chain's tip (one row): where the next entry links, and the lock writers queue on."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
