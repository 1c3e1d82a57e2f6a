"""Patients: minimal identity, weight, diagnosis and withdrawal risk factors."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction

from pydantic import Field, field_validator
from sqlalchemy import func, or_, select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.audit import snapshot
from thecal.clinic.diagnoses import Diagnosis, DiagnosisFamily, family_of, label_of
from thecal.clinic.errors import Conflict, Invalid
from thecal.clinic.service.common import Form, View, check_version, load
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import Patient, Sex
from thecal.therapy.quantities import decimal_text

__all__ = [
    "PatientForm",
    "PatientList",
    "PatientUpdate",
    "PatientView",
    "WithdrawalRiskFactor",
    "create_patient",
    "get_patient",
    "list_patients",
    "patient_view",
    "update_patient",
]


class WithdrawalRiskFactor(StrEnum):
    """Baclofen withdrawal risk factors named in the label's boxed warning ([S59])."""

    SPINAL_CORD_INJURY_T6_OR_ABOVE = "spinal_cord_injury_t6_or_above"
    COMMUNICATION_DIFFICULTIES = "communication_difficulties"
    PRIOR_WITHDRAWAL = "prior_withdrawal"


WEIGHT_PATTERN = r"^\d{1,3}(\.\d{1,3})?$"


def _weight(value: str | None) -> str | None:
    if value is None:
        return None
    if not 0 < Fraction(value) <= 400:
        raise ValueError("weight_kg: accepted: more than 0 and at most 400 (kg)")
    return value


class PatientForm(Form):
    mrn: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$",
                     description="Medical record number (unique in the clinic)")  # fmt: skip
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    birth_date: date
    sex: Sex
    weight_kg: str | None = Field(default=None, pattern=WEIGHT_PATTERN, examples=["72.5"])
    diagnosis: Diagnosis
    withdrawal_risk_factors: list[WithdrawalRiskFactor] = Field(default_factory=list, max_length=3)
    note: str = Field(default="", max_length=2000)

    _check_weight = field_validator("weight_kg")(_weight)


class PatientUpdate(Form):
    version: int = Field(ge=1)
    given_name: str | None = Field(default=None, min_length=1, max_length=100)
    family_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: date | None = None
    sex: Sex | None = None
    weight_kg: str | None = Field(default=None, pattern=WEIGHT_PATTERN)
    diagnosis: Diagnosis | None = None
    withdrawal_risk_factors: list[WithdrawalRiskFactor] | None = Field(default=None, max_length=3)
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=500)

    _check_weight = field_validator("weight_kg")(_weight)


class PatientView(View):
    id: int
    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: Sex
    weight_kg: str | None
    diagnosis: Diagnosis
    diagnosis_label: str
    family: DiagnosisFamily
    withdrawal_risk_factors: list[str]
    note: str
    created_at: datetime
    version: int


class PatientList(View):
    items: list[PatientView]
    total: int


def patient_view(patient: Patient) -> PatientView:
    return PatientView(
        id=patient.id,
        mrn=patient.mrn,
        given_name=patient.given_name,
        family_name=patient.family_name,
        birth_date=patient.birth_date,
        sex=patient.sex,
        weight_kg=decimal_text(patient.weight_kg, 3) if patient.weight_kg is not None else None,
        diagnosis=patient.diagnosis,
        diagnosis_label=label_of(patient.diagnosis),
        family=family_of(patient.diagnosis),
        withdrawal_risk_factors=list(patient.withdrawal_risk_factors),
        note=patient.note,
        created_at=patient.created_at,
        version=patient.version,
    )


def _birth_date(call: Call, birth_date: date) -> None:
    if birth_date > call.now.date() or birth_date.year < 1900:
        raise Invalid(
            f"birth_date: {birth_date.isoformat()} is not a plausible birth date",
            field="birth_date",
            accepted=f"a date from 1900-01-01 to {call.now.date().isoformat()}",
        )


def create_patient(call: Call, form: PatientForm) -> PatientView:
    authorize(call.actor, Permission.PATIENT_WRITE)
    _birth_date(call, form.birth_date)
    if call.session.scalar(select(Patient.id).where(Patient.mrn == form.mrn)) is not None:
        raise Conflict(f"a patient with MRN {form.mrn!r} exists", code="duplicate", field="mrn")
    patient = Patient(
        mrn=form.mrn,
        given_name=form.given_name,
        family_name=form.family_name,
        birth_date=form.birth_date,
        sex=form.sex,
        weight_kg=Fraction(form.weight_kg) if form.weight_kg else None,
        diagnosis=form.diagnosis,
        withdrawal_risk_factors=sorted(factor.value for factor in form.withdrawal_risk_factors),
        note=form.note,
        created_at=call.now,
    )
    call.session.add(patient)
    call.audit("create", patient, None)
    return patient_view(patient)


def get_patient(call: Call, patient_id: int) -> PatientView:
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    return patient_view(load(call, Patient, patient_id, "patient"))


def update_patient(call: Call, patient_id: int, form: PatientUpdate) -> PatientView:
    """Change a patient's details; `form.version` must be the version the user saw."""
    authorize(call.actor, Permission.PATIENT_WRITE, patient_id)
    patient = load(call, Patient, patient_id, "patient")
    check_version(patient, form.version)
    before = snapshot(patient)
    if form.birth_date is not None:
        _birth_date(call, form.birth_date)
        patient.birth_date = form.birth_date
    for name in ("given_name", "family_name", "sex", "diagnosis", "note"):
        value = getattr(form, name)
        if value is not None:
            setattr(patient, name, value)
    if form.weight_kg is not None:
        patient.weight_kg = Fraction(form.weight_kg)
    if form.withdrawal_risk_factors is not None:
        patient.withdrawal_risk_factors = sorted(f.value for f in form.withdrawal_risk_factors)
    call.audit("update", patient, before, reason=form.reason)
    return patient_view(patient)


def list_patients(call: Call, query: str = "", limit: int = 50, offset: int = 0) -> PatientList:
    """Patients whose name or MRN starts with `query` (case-insensitive), by family name."""
    authorize(call.actor, Permission.PATIENT_READ)
    statement = select(Patient)
    if query.strip():
        prefix = query.strip().lower() + "%"
        statement = statement.where(
            or_(
                func.lower(Patient.family_name).like(prefix),
                func.lower(Patient.given_name).like(prefix),
                func.lower(Patient.mrn).like(prefix),
            )
        )
    total = call.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = call.session.scalars(
        statement.order_by(Patient.family_name, Patient.given_name, Patient.id)
        .limit(limit)
        .offset(offset)
    )
    return PatientList(items=[patient_view(p) for p in rows], total=total)
