"""Candidacy screening and trials, with the result computed by the rules, not typed in."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.candidacy import (
    PsychEvaluation,
    ScreeningCriteria,
    TrialCriterion,
    TrialMethod,
    screen,
    trial_outcome,
)
from thecal.clinic.errors import Invalid
from thecal.clinic.service.common import Form, View, invalid_from, load, not_in_future
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import Patient, Screening, Trial
from thecal.therapy.quantities import decimal_text
from thecal.therapy.units import QuantityParseError, parse_dose_rate, parse_mass

__all__ = [
    "ScreeningForm",
    "ScreeningView",
    "TrialForm",
    "TrialView",
    "list_screenings",
    "list_trials",
    "record_screening",
    "record_trial",
    "screening_view",
    "trial_view",
]

AshworthGrade = Literal["0", "1", "1+", "2", "3", "4"]


class ScreeningForm(Form):
    decided_at: AwareDatetime | None = None
    conservative_therapies_tried: bool
    no_other_surgical_option: bool
    no_untreated_addiction: bool
    no_infection: bool
    body_size_adequate: bool
    implant_depth_adequate: bool
    psychological_evaluation: PsychEvaluation
    note: str = Field(default="", max_length=2000)


class ScreeningView(View):
    id: int
    patient_id: int
    decided_at: datetime
    criteria: dict[str, bool | str]
    eligible: bool
    unmet: list[str]
    decided_by: int | None
    note: str


class TrialForm(Form):
    performed_at: AwareDatetime | None = None
    method: TrialMethod
    drug: str = Field(min_length=1, max_length=40)
    dose: str = Field(min_length=1, max_length=40, examples=["50 mcg", "100 mcg/day"])
    baseline_pain: int | None = Field(default=None, ge=0, le=10)
    post_pain: int | None = Field(default=None, ge=0, le=10)
    baseline_ashworth: AshworthGrade | None = None
    post_ashworth: AshworthGrade | None = None
    note: str = Field(default="", max_length=2000)


class TrialView(View):
    id: int
    patient_id: int
    performed_at: datetime
    method: TrialMethod
    drug: str
    dose: str
    baseline_pain: int | None
    post_pain: int | None
    baseline_ashworth: str | None
    post_ashworth: str | None
    criterion: TrialCriterion
    improvement: str
    """Pain: relief as a fraction (0.5 = 50 %); spasticity: Ashworth points dropped."""
    success: bool
    note: str


_CRITERIA = (
    "conservative_therapies_tried",
    "no_other_surgical_option",
    "no_untreated_addiction",
    "no_infection",
    "body_size_adequate",
    "implant_depth_adequate",
    "psychological_evaluation",
)


def screening_view(row: Screening) -> ScreeningView:
    criteria: dict[str, bool | str] = {name: getattr(row, name) for name in _CRITERIA}
    criteria["psychological_evaluation"] = row.psychological_evaluation.value
    return ScreeningView(
        id=row.id,
        patient_id=row.patient_id,
        decided_at=row.decided_at,
        criteria=criteria,
        eligible=row.eligible,
        unmet=list(row.unmet),
        decided_by=row.decided_by,
        note=row.note,
    )


def record_screening(call: Call, patient_id: int, form: ScreeningForm) -> ScreeningView:
    """Record a candidacy decision; eligibility is computed from the criteria."""
    authorize(call.actor, Permission.SCREENING_WRITE, patient_id)
    patient = load(call, Patient, patient_id, "patient")
    decided_at = form.decided_at or call.now
    not_in_future(call, decided_at, "decided_at")
    values = {name: getattr(form, name) for name in _CRITERIA}
    result = screen(ScreeningCriteria(**values), patient.diagnosis)
    row = Screening(
        patient_id=patient_id,
        decided_at=decided_at,
        eligible=result.eligible,
        unmet=list(result.unmet),
        note=form.note,
        decided_by=call.actor.user_id,
        **values,
    )
    call.session.add(row)
    call.audit("create", row, None)
    return screening_view(row)


def list_screenings(call: Call, patient_id: int) -> list[ScreeningView]:
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    load(call, Patient, patient_id, "patient")
    rows = call.session.scalars(
        select(Screening)
        .where(Screening.patient_id == patient_id)
        .order_by(Screening.decided_at.desc(), Screening.id.desc())
    )
    return [screening_view(row) for row in rows]


def trial_view(row: Trial) -> TrialView:
    return TrialView(
        id=row.id,
        patient_id=row.patient_id,
        performed_at=row.performed_at,
        method=row.method,
        drug=row.drug,
        dose=row.dose,
        baseline_pain=row.baseline_pain,
        post_pain=row.post_pain,
        baseline_ashworth=row.baseline_ashworth,
        post_ashworth=row.post_ashworth,
        criterion=row.criterion,
        improvement=decimal_text(row.improvement, 6),
        success=row.success,
        note=row.note,
    )


def _trial_dose(method: TrialMethod, text: str) -> str:
    """A bolus trial gives a mass, an infusion trial a dose rate; either is checked."""
    try:
        if method is TrialMethod.CATHETER_INFUSION:
            return str(parse_dose_rate(text, "dose"))
        return str(parse_mass(text, "dose"))
    except QuantityParseError as error:
        raise invalid_from(error, "dose") from None


def record_trial(call: Call, patient_id: int, form: TrialForm) -> TrialView:
    """Record a screening trial; success is judged by the patient's diagnosis family
    (≥ 50 % pain relief, or ≥ 2-point Ashworth drop for spasticity)."""
    authorize(call.actor, Permission.TRIAL_WRITE, patient_id)
    patient = load(call, Patient, patient_id, "patient")
    performed_at = form.performed_at or call.now
    not_in_future(call, performed_at, "performed_at")
    drug = call.library.find(form.drug)
    if drug is None:
        raise Invalid(
            f"drug: {form.drug!r} is not in the library",
            field="drug",
            accepted=call.library.drug_ids(),
        )
    dose = _trial_dose(form.method, form.dose)
    try:
        outcome = trial_outcome(
            patient.diagnosis,
            form.baseline_pain,
            form.post_pain,
            form.baseline_ashworth,
            form.post_ashworth,
        )
    except ValueError as error:
        field = str(error).split(":", 1)[0].split(" ")[0]
        raise invalid_from(error, field) from None
    row = Trial(
        patient_id=patient_id,
        performed_at=performed_at,
        method=form.method,
        drug=drug.id,
        dose=dose,
        baseline_pain=form.baseline_pain,
        post_pain=form.post_pain,
        baseline_ashworth=form.baseline_ashworth,
        post_ashworth=form.post_ashworth,
        criterion=outcome.criterion,
        improvement=outcome.improvement,
        success=outcome.success,
        note=form.note,
        recorded_by=call.actor.user_id,
    )
    call.session.add(row)
    call.audit("create", row, None)
    return trial_view(row)


def list_trials(call: Call, patient_id: int) -> list[TrialView]:
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    load(call, Patient, patient_id, "patient")
    rows = call.session.scalars(
        select(Trial)
        .where(Trial.patient_id == patient_id)
        .order_by(Trial.performed_at.desc(), Trial.id.desc())
    )
    return [trial_view(row) for row in rows]
