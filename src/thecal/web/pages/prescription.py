"""The prescription editor: edit, check live, review side by side, then save.

`/implants/{id}/prescription` shows the implant's current prescription as an editable
form. As the clinician types, htmx posts the form to `.../prescription/check` and swaps
in the 24-hour chart, the daily doses and the safety verdicts; each warning gets a reason
input. "Review" shows pending and current settings side by side with every verdict;
only "Save prescription" on the review screen saves, through the same service function
the API calls (`clinic.service.prescriptions.prescribe`), which refuses a refused
prescription and a warning without a reason whatever the page shows.

Nothing here judges a prescription: the form is parsed into the service's
`PrescriptionInput` and read once into a `Prescription` (`prescriptions.to_prescription`),
which is what the page hands to the service; every verdict, dose and error comes from the
service and the therapy layer, and the service hands back typed prescriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from thecal.clinic.access import Actor, Permission, can
from thecal.clinic.errors import Conflict, Invalid, NotFound, Refused
from thecal.clinic.service import implants, patients, prescriptions
from thecal.clinic.service.core import Call, Clinic
from thecal.clinic.service.prescriptions import EvaluationView, PrescriptionInput
from thecal.programmer.review import settings_of, side_by_side
from thecal.therapy.delivery import DayProfile, day_profile
from thecal.therapy.display import DoseUnit
from thecal.therapy.prescription import MAX_FLEX_STEPS, Mode, Prescription
from thecal.therapy.pump_models import PumpModel, find_pump_model
from thecal.therapy.safety import Rule
from thecal.therapy.units import format_quantity
from thecal.web.forms import (
    Location,
    dotted_path,
    field_messages,
    service_message,
    validation_message,
)
from thecal.web.schedule_chart import ScheduleChart, schedule_chart
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = [
    "Assessment",
    "RxFields",
    "StepRow",
    "fields_from_form",
    "fields_from_prescription",
    "router",
    "to_input",
]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)

MODE_LABELS: dict[Mode, str] = {
    Mode.SIMPLE_CONTINUOUS: "Simple continuous",
    Mode.FLEX: "Flex schedule (time-of-day steps)",
    Mode.PERIODIC_BOLUS: "Periodic bolus",
    Mode.SINGLE_BOLUS: "Single bolus",
    Mode.MINIMUM_RATE: "Minimum rate (keeps the catheter open)",
    Mode.STOPPED: "Stopped",
}
PATIENT_BOLUS_MODES = (Mode.SIMPLE_CONTINUOUS, Mode.FLEX, Mode.PERIODIC_BOLUS)
UNSOURCED_KINDS = ("site default", "profile parameter")
"""How the evaluator names a limit that is a configurable default, not a published one."""


# --- the form's values ----------------------------------------------------------------


@dataclass(frozen=True)
class StepRow:
    """One time-of-day step as typed."""

    start: str = ""
    rate: str = ""


@dataclass(frozen=True)
class RxFields:
    """Everything the editor form holds, as typed (so it can always be shown again)."""

    drug: str = ""
    concentration: str = ""
    mode: str = ""
    rate: str = ""
    steps: tuple[StepRow, ...] = (StepRow("00:00"),)
    bolus_dose: str = ""
    bolus_duration: str = ""
    periodic_dose: str = ""
    periodic_duration: str = ""
    periodic_interval: str = ""
    periodic_first_start: str = ""
    patient_bolus: bool = False
    pb_dose: str = ""
    pb_duration: str = ""
    pb_lockout: str = ""
    pb_max: str = ""
    reasons: tuple[tuple[str, str], ...] = ()
    """Override reasons by rule name, as typed."""
    note: str = ""
    replaces: str = ""
    """Id of the current prescription the editing started from (stale-edit check)."""

    def reason(self, rule: str) -> str:
        return dict(self.reasons).get(rule, "")

    def override_reasons(self) -> dict[Rule, str]:
        """The reasons typed for known rules (blank ones left out)."""
        known = {rule.value for rule in Rule}
        return {Rule(rule): text for rule, text in self.reasons if rule in known and text}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [value.strip() if isinstance(value, str) else "" for value in form.getlist(name)]


def fields_from_form(form: FormData) -> RxFields:
    """The editor's values from a posted form (repeated ``step_start``/``step_rate`` rows,
    ``reason_<rule>`` inputs)."""
    starts, rates = _texts(form, "step_start"), _texts(form, "step_rate")
    count = max(len(starts), len(rates))
    starts += [""] * (count - len(starts))
    rates += [""] * (count - len(rates))
    reasons = tuple(
        (key.removeprefix("reason_"), _text(form, key)) for key in form if key.startswith("reason_")
    )
    return RxFields(
        drug=_text(form, "drug"),
        concentration=_text(form, "concentration"),
        mode=_text(form, "mode"),
        rate=_text(form, "rate"),
        steps=tuple(StepRow(s, r) for s, r in zip(starts, rates, strict=True)),
        bolus_dose=_text(form, "bolus_dose"),
        bolus_duration=_text(form, "bolus_duration"),
        periodic_dose=_text(form, "periodic_dose"),
        periodic_duration=_text(form, "periodic_duration"),
        periodic_interval=_text(form, "periodic_interval"),
        periodic_first_start=_text(form, "periodic_first_start"),
        patient_bolus=_text(form, "patient_bolus") == "on",
        pb_dose=_text(form, "pb_dose"),
        pb_duration=_text(form, "pb_duration"),
        pb_lockout=_text(form, "pb_lockout"),
        pb_max=_text(form, "pb_max"),
        reasons=reasons,
        note=_text(form, "note"),
        replaces=_text(form, "replaces"),
    )


def _quantity(value: Any) -> str:
    try:
        return format_quantity(value)
    except ValueError:  # no exact decimal: show it and let the parser say so if re-entered
        return str(value)


def fields_from_prescription(rx: Prescription, replaces: int | None) -> RxFields:
    """The editor's starting values: the prescription in force, every mode's fields
    pre-filled from it where it has a matching setting."""
    rate = _quantity(rx.rate) if rx.rate is not None else ""
    steps = tuple(StepRow(str(s.start), _quantity(s.dose_rate)) for s in rx.steps) or (
        StepRow("00:00", rate),
    )
    values = RxFields(
        drug=rx.drug,
        concentration=_quantity(rx.concentration),
        mode=rx.mode.value,
        rate=rate,
        steps=steps,
        replaces=str(replaces) if replaces is not None else "",
    )
    if rx.bolus is not None:
        values = replace(
            values,
            bolus_dose=_quantity(rx.bolus.dose),
            bolus_duration=_quantity(rx.bolus.duration),
        )
    if rx.periodic is not None:
        p = rx.periodic
        values = replace(
            values,
            periodic_dose=_quantity(p.bolus.dose),
            periodic_duration=_quantity(p.bolus.duration),
            periodic_interval=_quantity(p.interval),
            periodic_first_start=str(p.first_start),
        )
    if rx.patient_bolus is not None:
        pb = rx.patient_bolus
        values = replace(
            values,
            patient_bolus=True,
            pb_dose=_quantity(pb.dose),
            pb_duration=_quantity(pb.duration),
            pb_lockout=_quantity(pb.lockout),
            pb_max=str(pb.max_per_24h),
        )
    return values


# --- parsing into the service's input model ---------------------------------------------


def _wording(item: Mapping[str, Any]) -> str:
    """The editor's one list is its steps: say so when there are too many."""
    if item.get("type") == "too_long":
        return f"at most {(item.get('ctx') or {}).get('max_length')} steps; remove some"
    return validation_message(item)


def _mode_data(fields: RxFields) -> dict[str, Any]:
    """The input-model fields the chosen mode uses; other modes' fields are not sent."""
    data: dict[str, Any] = {
        "drug": fields.drug,
        "concentration": fields.concentration,
        "mode": fields.mode,
    }
    if fields.mode == Mode.SIMPLE_CONTINUOUS or (
        fields.mode == Mode.PERIODIC_BOLUS and fields.rate
    ):
        data["rate"] = fields.rate
    if fields.mode == Mode.FLEX:
        data["steps"] = [{"start": s.start, "rate": s.rate} for s in fields.steps]
    if fields.mode == Mode.SINGLE_BOLUS:
        data["bolus"] = {"dose": fields.bolus_dose, "duration": fields.bolus_duration}
    if fields.mode == Mode.PERIODIC_BOLUS:
        data["periodic_bolus"] = {
            "dose": fields.periodic_dose,
            "duration": fields.periodic_duration,
            "interval": fields.periodic_interval,
            "first_start": fields.periodic_first_start or None,
        }
    if fields.patient_bolus:
        data["patient_bolus"] = {
            "dose": fields.pb_dose,
            "duration": fields.pb_duration,
            "lockout": fields.pb_lockout,
            "max_per_24h": fields.pb_max,
        }
    return data


def to_input(fields: RxFields) -> tuple[PrescriptionInput | None, dict[str, str]]:
    """The service's input model for these values, or per-field errors keyed by the
    model's path (``rate``, ``steps[2].start``, ``patient_bolus.max_per_24h``)."""
    try:
        return PrescriptionInput.model_validate(_mode_data(fields)), {}
    except ValidationError as error:
        return None, field_messages(
            error, _model_path, label=lambda _location, key: key, wording=_wording
        )


def _model_path(location: Location) -> str:
    return dotted_path(location) or "prescription"


def errors_of(error: Invalid) -> dict[str, str]:
    """Per-field messages from a service `Invalid` (every problem it lists)."""
    errors: dict[str, str] = {}
    details = error.details if isinstance(error.details, list) else []
    for item in details:
        if isinstance(item, dict) and "message" in item:
            key = str(item.get("field") or error.field or "prescription")
            errors.setdefault(key.removeprefix("prescription."), str(item["message"]))
    if not errors:
        key = (error.field or "prescription").removeprefix("prescription.")
        errors[key] = service_message(error)
    return errors


# --- what the editor shows beside the form ----------------------------------------------


@dataclass(frozen=True)
class Implanted:
    """The implant being prescribed for, its patient, pump and prescription in force."""

    implant: implants.ImplantView
    patient: patients.PatientView
    pump: PumpModel
    current_view: prescriptions.PrescriptionView | None
    current: Prescription | None

    @property
    def current_id(self) -> str:
        return str(self.current_view.id) if self.current_view else ""


def _implanted(call: Call, implant_id: int) -> Implanted:
    implant = implants.get_implant(call, implant_id)
    patient = patients.get_patient(call, implant.patient_id)
    view = prescriptions.current_prescription(call, implant_id)
    current = view.prescription if view is not None else None
    return Implanted(implant, patient, find_pump_model(implant.pump_model), view, current)


@dataclass(frozen=True)
class Assessment:
    """The service's judgement of the values typed so far, and the chart of them."""

    evaluation: EvaluationView | None
    proposed: Prescription | None
    chart: ScheduleChart | None
    chart_note: str
    errors: Mapping[str, str]


def _profile(rx: Prescription | None, pump: PumpModel) -> DayProfile | None:
    if rx is None or rx.mode is Mode.SINGLE_BOLUS:
        return None
    return day_profile(rx, pump.minimum_rate.value)


def _unit(call: Call, *drugs: Prescription | None) -> DoseUnit:
    for rx in drugs:
        entry = call.library.find(rx.drug) if rx is not None else None
        if entry is not None:
            return entry.display_unit
    return DoseUnit.MCG


def assess(call: Call, where: Implanted, fields: RxFields) -> Assessment:
    """Parse the values, ask the service to evaluate them (nothing saved), chart them."""
    data, errors = to_input(fields)
    proposed: Prescription | None = None
    evaluation: EvaluationView | None = None
    if data is not None:
        try:
            proposed = prescriptions.to_prescription(data)
            evaluation = prescriptions.evaluate_prescription(
                call, where.implant.id, proposed, fields.override_reasons()
            )
        except Invalid as error:
            proposed = None
            errors = errors_of(error)
    pending = _profile(proposed, where.pump)
    current = _profile(where.current, where.pump)
    note = ""
    if proposed is not None and proposed.mode is Mode.SINGLE_BOLUS:
        note = "A single bolus does not repeat daily: the chart shows the current schedule only."
    elif proposed is None:
        note = "The pending schedule is drawn once the form has no errors."
    chart = None
    if pending is not None or current is not None:
        chart = schedule_chart(pending, current, _unit(call, proposed, where.current))
    return Assessment(evaluation, proposed, chart, note, errors)


# --- pages ------------------------------------------------------------------------------


def _may_prescribe(actor: Actor, where: Implanted) -> bool:
    return can(actor, Permission.PRESCRIBE, where.patient.id)


def _editor(
    request: Request,
    actor: Actor,
    where: Implanted,
    fields: RxFields,
    assessment: Assessment,
    *,
    status_code: int = 200,
    show_errors: bool = False,
    focus: str = "",
) -> Response:
    return render(
        request,
        "prescription.html",
        actor,
        status_code=status_code,
        where=where,
        fields=fields,
        live=assessment,
        errors=assessment.errors if show_errors else {},
        modes=MODE_LABELS,
        patient_bolus_modes=[mode.value for mode in PATIENT_BOLUS_MODES],
        max_steps=MAX_FLEX_STEPS,
        may_prescribe=_may_prescribe(actor, where),
        unsourced=UNSOURCED_KINDS,
        focus=focus,
    )


def _review(
    request: Request,
    actor: Actor,
    where: Implanted,
    fields: RxFields,
    assessment: Assessment,
    *,
    status_code: int = 200,
    reason_errors: Mapping[str, str] | None = None,
    problem: str = "",
) -> Response:
    assert assessment.proposed is not None and assessment.evaluation is not None
    return render(
        request,
        "prescription_review.html",
        actor,
        status_code=status_code,
        where=where,
        fields=fields,
        live=assessment,
        rows=side_by_side(where.current, assessment.proposed, where.pump),
        reason_errors=reason_errors or {},
        problem=problem,
        may_prescribe=_may_prescribe(actor, where),
        unsourced=UNSOURCED_KINDS,
    )


@router.get("/implants/{implant_id}/prescription")
def editor(request: Request, implant_id: int, clinic: ClinicDep, actor: PageActor) -> Response:
    with clinic.read(actor) as call:
        where = _implanted(call, implant_id)
        if where.current is not None and where.current_view is not None:
            fields = fields_from_prescription(where.current, where.current_view.id)
        else:
            fields = RxFields(mode=Mode.SIMPLE_CONTINUOUS.value)
        assessment = assess(call, where, fields)
    return _editor(request, actor, where, fields, assessment)


@router.post("/implants/{implant_id}/prescription/check")
async def check(request: Request, implant_id: int, clinic: ClinicDep, actor: PageActor) -> Response:
    """The live panel (chart, daily doses, verdicts, reason inputs) for the values typed."""
    fields = fields_from_form(await request.form())
    return await run_in_threadpool(_check, request, implant_id, clinic, actor, fields)


def _check(
    request: Request, implant_id: int, clinic: Clinic, actor: Actor, fields: RxFields
) -> Response:
    with clinic.read(actor) as call:
        where = _implanted(call, implant_id)
        assessment = assess(call, where, fields)
    return render(
        request,
        "prescription_live.html",
        actor,
        where=where,
        fields=fields,
        live=assessment,
        unsourced=UNSOURCED_KINDS,
    )


def _steps_changed(fields: RxFields, action: str) -> tuple[RxFields, str, dict[str, str]]:
    """Add or remove a step row; the focus target for the re-rendered form; an error if
    no more rows fit."""
    if action == "add_step":
        if len(fields.steps) >= MAX_FLEX_STEPS:
            message = f"steps: at most {MAX_FLEX_STEPS} steps"
            return fields, "add-step", {"steps": message}
        index = len(fields.steps)
        return replace(fields, steps=(*fields.steps, StepRow())), f"f-steps-{index}-start", {}
    number = action.removeprefix("remove_step:")
    if number.isdigit() and int(number) < len(fields.steps):
        index = int(number)
        steps = fields.steps[:index] + fields.steps[index + 1 :]
        return replace(fields, steps=steps), "add-step", {}
    return fields, "", {}


@router.post("/implants/{implant_id}/prescription")
async def submit(
    request: Request, implant_id: int, clinic: ClinicDep, actor: PageActor
) -> Response:
    """Every button of the editor and the review: add or remove a step, review, go back
    to editing, save. Without script, each re-renders the page with every value kept."""
    form = await request.form()
    fields = fields_from_form(form)
    action = _text(form, "action") or "review"
    # The database calls are synchronous: keep them off the event loop.
    return await run_in_threadpool(_act, request, implant_id, clinic, actor, fields, action)


def _act(
    request: Request,
    implant_id: int,
    clinic: Clinic,
    actor: Actor,
    fields: RxFields,
    action: str,
) -> Response:
    if action == "save":
        return _save(request, implant_id, clinic, actor, fields)
    with clinic.read(actor) as call:
        where = _implanted(call, implant_id)
        if action.startswith(("add_step", "remove_step:")):
            fields, focus, step_error = _steps_changed(fields, action)
            assessment = assess(call, where, fields)
            if step_error:
                assessment = replace(assessment, errors={**assessment.errors, **step_error})
            status = 422 if step_error else 200
            return _editor(
                request, actor, where, fields, assessment,
                status_code=status, show_errors=bool(step_error), focus=focus,
            )  # fmt: skip
        assessment = assess(call, where, fields)
    if action == "review" and assessment.evaluation is not None:
        return _review(request, actor, where, fields, assessment)
    failed = action == "review"
    return _editor(
        request, actor, where, fields, assessment,
        status_code=422 if failed else 200, show_errors=failed,
    )  # fmt: skip


def _reason_errors(error: Invalid, fields: RxFields) -> dict[str, str]:
    details = error.details if isinstance(error.details, list) else []
    missing = [
        str(item["rule"])
        for item in details
        if isinstance(item, dict) and item.get("outcome") == "warning"
        and not fields.reason(str(item.get("rule")))
    ]  # fmt: skip
    return {
        rule: f"override_reasons.{rule}: a reason is required to override this warning"
        for rule in missing
    }


def _save(
    request: Request, implant_id: int, clinic: Clinic, actor: Actor, fields: RxFields
) -> Response:
    data, _ = to_input(fields)
    refusal: Refused | Invalid | Conflict | None = None
    if data is not None:
        try:
            replaces = int(fields.replaces) if fields.replaces.isdigit() else None
            order = prescriptions.PrescriptionOrder(
                prescriptions.to_prescription(data),
                fields.override_reasons(),
                replaces_prescription_id=replaces,
                note=fields.note[:2000],
            )
            with clinic.write(actor) as call:
                saved = prescriptions.prescribe(call, implant_id, order)
        except (Refused, Invalid, Conflict) as error:
            refusal = error
        else:
            target = f"/implants/{implant_id}/prescriptions/{saved.id}?saved=1"
            return RedirectResponse(target, status_code=303)
    with clinic.read(actor) as call:
        where = _implanted(call, implant_id)
        if isinstance(refusal, Conflict) and refusal.code == "stale_prescription":
            # Review again against the prescription now in force.
            fields = replace(fields, replaces=where.current_id)
        assessment = assess(call, where, fields)
    if assessment.evaluation is None:
        return _editor(request, actor, where, fields, assessment, status_code=422, show_errors=True)
    assert refusal is not None
    reason_errors = (
        _reason_errors(refusal, fields)
        if isinstance(refusal, Invalid) and refusal.code == "override_reason_required"
        else {}
    )
    message = refusal.message
    if refusal.field not in (None, "prescription") and not reason_errors:
        message += f" (field: {refusal.field})"
    return _review(
        request, actor, where, fields, assessment,
        status_code=refusal.status, reason_errors=reason_errors, problem=message,
    )  # fmt: skip


@router.get("/implants/{implant_id}/prescriptions/{prescription_id}")
def saved_prescription(
    request: Request,
    implant_id: int,
    prescription_id: int,
    clinic: ClinicDep,
    actor: PageActor,
    saved: int = 0,
) -> Response:
    """One prescription of the implant's history: settings, verdicts, reasons, hash."""
    with clinic.read(actor) as call:
        where = _implanted(call, implant_id)
        history = prescriptions.list_prescriptions(call, implant_id)
        record = next((item for item in history if item.id == prescription_id), None)
        if record is None:
            raise NotFound(
                f"implant {implant_id} has no prescription {prescription_id}", field="id"
            )
        rx = record.prescription
        profile = _profile(rx, where.pump)
        chart = schedule_chart(profile, None, _unit(call, rx)) if profile else None
    return render(
        request,
        "prescription_saved.html",
        actor,
        where=where,
        record=record,
        settings=settings_of(rx, where.pump),
        chart=chart,
        just_saved=bool(saved),
        unsourced=UNSOURCED_KINDS,
    )
