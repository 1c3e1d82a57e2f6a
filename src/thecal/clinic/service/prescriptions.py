"""Prescriptions: every one entered through the clinic is judged by the one safety
evaluator (`thecal.therapy.safety.evaluate`) and saved only when `confirm` accepts it:
nothing refused, and a reason for every overridden warning. The verdicts and reasons are
saved with the prescription in its history.

A prescription crosses into the service once, typed: the API's structured fields
(`PrescriptionInput`, the prescription file's vocabulary) are read by
`thecal.therapy.prescription_toml.prescription_from_fields`, the one reader with one set of
error messages that reports every problem at once; the web pages and the demo hand in the
`Prescription` itself. Storage keeps the prescription's TOML text; `stored_prescription` is
the one place that reads it back, checking its content hash, and every view carries the
typed prescription it read (`PrescriptionView.prescription`).

`safety_context` is the one place where the history a safety evaluation needs (the
prescription in force, the last dose increase, the time now, the pump) is built from the
clinic record: the API, the prescription editor, the pump session page and the command line
all judge a proposal in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from pydantic import AwareDatetime, Field, PrivateAttr
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.audit import snapshot
from thecal.clinic.errors import Conflict, Invalid, NotFound, Refused
from thecal.clinic.service import schedule
from thecal.clinic.service.common import (
    Form,
    View,
    load,
    not_in_future,
    quantity_text,
    stored_prescription,
)
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import (
    Implant,
    ImplantStatus,
    PrescriptionRecord,
    PrescriptionStatus,
)
from thecal.therapy.delivery import programmed_daily_dose, worst_case_daily_dose
from thecal.therapy.prescription import Mode, Prescription, PrescriptionError
from thecal.therapy.prescription_toml import prescription_from_fields, prescription_to_toml
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
    "PrescriptionOrder",
    "PrescriptionView",
    "VerdictView",
    "current_prescription",
    "current_record",
    "evaluate_prescription",
    "list_prescriptions",
    "prescribe",
    "prescription_view",
    "safety_context",
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

    def order(self) -> PrescriptionOrder:
        """The typed order these fields describe (`Invalid` naming every problem of the
        prescription's fields otherwise)."""
        return PrescriptionOrder(
            to_prescription(self.prescription),
            dict(self.override_reasons),
            self.active_from,
            self.replaces_prescription_id,
            self.note,
        )


@dataclass(frozen=True)
class PrescriptionOrder:
    """A prescription to save, typed: what the prescriber reviewed and what they add."""

    prescription: Prescription
    override_reasons: Mapping[Rule, str] = field(default_factory=dict)
    """A reason for each rule that warned (soft limit)."""
    active_from: datetime | None = None
    """Defaults to now."""
    replaces_prescription_id: int | None = None
    """The current prescription the prescriber reviewed (a different one: `Conflict`)."""
    note: str = ""


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
    _prescription: Prescription | None = PrivateAttr(default=None)

    @property
    def prescription(self) -> Prescription:
        """The typed prescription, read once from storage by `stored_prescription`."""
        if self._prescription is None:
            raise RuntimeError("this view was not built from a stored record")
        return self._prescription


def _field_of(problem: str) -> str | None:
    head = problem.split(":", 1)[0].strip()
    return head if head and " " not in head else None


def to_prescription(data: PrescriptionInput) -> Prescription:
    """The `Prescription` these fields describe; `Invalid` listing every problem otherwise."""
    try:
        return prescription_from_fields(data.model_dump(exclude_none=True, mode="json"))
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


def _lineage(call: Call, implant: Implant) -> list[Implant]:
    """The implant and the pumps it replaced, oldest first: one therapy's pumps."""
    chain = [implant]
    while chain[0].replaces_id is not None and len(chain) < 100:
        earlier = call.session.get(Implant, chain[0].replaces_id)
        if earlier is None or earlier in chain:
            break
        chain.insert(0, earlier)
    return chain


def _history(call: Call, implant: Implant) -> list[PrescriptionRecord]:
    """Every prescription of this therapy, oldest first: those of the pumps this one
    replaced (it continues their therapy), then its own."""
    records: list[PrescriptionRecord] = []
    for pump in _lineage(call, implant):
        records += call.session.scalars(
            select(PrescriptionRecord)
            .where(PrescriptionRecord.implant_id == pump.id)
            .order_by(PrescriptionRecord.active_from, PrescriptionRecord.id)
        ).all()
    return records


def _last_increase_at(
    call: Call, history: Sequence[PrescriptionRecord], drug: str
) -> datetime | None:
    """When the daily dose of `drug` (by name or alias) last went up in `history`."""
    wanted = call.library.find(drug)

    def same(record: PrescriptionRecord) -> bool:
        if wanted is None:
            return record.drug.strip().lower() == drug.strip().lower()
        return call.library.find(record.drug) is wanted

    last: datetime | None = None
    for previous, record in pairwise(history):
        if same(previous) and same(record) and record.daily_dose > previous.daily_dose:
            last = record.active_from
    return last


def safety_context(
    call: Call, implant_id: int, drug: str, *, record_id: int | None = None
) -> Context:
    """What the safety evaluator needs, besides the proposal, to judge a prescription of
    `drug` for this implant, from the clinic record: the prescription in force (for a pump
    that replaced another and has none yet, the last one of the pump it replaced), when the
    daily dose of that drug last went up, the clinic's time now (the same clock), and the
    pump model (none for a constant-flow pump: there is nothing to program).

    `record_id` judges a stored prescription of this implant as the proposal (the pump
    session sends the one in force): only the history before it counts, so its own
    increase is not its last one. The caller checks the actor's permission."""
    implant = load(call, Implant, implant_id, "implant")
    history = _history(call, implant)
    if record_id is not None:
        position = next((i for i, r in enumerate(history) if r.id == record_id), None)
        if position is None:
            raise NotFound(
                f"implant {implant_id} has no prescription {record_id}", field="record_id"
            )
        history = history[:position]
    pump = find_pump_model(implant.pump_model)
    return Context(
        current=stored_prescription(history[-1]) if history else None,
        last_increase_at=_last_increase_at(call, history, drug),
        now=call.now,
        pump=pump if pump.programmable else None,
    )


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
    if not pump.programmable:
        _fixed_flow_check(prescription, pump)
    context = safety_context(call, implant.id, prescription.drug)
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
    prescription: Prescription,
    override_reasons: Mapping[Rule, str] | None = None,
) -> EvaluationView:
    """Judge a proposed prescription for this implant without saving it (live verdicts for
    the prescription editor), in the implant's `safety_context`."""
    implant = _active_implant(call, implant_id, Permission.PATIENT_READ)
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


def prescription_view(
    record: PrescriptionRecord, prescription: Prescription | None = None
) -> PrescriptionView:
    """The record as a view carrying its typed prescription: `prescription` when the caller
    has just stored it, else read back by `stored_prescription`."""
    view = PrescriptionView(
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
    view._prescription = prescription or stored_prescription(record)
    return view


def prescribe(call: Call, implant_id: int, order: PrescriptionOrder) -> PrescriptionView:
    """Save a new prescription for the implant, superseding the current one, after judging
    it in the implant's `safety_context` (the API hands in `PrescribeForm.order()`).

    Refused (`Refused`, 422) if any rule refuses; `Invalid` (422, code
    ``override_reason_required``) if a warning has no reason. Both carry every verdict.
    """
    implant = _active_implant(call, implant_id, Permission.PRESCRIBE)
    # The proposal was reviewed against the current prescription; if that changed
    # meanwhile, the review (and the verdicts) no longer hold.
    current = current_record(call, implant.id)
    if current is not None and order.replaces_prescription_id not in (None, current.id):
        raise Conflict(
            f"the current prescription is {current.id}, not {order.replaces_prescription_id}: "
            "someone else changed it meanwhile; review the current one again",
            code="stale_prescription",
            field="replaces_prescription_id",
            accepted=str(current.id),
        )
    prescription = order.prescription
    evaluation, pump = _evaluate(call, implant, prescription)
    given: dict[Rule | str, str] = {rule: text for rule, text in order.override_reasons.items()}
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
    active_from = order.active_from or call.now
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
        note=order.note,
    )
    call.session.add(record)
    reasons = "; ".join(f"{rule.value}: {text}" for rule, text in confirmation.overrides.items())
    call.audit("prescribe", record, None, reason=reasons or None)
    schedule.recompute(call, implant, f"prescription {record.id}")
    return prescription_view(record, prescription)


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
