"""Candidacy and trial: the screening checklist and the screening trial for a patient not yet
implanted, each with its verdict computed by the rules (`thecal.clinic.candidacy`) as the
form is filled in, and recorded through the service (`thecal.clinic.service.candidacy`),
which computes it again when saving."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from thecal.clinic.access import Actor
from thecal.clinic.candidacy import (
    ASHWORTH_GRADES,
    PsychEvaluation,
    ScreeningCriteria,
    TrialMethod,
    TrialOutcome,
    screen,
    trial_outcome,
)
from thecal.clinic.diagnoses import Diagnosis
from thecal.clinic.errors import Invalid, Refused
from thecal.clinic.service import candidacy, patient_page, patients, users
from thecal.clinic.service.core import Clinic
from thecal.web.forms import WHOLE_FORM, FormDep, field_messages, service_message
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)

CRITERIA: tuple[tuple[str, str], ...] = (
    ("conservative_therapies_tried", "Conservative therapies have been tried"),
    ("no_other_surgical_option", "No other surgical option"),
    ("no_untreated_addiction", "No active untreated addiction"),
    ("no_infection", "No infection"),
    ("body_size_adequate", "Body size adequate for the pump"),
    ("implant_depth_adequate", "Implant depth adequate (the pump can be refilled)"),
)
PSYCH_CHOICES = (
    (PsychEvaluation.FAVOURABLE.value, "Favourable"),
    (PsychEvaluation.UNFAVOURABLE.value, "Unfavourable"),
    (PsychEvaluation.NOT_DONE.value, "Not done"),
)
METHODS = (
    (TrialMethod.SINGLE_SHOT.value, "Single shot (bolus)"),
    (TrialMethod.REPEATED_BOLUS.value, "Repeated bolus"),
    (TrialMethod.CATHETER_INFUSION.value, "Catheter infusion"),
)
ACCEPTED = {
    "method": "single shot, repeated bolus or catheter infusion",
    "drug": "a drug from the library",
    "dose": "a mass such as '50 mcg' (bolus) or a rate such as '100 mcg/day' (infusion)",
    "baseline_pain": "a whole number from 0 to 10",
    "post_pain": "a whole number from 0 to 10",
    "baseline_ashworth": f"a modified Ashworth grade: {', '.join(ASHWORTH_GRADES)}",
    "post_ashworth": f"a modified Ashworth grade: {', '.join(ASHWORTH_GRADES)}",
    "psychological_evaluation": "favourable, unfavourable or not done",
    "note": "up to 2000 characters",
}
TRIAL_FIELDS = (
    "method",
    "drug",
    "dose",
    "baseline_pain",
    "post_pain",
    "baseline_ashworth",
    "post_ashworth",
    "note",
)


@dataclass(frozen=True)
class Verdict:
    """A verdict to show: met or not, and the rule's own explanation; `pending` when the
    measurements are not complete yet (then `explanation` says what is missing)."""

    pending: bool
    success: bool
    explanation: str


@dataclass
class Entered:
    """What the user typed in each form, kept to fill the forms again."""

    screening: dict[str, str] = field(default_factory=dict)
    trial: dict[str, str] = field(default_factory=dict)


def _texts(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        values[name] = value.strip() if isinstance(value, str) else ""
    return values


def _screening_values(form: FormData) -> dict[str, str]:
    values = _texts(form, tuple(name for name, _ in CRITERIA))
    values.update(_texts(form, ("psychological_evaluation", "note")))
    return values


def _screening_verdict(values: dict[str, str], diagnosis: Diagnosis) -> Verdict:
    try:
        psych = PsychEvaluation(values.get("psychological_evaluation", ""))
    except ValueError:
        return Verdict(True, False, "Choose the psychological evaluation's result.")
    criteria = ScreeningCriteria(
        **{name: values.get(name) == "yes" for name, _ in CRITERIA},
        psychological_evaluation=psych,
    )
    result = screen(criteria, diagnosis)
    if result.eligible:
        return Verdict(False, True, "Eligible: every criterion is met.")
    return Verdict(False, False, "Not eligible: " + "; ".join(result.unmet) + ".")


def _number(text: str) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _outcome_verdict(outcome: TrialOutcome) -> Verdict:
    return Verdict(False, outcome.success, outcome.explanation)


def _trial_verdict(values: dict[str, str], diagnosis: Diagnosis) -> Verdict:
    try:
        outcome = trial_outcome(
            diagnosis,
            _number(values.get("baseline_pain", "")),
            _number(values.get("post_pain", "")),
            values.get("baseline_ashworth") or None,
            values.get("post_ashworth") or None,
        )
    except ValueError as error:
        return Verdict(True, False, str(error))
    return _outcome_verdict(outcome)


def _explained(trial: candidacy.TrialView, diagnosis: Diagnosis) -> Verdict:
    """A recorded trial's verdict as stored, with the rule's wording of it."""
    try:
        outcome = trial_outcome(
            diagnosis,
            trial.baseline_pain,
            trial.post_pain,
            trial.baseline_ashworth,
            trial.post_ashworth,
        )
    except ValueError:
        return Verdict(False, trial.success, f"{trial.criterion.value}: {trial.improvement}")
    return Verdict(False, trial.success, outcome.explanation)


def _page(
    request: Request,
    clinic: Clinic,
    actor: Actor,
    patient_id: int,
    entered: Entered | None = None,
    screening_errors: dict[str, str] | None = None,
    trial_errors: dict[str, str] | None = None,
    saved: str | None = None,
) -> Response:
    entered = entered or Entered()
    with clinic.read(actor) as call:
        page = patient_page.patient_page(call, patient_id)
        deciders = users.display_names(call, [s.decided_by for s in page.screenings])
    diagnosis = page.patient.diagnosis
    context: dict[str, Any] = {
        "patient": page.patient,
        "screenings": page.screenings,
        "decided_by": deciders,
        "trials": [(t, _explained(t, diagnosis)) for t in page.trials],
        "drugs": page.therapy_options,
        "criteria": CRITERIA,
        "psych_choices": PSYCH_CHOICES,
        "methods": METHODS,
        "ashworth_grades": ASHWORTH_GRADES,
        "spasticity": page.patient.family.value == "spasticity",
        "screening": entered.screening,
        "trial": entered.trial,
        "screening_verdict": _screening_verdict(entered.screening, diagnosis),
        "trial_verdict": _trial_verdict(entered.trial, diagnosis),
        "screening_errors": screening_errors or {},
        "trial_errors": trial_errors or {},
        "saved": saved,
    }
    failed = bool(screening_errors or trial_errors)
    return render(request, "candidacy.html", actor, status_code=422 if failed else 200, **context)


@router.get("/patients/{patient_id}/candidacy")
def candidacy_page(
    request: Request,
    clinic: ClinicDep,
    actor: PageActor,
    patient_id: int,
    saved: str | None = None,
) -> Response:
    return _page(request, clinic, actor, patient_id, saved=saved)


def _diagnosis_of(clinic: Clinic, actor: Actor, patient_id: int) -> Diagnosis:
    with clinic.read(actor) as call:
        return patients.get_patient(call, patient_id).diagnosis


@router.get("/patients/{patient_id}/candidacy/screening-verdict")
def screening_verdict(
    request: Request, clinic: ClinicDep, actor: PageActor, patient_id: int
) -> Response:
    """The screening verdict for the boxes ticked so far (htmx live preview)."""
    diagnosis = _diagnosis_of(clinic, actor, patient_id)
    values = {k: v for k, v in request.query_params.items()}
    verdict = _screening_verdict(values, diagnosis)
    return render(request, "candidacy_verdict.html", actor, verdict=verdict, what="Screening")


@router.get("/patients/{patient_id}/candidacy/trial-verdict")
def trial_verdict(
    request: Request, clinic: ClinicDep, actor: PageActor, patient_id: int
) -> Response:
    """The trial verdict for the scores typed so far (htmx live preview)."""
    diagnosis = _diagnosis_of(clinic, actor, patient_id)
    values = {k: v.strip() for k, v in request.query_params.items()}
    verdict = _trial_verdict(values, diagnosis)
    return render(request, "candidacy_verdict.html", actor, verdict=verdict, what="Trial")


@router.post("/patients/{patient_id}/candidacy/screening")
def record_screening(
    request: Request, clinic: ClinicDep, actor: PageActor, patient_id: int, form: FormDep
) -> Response:
    values = _screening_values(form)
    entered = Entered(screening=values)
    try:
        parsed = candidacy.ScreeningForm.model_validate(
            {
                **{name: values[name] == "yes" for name, _ in CRITERIA},
                "psychological_evaluation": values["psychological_evaluation"] or None,
                "note": values["note"],
            }
        )
    except ValidationError as error:
        errors = field_messages(error, accepted=ACCEPTED)
        return _page(request, clinic, actor, patient_id, entered, screening_errors=errors)
    try:
        clinic.perform(actor, lambda call: candidacy.record_screening(call, patient_id, parsed))
    except (Invalid, Refused) as error:
        errors = {error.field or WHOLE_FORM: service_message(error)}
        return _page(request, clinic, actor, patient_id, entered, screening_errors=errors)
    return RedirectResponse(f"/patients/{patient_id}/candidacy?saved=screening", status_code=303)


@router.post("/patients/{patient_id}/candidacy/trial")
def record_trial(
    request: Request, clinic: ClinicDep, actor: PageActor, patient_id: int, form: FormDep
) -> Response:
    values = _texts(form, TRIAL_FIELDS)
    entered = Entered(trial=values)
    try:
        parsed = candidacy.TrialForm.model_validate(
            {name: (value or None) for name, value in values.items() if name != "note"}
            | {"note": values["note"]}
        )
    except ValidationError as error:
        errors = field_messages(error, accepted=ACCEPTED)
        return _page(request, clinic, actor, patient_id, entered, trial_errors=errors)
    try:
        clinic.perform(actor, lambda call: candidacy.record_trial(call, patient_id, parsed))
    except (Invalid, Refused) as error:
        errors = {error.field or WHOLE_FORM: service_message(error)}
        return _page(request, clinic, actor, patient_id, entered, trial_errors=errors)
    return RedirectResponse(f"/patients/{patient_id}/candidacy?saved=trial", status_code=303)
