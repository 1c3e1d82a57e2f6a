"""Prescriptions: every one entered through the clinic is judged by the one safety
evaluator (`thecal.therapy.safety.evaluate`) and saved only when `confirm` accepts it:
nothing refused, and a reason for every overridden warning. The verdicts and reasons are
saved with the prescription in its history.

A prescription arrives as structured fields in the same vocabulary as the prescription
TOML file; it is turned into that file's text and read by
`thecal.therapy.prescription_toml.parse_prescription`, so there is one reader, one set of
error messages, and every problem is reported at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import tomli_w
from pydantic import AwareDatetime, Field
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.audit import snapshot
from thecal.clinic.errors import Conflict, Invalid, Refused
from thecal.clinic.service import schedule
from thecal.clinic.service.common import Form, View, load, not_in_future, quantity_text
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import (
    Implant,
    ImplantStatus,
    PrescriptionRecord,
    PrescriptionStatus,
)
from thecal.therapy.delivery import programmed_daily_dose, worst_case_daily_dose
from thecal.therapy.prescription import Mode, Prescription, PrescriptionError
from thecal.therapy.prescription_toml import parse_prescription, prescription_to_toml
from thecal.therapy.pump_models import PumpModel, find_pump_model
from thecal.therapy.quantities import DoseRate
from thecal.therapy.safety import Context, Evaluation, Rule, confirm, evaluate

__all__ = [
    "BolusInput",
    "EvaluateForm",
    "EvaluationView",
    "FlexStepInput",
    "PatientBolusInput",
    "PeriodicBolusInput",
    "PrescribeForm",
    "PrescriptionInput",
    "PrescriptionView",
    "VerdictView",
    "current_prescription",
    "current_record",
    "evaluate_prescription",
    "list_prescriptions",
    "prescribe",
    "prescription_view",
    "to_prescription",
]

_TEXT = Field(min_length=1, max_length=40)


class FlexStepInput(Form):
    start: str = Field(min_length=1, max_length=5, examples=["06:00"])
    rate: str = Field(min_length=1, max_length=40, examples=["500 mcg/day"])


class BolusInput(Form):
    dose: str = _TEXT
    duration: str = _TEXT


class PeriodicBolusInput(Form):
    dose: str = _TEXT
    duration: str = _TEXT
    interval: str = _TEXT
    first_start: str | None = Field(default=None, min_length=1, max_length=5)


class PatientBolusInput(Form):
    dose: str = _TEXT
    duration: str = _TEXT
    lockout: str = _TEXT
    max_per_24h: int = Field(ge=1, le=48)


class PrescriptionInput(Form):
    """A prescription in the prescription-file vocabulary; quantities are text with units."""

    drug: str = Field(min_length=1, max_length=40, examples=["baclofen"])
    concentration: str = Field(min_length=1, max_length=40, examples=["500 mcg/mL"])
    mode: Mode
    rate: str | None = Field(default=None, min_length=1, max_length=40)
    steps: list[FlexStepInput] = Field(default_factory=list, max_length=48)
    bolus: BolusInput | None = None
    periodic_bolus: PeriodicBolusInput | None = None
    patient_bolus: PatientBolusInput | None = None


class PrescribeForm(Form):
    prescription: PrescriptionInput
    override_reasons: dict[Rule, str] = Field(
        default_factory=dict,
        description="A reason for each rule that warned (soft limit), by rule name",
    )
    active_from: AwareDatetime | None = Field(default=None, description="Defaults to now")
    replaces_prescription_id: int | None = Field(
        default=None,
        ge=1,
        description="The current prescription the prescriber reviewed; a different current "
        "one means someone else changed it meanwhile (409)",
    )
    note: str = Field(default="", max_length=2000)


class EvaluateForm(Form):
    prescription: PrescriptionInput
    override_reasons: dict[Rule, str] = Field(default_factory=dict)


class VerdictView(View):
    rule: str
    outcome: str
    message: str
    value: str | None
    bound: str | None
    source: str | None


class EvaluationView(View):
    allowed: bool
    confirmable: bool
    """No refusal and a reason for every warning in the given `override_reasons`."""
    needs_reason: list[str]
    verdicts: list[VerdictView]
    notes: list[str]
    content_hash: str
    daily_dose: str
    worst_case_daily_dose: str
    toml: str


class PrescriptionView(View):
    id: int
    implant_id: int
    patient_id: int
    status: PrescriptionStatus
    active_from: datetime
    active_until: datetime | None
    entered_at: datetime
    entered_by: int | None
    drug: str
    concentration: str
    mode: Mode
    daily_dose: str
    worst_case_daily_dose: str
    content_hash: str
    toml: str
    verdicts: list[VerdictView]
    override_reasons: dict[str, str]
    note: str


def _toml_data(data: PrescriptionInput) -> dict[str, Any]:
    raw = data.model_dump(exclude_none=True)
    if not raw.get("steps"):
        raw.pop("steps", None)
    raw["mode"] = data.mode.value
    return raw


def _field_of(problem: str) -> str | None:
    head = problem.split(":", 1)[0].strip()
    return head if head and " " not in head else None


def to_prescription(data: PrescriptionInput) -> Prescription:
    """The `Prescription` these fields describe; `Invalid` listing every problem otherwise."""
    try:
        return parse_prescription(tomli_w.dumps(_toml_data(data)), origin="prescription")
    except PrescriptionError as error:
        problems = list(error.problems)
        raise Invalid(
            "; ".join(problems),
            code="invalid_prescription",
            field=_field_of(problems[0]) if problems else None,
            details=[{"field": _field_of(p), "message": p} for p in problems],
        ) from None


def _verdicts(evaluation: Evaluation) -> list[VerdictView]:
    return [
        VerdictView(
            rule=v.rule.value,
            outcome=v.outcome.value,
            message=v.message,
            value=v.value_text,
            bound=v.bound_text,
            source=v.citation,
        )
        for v in evaluation.verdicts
    ]


def current_record(call: Call, implant_id: int) -> PrescriptionRecord | None:
    return call.session.scalars(
        select(PrescriptionRecord)
        .where(
            PrescriptionRecord.implant_id == implant_id,
            PrescriptionRecord.status == PrescriptionStatus.ACTIVE,
        )
        .order_by(PrescriptionRecord.active_from.desc(), PrescriptionRecord.id.desc())
        .limit(1)
    ).first()


def _last_record(call: Call, implant_id: int) -> PrescriptionRecord | None:
    return call.session.scalars(
        select(PrescriptionRecord)
        .where(PrescriptionRecord.implant_id == implant_id)
        .order_by(PrescriptionRecord.active_from.desc(), PrescriptionRecord.id.desc())
        .limit(1)
    ).first()


def _last_increase_at(call: Call, implant_id: int, drug: str) -> datetime | None:
    """When this implant's daily dose of `drug` last went up (for the titration interval)."""
    records = call.session.scalars(
        select(PrescriptionRecord)
        .where(PrescriptionRecord.implant_id == implant_id)
        .order_by(PrescriptionRecord.active_from, PrescriptionRecord.id)
    ).all()
    last: datetime | None = None
    previous: PrescriptionRecord | None = None
    for record in records:
        if (
            previous is not None
            and record.drug == drug
            and previous.drug == drug
            and record.daily_dose > previous.daily_dose
        ):
            last = record.active_from
        previous = record
    return last


def _daily(prescription: Prescription, pump: PumpModel) -> tuple[DoseRate, DoseRate]:
    minimum = pump.minimum_rate.value
    programmed = programmed_daily_dose(prescription, minimum)
    worst = worst_case_daily_dose(prescription, minimum)
    return DoseRate(programmed.amount), DoseRate(worst.amount)


def _fixed_flow_check(prescription: Prescription, pump: PumpModel) -> None:
    """A constant-flow pump is not programmed: its dose is its fixed flow times the
    concentration, recorded as a simple-continuous prescription at exactly that rate."""
    fixed = pump.minimum_rate.value
    expected = fixed.to_dose_rate(prescription.concentration)
    if prescription.mode is not Mode.SIMPLE_CONTINUOUS or prescription.rate != expected:
        raise Invalid(
            f"{pump.label} runs at a fixed {fixed}: record it as simple_continuous at "
            f"{quantity_text(expected)} for {prescription.concentration}",
            code="fixed_flow_pump",
            field="prescription.rate",
            accepted=f"mode simple_continuous, rate {quantity_text(expected)}",
        )


def _evaluate(
    call: Call, implant: Implant, prescription: Prescription
) -> tuple[Evaluation, PumpModel]:
    pump = find_pump_model(implant.pump_model)
    in_force = current_record(call, implant.id)
    if in_force is None and implant.replaces_id is not None:
        # A replacement pump continues the therapy of the pump it replaces.
        in_force = _last_record(call, implant.replaces_id)
    current = parse_prescription(in_force.toml) if in_force else None
    context_pump: PumpModel | None = pump
    if not pump.programmable:
        _fixed_flow_check(prescription, pump)
        context_pump = None  # nothing to program; dose, library and change rules still apply
    context = Context(
        current=current,
        last_increase_at=_last_increase_at(call, implant.id, prescription.drug),
        now=call.now,
        pump=context_pump,
    )
    return evaluate(prescription, call.library, context), pump


def _active_implant(call: Call, implant_id: int, permission: Permission) -> Implant:
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, permission, implant.patient_id)
    if implant.status is not ImplantStatus.ACTIVE:
        raise Conflict(f"implant {implant_id} is explanted", code="not_active")
    return implant


def evaluate_prescription(
    call: Call,
    implant_id: int,
    data: PrescriptionInput,
    override_reasons: dict[Rule, str] | None = None,
) -> EvaluationView:
    """Judge a proposed prescription for this implant without saving it (live verdicts for
    the prescription editor)."""
    implant = _active_implant(call, implant_id, Permission.PATIENT_READ)
    prescription = to_prescription(data)
    evaluation, pump = _evaluate(call, implant, prescription)
    reasons: dict[Rule | str, str] = {rule: text for rule, text in (override_reasons or {}).items()}
    confirmation = confirm(evaluation, reasons)
    daily, worst = _daily(prescription, pump)
    return EvaluationView(
        allowed=evaluation.allowed,
        confirmable=confirmation.confirmed,
        needs_reason=[rule.value for rule in confirmation.missing_reasons],
        verdicts=_verdicts(evaluation),
        notes=list(evaluation.notes),
        content_hash=prescription.content_hash,
        daily_dose=quantity_text(daily) or "",
        worst_case_daily_dose=quantity_text(worst) or "",
        toml=prescription_to_toml(prescription),
    )


def prescription_view(record: PrescriptionRecord) -> PrescriptionView:
    return PrescriptionView(
        id=record.id,
        implant_id=record.implant_id,
        patient_id=record.patient_id,
        status=record.status,
        active_from=record.active_from,
        active_until=record.active_until,
        entered_at=record.entered_at,
        entered_by=record.entered_by,
        drug=record.drug,
        concentration=quantity_text(record.concentration) or "",
        mode=record.mode,
        daily_dose=quantity_text(record.daily_dose) or "",
        worst_case_daily_dose=quantity_text(record.worst_case_daily_dose) or "",
        content_hash=record.content_hash,
        toml=record.toml,
        verdicts=[VerdictView(**verdict) for verdict in record.verdicts],
        override_reasons=dict(record.override_reasons),
        note=record.note,
    )


def prescribe(call: Call, implant_id: int, form: PrescribeForm) -> PrescriptionView:
    """Save a new prescription for the implant, superseding the current one.

    Refused (`Refused`, 422) if any rule refuses; `Invalid` (422, code
    ``override_reason_required``) if a warning has no reason. Both carry every verdict.
    """
    implant = _active_implant(call, implant_id, Permission.PRESCRIBE)
    # The proposal was reviewed against the current prescription; if that changed
    # meanwhile, the review (and the verdicts) no longer hold.
    current = current_record(call, implant.id)
    if current is not None and form.replaces_prescription_id not in (None, current.id):
        raise Conflict(
            f"the current prescription is {current.id}, not {form.replaces_prescription_id}: "
            "someone else changed it meanwhile; review the current one again",
            code="stale_prescription",
            field="replaces_prescription_id",
            accepted=str(current.id),
        )
    prescription = to_prescription(form.prescription)
    evaluation, pump = _evaluate(call, implant, prescription)
    given: dict[Rule | str, str] = {rule: text for rule, text in form.override_reasons.items()}
    confirmation = confirm(evaluation, given)
    verdicts = [v.model_dump() for v in _verdicts(evaluation)]
    if confirmation.refusals:
        raise Refused(
            confirmation.explain(),
            code="refused_by_safety_rules",
            field="prescription",
            details=verdicts,
        )
    if not confirmation.confirmed:
        names = ", ".join(rule.value for rule in confirmation.missing_reasons)
        raise Invalid(
            confirmation.explain(),
            code="override_reason_required",
            field="override_reasons",
            accepted=f"a non-empty reason for each of: {names}",
            details=verdicts,
        )
    active_from = form.active_from or call.now
    not_in_future(call, active_from, "active_from")
    floor = current.active_from if current else implant.implanted_at
    if active_from < floor:
        raise Invalid(
            f"active_from: {active_from.isoformat()} is before {floor.isoformat()}",
            field="active_from",
            accepted=f"a time from {floor.isoformat()} to now",
        )
    if current is not None:
        before = snapshot(current)
        current.status = PrescriptionStatus.SUPERSEDED
        current.active_until = active_from
        call.audit("supersede", current, before)
    daily, worst = _daily(prescription, pump)
    record = PrescriptionRecord(
        implant_id=implant.id,
        patient_id=implant.patient_id,
        status=PrescriptionStatus.ACTIVE,
        active_from=active_from,
        entered_at=call.now,
        entered_by=call.actor.user_id,
        drug=prescription.drug,
        concentration=prescription.concentration,
        mode=prescription.mode,
        daily_dose=daily,
        worst_case_daily_dose=worst,
        content_hash=prescription.content_hash,
        toml=prescription_to_toml(prescription),
        verdicts=verdicts,
        override_reasons={rule.value: text for rule, text in confirmation.overrides.items()},
        note=form.note,
    )
    call.session.add(record)
    reasons = "; ".join(f"{rule.value}: {text}" for rule, text in confirmation.overrides.items())
    call.audit("prescribe", record, None, reason=reasons or None)
    schedule.recompute(call, implant, f"prescription {record.id}")
    return prescription_view(record)


def current_prescription(call: Call, implant_id: int) -> PrescriptionView | None:
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    record = current_record(call, implant_id)
    return prescription_view(record) if record else None


def list_prescriptions(call: Call, implant_id: int) -> list[PrescriptionView]:
    """The implant's prescription history, newest first."""
    implant = load(call, Implant, implant_id, "implant")
    authorize(call.actor, Permission.PATIENT_READ, implant.patient_id)
    rows = call.session.scalars(
        select(PrescriptionRecord)
        .where(PrescriptionRecord.implant_id == implant_id)
        .order_by(PrescriptionRecord.active_from.desc(), PrescriptionRecord.id.desc())
    )
    return [prescription_view(row) for row in rows]
