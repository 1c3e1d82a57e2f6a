"""Where does it hurt? A front and back body map whose marked regions show the spinal
segments involved, a suggested catheter-tip level with its evidence, and the drugs the pump
offers for the condition; on a patient's record the marks, a 0-10 score (or an Ashworth
grade) and a note are saved as a pain assessment.

Every region is a real checkbox (keyboard and no-JS work); ``static/pain-map.js`` only lets
a click on the drawing tick the same box. The results panel comes from the service
(`assessments.preview_pain_map`) and the diagnosis rules (`diagnoses.therapies_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from thecal.clinic.access import Actor
from thecal.clinic.anatomy import CitedSource, cited_sources
from thecal.clinic.candidacy import ASHWORTH_GRADES
from thecal.clinic.diagnoses import Diagnosis, label_of, therapies_for
from thecal.clinic.errors import Invalid, Refused
from thecal.clinic.service import assessments, patient_page
from thecal.clinic.service.core import Call, Clinic
from thecal.web.forms import WHOLE_FORM, FormDep, field_messages, service_message
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)


ACCEPTED = {
    "score": "a whole number from 0 (no pain) to 10",
    "ashworth": f"a modified Ashworth grade: {', '.join(ASHWORTH_GRADES)}",
    "note": "up to 2000 characters",
    "regions": "regions of the body map",
}


@dataclass(frozen=True)
class Panel:
    """What the results panel shows: the mapping (None when nothing is marked), its
    citations, and the therapy options for the condition (None when no condition is known)."""

    mapping: assessments.PainMapView | None
    sources: tuple[CitedSource, ...]
    condition: str | None
    therapy_options: list[patient_page.TherapyOptionView] | None


@dataclass
class PainValues:
    """What the user entered, kept to fill the form again."""

    regions: list[str] = field(default_factory=list)
    score: str = ""
    ashworth: str = ""
    note: str = ""


def _diagnosis(text: str | None) -> Diagnosis | None:
    try:
        return Diagnosis(text) if text else None
    except ValueError:
        return None


def _panel(call: Call, regions: list[str], diagnosis: Diagnosis | None) -> Panel:
    mapping = assessments.preview_pain_map(call, regions)
    options = None
    if diagnosis is not None:
        options = [
            patient_page.TherapyOptionView(
                drug_id=o.drug_id,
                name=o.name,
                approved_for_pump=o.approved_for_pump,
                high_risk_withdrawal=o.high_risk_withdrawal,
            )
            for o in therapies_for(diagnosis, call.library)
        ]
    return Panel(
        mapping,
        cited_sources(tuple(mapping.source_ids)) if mapping else (),
        label_of(diagnosis) if diagnosis else None,
        options,
    )


def _map_context(call: Call, values: PainValues) -> dict[str, Any]:
    regions = assessments.body_regions(call)
    return {
        "regions_front": [r for r in regions if r.view == "front"],
        "regions_back": [r for r in regions if r.view == "back"],
        "labels": {r.id: r.label for r in regions},
        "selected": set(values.regions),
        "values": values,
        "ashworth_grades": ASHWORTH_GRADES,
        "diagnoses": [(d.value, label_of(d)) for d in Diagnosis],
    }


@router.get("/pain-map")
def pain_map_explorer(
    request: Request,
    clinic: ClinicDep,
    actor: PageActor,
    diagnosis: str = "",
) -> Response:
    """The explorer: mark regions, pick a condition, see segments (``?regions=`` repeats)."""
    regions = request.query_params.getlist("regions")
    chosen = _diagnosis(diagnosis)
    with clinic.read(actor) as call:
        panel = _panel(call, regions, chosen)
        context = _map_context(call, PainValues(regions=regions))
    return render(
        request,
        "pain_map.html",
        actor,
        panel=panel,
        patient=None,
        diagnosis=chosen.value if chosen else "",
        errors={},
        saved=False,
        history=[],
        **context,
    )


@router.get("/pain-map/panel")
def pain_map_panel(
    request: Request, clinic: ClinicDep, actor: PageActor, diagnosis: str = ""
) -> Response:
    """The results panel alone, for htmx to swap in as regions change."""
    with clinic.read(actor) as call:
        panel = _panel(call, request.query_params.getlist("regions"), _diagnosis(diagnosis))
    return render(request, "pain_map_results.html", actor, panel=panel)


def _patient_page(
    request: Request,
    clinic: Clinic,
    actor: Actor,
    patient_id: int,
    values: PainValues,
    errors: dict[str, str] | None = None,
    saved: bool = False,
) -> Response:
    with clinic.read(actor) as call:
        page = patient_page.patient_page(call, patient_id)
        try:
            panel = _panel(call, values.regions, page.patient.diagnosis)
        except Invalid as error:
            errors = {**(errors or {}), "regions": error.message}
            panel = _panel(call, [], page.patient.diagnosis)
        context = _map_context(call, values)
    return render(
        request,
        "pain_map.html",
        actor,
        status_code=422 if errors else 200,
        panel=panel,
        patient=page.patient,
        diagnosis=page.patient.diagnosis.value,
        errors=errors or {},
        saved=saved,
        history=page.pain_assessments,
        **context,
    )


@router.get("/patients/{patient_id}/pain")
def patient_pain_page(
    request: Request,
    clinic: ClinicDep,
    actor: PageActor,
    patient_id: int,
    saved: int | None = None,
) -> Response:
    return _patient_page(request, clinic, actor, patient_id, PainValues(), saved=saved is not None)


def _values_from(form: FormData) -> PainValues:
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    regions = [r for r in form.getlist("regions") if isinstance(r, str)]
    return PainValues(regions, text("score"), text("ashworth"), text("note"))


@router.post("/patients/{patient_id}/pain")
def record_pain(
    request: Request,
    clinic: ClinicDep,
    actor: PageActor,
    patient_id: int,
    form: FormDep,
) -> Response:
    """``action=segments`` shows the panel (no JS); otherwise the assessment is saved."""
    values = _values_from(form)
    if form.get("action") == "segments":
        return _patient_page(request, clinic, actor, patient_id, values)
    try:
        parsed = assessments.PainAssessmentForm.model_validate(
            {
                "score": values.score or None,
                "ashworth": values.ashworth or None,
                "regions": values.regions,
                "note": values.note,
            }
        )
    except ValidationError as error:
        errors = field_messages(error, accepted=ACCEPTED)
        return _patient_page(request, clinic, actor, patient_id, values, errors)
    try:
        saved = clinic.perform(
            actor, lambda call: assessments.record_pain_assessment(call, patient_id, parsed)
        )
    except (Invalid, Refused) as error:
        errors = {error.field or WHOLE_FORM: service_message(error)}
        return _patient_page(request, clinic, actor, patient_id, values, errors)
    return RedirectResponse(f"/patients/{patient_id}/pain?saved={saved.id}", status_code=303)
