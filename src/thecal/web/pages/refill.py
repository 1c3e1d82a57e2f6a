"""The refill wizard: what should be left in the pump now, what came back out (with the
reconciliation's warning and likely causes when it differs), the new fill (with the new
dose and the bridge bolus when the drug or concentration changes), a review, then the
save with an idempotency key so a double submit records one visit.

The review is a dry run of `refills.record_refill` itself (`wizard_support.dry_run`):
discrepancy, overfill and concentration-mismatch decisions are the service's. The bridge
bolus is the programmer's calculator (`thecal.programmer.calculations.bridge_bolus`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from thecal.clinic.access import Actor
from thecal.clinic.errors import ServiceError
from thecal.clinic.service import Clinic, appointments, implants, patients, prescriptions, refills
from thecal.clinic.service.core import Call
from thecal.clinic.service.idempotency import KEY_PATTERN
from thecal.programmer.calculations import BridgePlan, CatheterData, bridge_bolus
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Mode
from thecal.therapy.pump_models import find_catheter_model, find_pump_model
from thecal.therapy.refill import Solution, check_solution, same_drug
from thecal.therapy.units import QuantityParseError, parse_concentration
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
    "aspirated_volume", "drug", "concentration", "lot", "volume_added", "new_rate", "note",
    "idempotency_key",
)  # fmt: skip

_SERVICE_FIELDS = {name: name for name in FIELDS} | {
    "prescription": "new_rate",
    "prescription.rate": "new_rate",
    "prescription.prescription.rate": "new_rate",
    "rate": "new_rate",
}

_PRESCRIPTION_BLOCKS = {"override_reason_required", "refused_by_safety_rules"}


@dataclass
class _Context:
    """What the wizard shows around the form: the implant, patient, expectation, the
    prescription in force."""

    implant: implants.ImplantView
    patient: patients.PatientView
    expectation: refills.ExpectationView | None
    current: prescriptions.PrescriptionView | None
    last: refills.RefillView | None
    library: DrugLibrary


@dataclass
class _Review:
    fill: refills.RefillView | None = None
    evaluation: prescriptions.EvaluationView | None = None
    bridge: BridgePlan | None = None
    bridge_note: str = ""
    changed: bool = False
    blocked: str = ""
    errors: FieldErrors = field(default_factory=dict)


def _context(call: Call, implant_id: int) -> _Context:
    implant = implants.get_implant(call, implant_id)
    history = refills.list_refills(call, implant_id, limit=1)
    return _Context(
        implant=implant,
        patient=patients.get_patient(call, implant.patient_id),
        expectation=refills.refill_expectation(call, implant_id),
        current=prescriptions.current_prescription(call, implant_id),
        last=history[0] if history else None,
        library=call.library,
    )


def _changes_solution(values: dict[str, str], context: _Context) -> bool:
    """True when the entered drug or concentration differs from the prescription in force
    (the refill rules' `check_solution`: a brand name of the drug is the drug; an
    unreadable concentration counts as no change: the service then names the problem)."""
    current = context.current
    if current is None:
        return True
    try:
        entered = parse_concentration(values["concentration"], "concentration")
        in_force = parse_concentration(current.concentration, "concentration")
    except QuantityParseError:
        return not same_drug(context.library, values["drug"], current.drug)
    prescribed = Solution(current.drug, in_force)
    return not check_solution(
        context.library, prescribed, Solution(values["drug"], entered)
    ).matches


def _bridge(
    implant: implants.ImplantView,
    current: prescriptions.PrescriptionView | None,
    values: dict[str, str],
    library: DrugLibrary,
) -> tuple[BridgePlan | None, str]:
    if current is None:
        return None, "No prescription in force: nothing to bridge; prime with the new solution."
    try:
        catheter = CatheterData.from_trimmed(
            find_catheter_model(implant.catheter_model),
            Fraction(implant.catheter_trimmed_length_cm),
        )
        new = (
            parse_concentration(values["concentration"], "concentration")
            if same_drug(library, values["drug"], current.drug)
            else None
        )
        plan = bridge_bolus(
            find_pump_model(implant.pump_model), catheter, current.prescription, new
        )
    except (ValueError, ZeroDivisionError) as error:
        return None, f"No bridge bolus: {error}"
    return plan, ""


def _reasons_of(values: dict[str, str]) -> dict[str, str]:
    return {
        key.removeprefix("reason_"): value.strip()
        for key, value in values.items()
        if key.startswith("reason_") and value.strip()
    }


def _form(values: dict[str, str], changed: bool) -> refills.RefillForm:
    prescription = None
    if changed:
        rx = prescriptions.PrescriptionInput(
            drug=values["drug"],
            concentration=values["concentration"].strip(),
            mode=Mode.SIMPLE_CONTINUOUS,
            rate=values["new_rate"].strip() or None,
        )
        prescription = prescriptions.PrescribeForm.model_validate(
            {"prescription": rx.model_dump(), "override_reasons": _reasons_of(values)}
        )
    return refills.RefillForm(
        aspirated_volume=values["aspirated_volume"].strip() or None,
        drug=values["drug"],
        concentration=values["concentration"].strip(),
        lot=values["lot"].strip(),
        volume_added=values["volume_added"].strip(),
        prescription=prescription,
        note=values["note"].strip(),
    )


def _run(
    clinic: Clinic, actor: Actor, implant_id: int, values: dict[str, str], save: bool
) -> _Review:
    with clinic.read(actor) as call:
        context = _context(call, implant_id)
    changed = _changes_solution(values, context)
    try:
        form = _form(values, changed)
    except ValidationError as error:
        return _Review(changed=changed, errors=errors_of_validation(error, _SERVICE_FIELDS))
    review = _Review(changed=changed)
    if changed:
        review.bridge, review.bridge_note = _bridge(
            context.implant, context.current, values, context.library
        )
    key = values["idempotency_key"] if save else None

    def work(call: Call) -> _Review:
        if form.prescription is not None:
            order = form.prescription.order()
            review.evaluation = prescriptions.evaluate_prescription(
                call, implant_id, order.prescription, order.override_reasons
            )
        try:
            review.fill = refills.record_refill(call, implant_id, form, key)
        except ServiceError as error:
            if error.code not in _PRESCRIPTION_BLOCKS:
                raise
            review.blocked = error.message
        return review

    try:
        if save:
            with clinic.write(actor) as call:
                work(call)
                if review.blocked:
                    raise _NotConfirmed()
            return review
        return dry_run(clinic, actor, work)
    except _NotConfirmed:
        return review
    except ServiceError as error:
        review.errors = errors_of_service(error, _SERVICE_FIELDS)
        return review


class _NotConfirmed(Exception):
    """Raised in the save's transaction so an unconfirmed prescription saves nothing."""


def _values(raw: dict[str, Any]) -> dict[str, str]:
    values = {name: str(raw.get(name, "")) for name in FIELDS}
    values |= {k: str(v) for k, v in raw.items() if k.startswith("reason_")}
    return values


def _defaults(context: _Context) -> dict[str, str]:
    values = {name: "" for name in FIELDS}
    values["idempotency_key"] = f"refill-{uuid.uuid4().hex}"
    if context.current is not None:
        values |= {
            "drug": context.current.drug,
            "concentration": context.current.concentration,
            # An inexact daily dose ("≈ …", from a flex program) is not offered: the new
            # dose must be typed as the prescriber means it.
            "new_rate": "" if "≈" in context.current.daily_dose else context.current.daily_dose,
        }
    return values


def _page(
    request: Request,
    clinic: Clinic,
    actor: Actor,
    implant_id: int,
    values: dict[str, str] | None,
    step: str,
    review: _Review | None = None,
    status_code: int = 200,
) -> Response:
    with clinic.read(actor) as call:
        context = _context(call, implant_id)
        drugs = call.library.drugs
    values = values if values is not None else _defaults(context)
    if not re.fullmatch(KEY_PATTERN, values["idempotency_key"]):
        values["idempotency_key"] = f"refill-{uuid.uuid4().hex}"
    changed = _changes_solution(values, context)
    plan, note = (
        _bridge(context.implant, context.current, values, context.library)
        if changed
        else (None, "")
    )
    return render(
        request,
        "refill.html",
        actor,
        status_code=status_code,
        ctx=context,
        drugs=drugs,
        values=values,
        step=step,
        review=review or _Review(changed=changed),
        errors=review.errors if review else {},
        fields=FIELDS,
        changed=changed,
        bridge=plan,
        bridge_note=note,
    )


def _bridge_panel(
    request: Request, clinic: Clinic, actor: Actor, implant_id: int, values: dict[str, str]
) -> Response:
    with clinic.read(actor) as call:
        context = _context(call, implant_id)
    changed = _changes_solution(values, context)
    plan, note = (
        _bridge(context.implant, context.current, values, context.library)
        if changed
        else (None, "")
    )
    return render(
        request, "refill_bridge.html", actor, changed=changed, bridge=plan, bridge_note=note
    )


@router.post("/implants/{implant_id}/refill/bridge")
async def bridge_preview(
    request: Request, implant_id: int, clinic: ClinicDep, actor: PageActor
) -> Response:
    """The bridge bolus panel, recomputed as the new drug or concentration is entered (htmx)."""
    values = _values(dict(await request.form()))
    return await run_in_threadpool(_bridge_panel, request, clinic, actor, implant_id, values)


@router.get("/implants/{implant_id}/refill")
def refill_wizard(
    request: Request, implant_id: int, clinic: ClinicDep, actor: PageActor
) -> Response:
    return _page(request, clinic, actor, implant_id, None, "edit")


@router.post("/implants/{implant_id}/refill")
async def refill_step(
    request: Request, implant_id: int, clinic: ClinicDep, actor: PageActor
) -> Response:
    raw = dict(await request.form())
    values = _values(raw)
    action = str(raw.get("action", "review"))
    if action == "edit":
        return await run_in_threadpool(_page, request, clinic, actor, implant_id, values, "edit")
    save = action == "save"
    review = await run_in_threadpool(_run, clinic, actor, implant_id, values, save)
    if review.errors:
        return await run_in_threadpool(
            _page, request, clinic, actor, implant_id, values, "edit", review, 422
        )
    if save and not review.blocked and review.fill is not None:
        return await run_in_threadpool(_done, request, clinic, actor, implant_id, review)
    status = 422 if save and review.blocked else 200
    return await run_in_threadpool(
        _page, request, clinic, actor, implant_id, values, "review", review, status
    )


def _done(
    request: Request, clinic: Clinic, actor: Actor, implant_id: int, review: _Review
) -> Response:
    with clinic.read(actor) as call:
        context = _context(call, implant_id)
        booked = appointments.list_appointments(call, context.patient.id, upcoming_only=True)
    return render(request, "refill_done.html", actor, ctx=context, review=review, booked=booked)
