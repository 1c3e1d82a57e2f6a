"""The implant wizard: pump, catheter (with the priming bolus computed as the values are
typed), first fill and starting prescription, then a review of everything before saving.

The steps are fieldsets of one form; the review step carries every entry in hidden fields,
so "Edit" goes back with nothing lost. The review is a dry run of the same service calls
the save makes (`wizard_support.dry_run`): the implant, the prescription judged by the
safety evaluator, and the first fill (refused beyond the reservoir) are the service's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from fractions import Fraction
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from thecal.clinic.access import Actor
from thecal.clinic.errors import ServiceError
from thecal.clinic.service import Clinic, implants, patients, prescriptions, refills
from thecal.clinic.service.core import Call
from thecal.programmer.calculations import CatheterData, PrimingPlan, priming_bolus
from thecal.therapy.prescription import Mode
from thecal.therapy.pump_models import (
    catheter_models,
    find_catheter_model,
    find_pump_model,
    pump_models,
)
from thecal.web.pages.wizard_support import (
    FieldErrors,
    dry_run,
    errors_of_service,
    errors_of_validation,
)
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)

FIELDS = (
    "pump_model", "serial", "implanted_at", "catheter_model", "catheter_trimmed_length_cm",
    "catheter_tip_level", "drug", "concentration", "lot", "volume_added", "rate",
)  # fmt: skip

# Service field names (including nested ones) → the wizard's form field names.
_SERVICE_FIELDS = {name: name for name in FIELDS} | {
    "prescription": "rate",
    "prescription.rate": "rate",
    "prescription.drug": "drug",
    "prescription.concentration": "concentration",
    "rate": "rate",
    "performed_at": "implanted_at",
}

# Outcomes of the review that are not a wrong entry: the prescriber must act on them.
_PRESCRIPTION_BLOCKS = {"override_reason_required", "refused_by_safety_rules"}


@dataclass
class _Review:
    implant: implants.ImplantView | None = None
    evaluation: prescriptions.EvaluationView | None = None
    fill: refills.RefillView | None = None
    blocked: str = ""
    errors: FieldErrors = field(default_factory=dict)


def _reasons_of(form: dict[str, str]) -> dict[str, str]:
    return {
        key.removeprefix("reason_"): value.strip()
        for key, value in form.items()
        if key.startswith("reason_") and value.strip()
    }


def _implanted_at(text: str, call_tz: tzinfo) -> datetime | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            "implanted_at: not a date and time; accepted: e.g. 2026-11-24T09:30"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=call_tz)


def _priming(values: dict[str, str]) -> tuple[PrimingPlan | None, str]:
    """The priming bolus for the pump and catheter entered so far, or why there is none."""
    try:
        pump = find_pump_model(values.get("pump_model", ""))
        catheter = find_catheter_model(values.get("catheter_model", ""))
    except ValueError:
        return None, "Choose the pump and the catheter to see the priming bolus."
    trimmed = values.get("catheter_trimmed_length_cm", "").strip()
    if not trimmed:
        return None, "Enter the trimmed length to see the priming bolus."
    try:
        data = CatheterData.from_trimmed(catheter, Fraction(trimmed))
        return priming_bolus(pump, data), ""
    except (ValueError, ZeroDivisionError) as error:
        return None, f"No priming bolus: {error}"


def _forms(values: dict[str, str], tz: Any) -> tuple[implants.ImplantForm, refills.RefillForm]:
    at = _implanted_at(values["implanted_at"], tz)
    implant = implants.ImplantForm(
        pump_model=values["pump_model"],
        serial=values["serial"].strip(),
        implanted_at=at,
        catheter_model=values["catheter_model"],
        catheter_trimmed_length_cm=values["catheter_trimmed_length_cm"].strip(),
        catheter_tip_level=values["catheter_tip_level"].strip().upper(),
    )
    rx = prescriptions.PrescriptionInput(
        drug=values["drug"],
        concentration=values["concentration"].strip(),
        mode=Mode.SIMPLE_CONTINUOUS,
        rate=values["rate"].strip() or None,
    )
    fill = refills.RefillForm(
        performed_at=at,
        drug=values["drug"],
        concentration=values["concentration"].strip(),
        lot=values["lot"].strip(),
        volume_added=values["volume_added"].strip(),
        prescription=prescriptions.PrescribeForm.model_validate(
            {"prescription": rx.model_dump(), "override_reasons": _reasons_of(values)}
        ),
    )
    return implant, fill


def _work(
    patient_id: int, implant_form: implants.ImplantForm, fill_form: refills.RefillForm
) -> Callable[[Call], _Review]:
    def work(call: Call) -> _Review:
        review = _Review()
        review.implant = implants.implant_pump(call, patient_id, implant_form)
        assert fill_form.prescription is not None
        order = fill_form.prescription.order()
        review.evaluation = prescriptions.evaluate_prescription(
            call, review.implant.id, order.prescription, order.override_reasons
        )
        try:
            review.fill = refills.record_refill(call, review.implant.id, fill_form)
        except ServiceError as error:
            if error.code not in _PRESCRIPTION_BLOCKS:
                raise
            review.blocked = error.message
        return review

    return work


def _run(
    clinic: Clinic, actor: Actor, patient_id: int, values: dict[str, str], save: bool
) -> _Review:
    try:
        implant_form, fill_form = _forms(values, clinic.tz)
    except ValidationError as error:
        return _Review(errors=errors_of_validation(error, _SERVICE_FIELDS))
    except ValueError as error:
        return _Review(errors={"implanted_at": str(error)})
    work = _work(patient_id, implant_form, fill_form)
    try:
        if save:
            with clinic.write(actor) as call:
                review: _Review = work(call)
                if review.blocked:
                    # Not confirmed: nothing is saved (the block rolls back).
                    raise _NotConfirmed(review)
            return review
        result: _Review = dry_run(clinic, actor, work)
        return result
    except _NotConfirmed as stopped:
        return stopped.review
    except ServiceError as error:
        return _Review(errors=errors_of_service(error, _SERVICE_FIELDS))


class _NotConfirmed(Exception):
    def __init__(self, review: _Review) -> None:
        super().__init__("prescription not confirmed")
        self.review = review


def _defaults(clinic: Clinic) -> dict[str, str]:
    now = clinic.clock.now().astimezone(clinic.tz)
    return {name: "" for name in FIELDS} | {
        "implanted_at": now.strftime("%Y-%m-%dT%H:%M"),
        "catheter_tip_level": "T10",
    }


def _values(raw: dict[str, Any]) -> dict[str, str]:
    values = {name: str(raw.get(name, "")) for name in FIELDS}
    values |= {k: str(v) for k, v in raw.items() if k.startswith("reason_")}
    return values


def _page(
    request: Request,
    clinic: Clinic,
    actor: Actor,
    patient_id: int,
    values: dict[str, str],
    step: str,
    review: _Review | None = None,
    status_code: int = 200,
) -> Response:
    with clinic.read(actor) as call:
        patient = patients.get_patient(call, patient_id)
        current = implants.active_implant(call, patient_id)
        library = call.library
    plan, priming_note = _priming(values)
    return render(
        request,
        "implant.html",
        actor,
        status_code=status_code,
        patient=patient,
        current_implant_id=current.id if current else None,
        pumps=pump_models(),
        catheters=catheter_models(),
        drugs=library.drugs,
        values=values,
        step=step,
        review=review or _Review(),
        errors=(review.errors if review else {}),
        plan=plan,
        priming_note=priming_note,
        fields=FIELDS,
    )


@router.get("/patients/{patient_id}/implant")
def implant_wizard(
    request: Request, patient_id: int, clinic: ClinicDep, actor: PageActor
) -> Response:
    return _page(request, clinic, actor, patient_id, _defaults(clinic), "edit")


@router.post("/patients/{patient_id}/implant/priming")
async def priming_preview(
    request: Request, patient_id: int, clinic: ClinicDep, actor: PageActor
) -> Response:
    """The priming bolus panel, recomputed as the pump and catheter entries change (htmx)."""
    values = _values(dict(await request.form()))
    plan, note = _priming(values)
    return render(request, "implant_priming.html", actor, plan=plan, priming_note=note)


@router.post("/patients/{patient_id}/implant")
async def implant_step(
    request: Request, patient_id: int, clinic: ClinicDep, actor: PageActor
) -> Response:
    raw = dict(await request.form())
    values = _values(raw)
    action = str(raw.get("action", "review"))
    if action == "edit":
        return await run_in_threadpool(_page, request, clinic, actor, patient_id, values, "edit")
    save = action == "save"
    review = await run_in_threadpool(_run, clinic, actor, patient_id, values, save)
    if review.errors:
        return await run_in_threadpool(
            _page, request, clinic, actor, patient_id, values, "edit", review, 422
        )
    if save and not review.blocked:
        return render(request, "implant_done.html", actor, review=review, patient_id=patient_id)
    status = 422 if save and review.blocked else 200
    return await run_in_threadpool(
        _page, request, clinic, actor, patient_id, values, "review", review, status
    )
