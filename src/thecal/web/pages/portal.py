"""The patient's own view (`/me`): the next refill, the pump's last reading, the
prescription in plain words, and the pain diary they keep themselves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from thecal.clinic.access import Actor, Role
from thecal.clinic.errors import Forbidden, Invalid
from thecal.clinic.service import assessments
from thecal.clinic.service.patient_page import patient_page
from thecal.web.forms import field_messages, labelled
from thecal.web.pages.patients import prescription_words
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)


def _own_record(actor: Actor) -> int:
    if actor.patient_id is None:
        raise Forbidden("this account is not linked to a patient record")
    return actor.patient_id


def _portal(
    request: Request,
    clinic: ClinicDep,
    actor: Actor,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    saved: bool = False,
) -> Response:
    with clinic.read(actor) as call:
        page = patient_page(call, _own_record(actor))
        words = (
            prescription_words(page.prescription.prescription, call.library)
            if page.prescription
            else []
        )
    return render(
        request,
        "portal.html",
        actor,
        status_code=status,
        page=page,
        rx_words=words,
        values=values,
        errors=errors,
        saved=saved,
    )


@router.get("/me")
def my_record(request: Request, clinic: ClinicDep, actor: PageActor, saved: int = 0) -> Response:
    if actor.role is not Role.PATIENT:
        return RedirectResponse("/", status_code=303)
    return _portal(request, clinic, actor, {}, {}, saved=bool(saved))


@router.post("/me/pain")
def add_pain_score(
    request: Request,
    clinic: ClinicDep,
    actor: PageActor,
    score: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    if actor.role is not Role.PATIENT:
        return RedirectResponse("/", status_code=303)
    values = {"score": score, "note": note}
    try:
        form = assessments.PainAssessmentForm.model_validate(
            {"score": score.strip() or None, "note": note}
        )
        if form.score is None:
            raise Invalid("score: choose how much it hurts today", field="score")
    except ValidationError as error:
        problems = field_messages(error, label=labelled({}))
        if "score" in problems:
            problems["score"] = "score: choose a whole number from 0 (no pain) to 10 (worst pain)"
        return _portal(request, clinic, actor, values, problems, status=422)
    except Invalid as error:
        return _portal(request, clinic, actor, values, {error.field or "score": error.message}, 422)
    with clinic.write(actor) as call:
        assessments.record_pain_assessment(call, _own_record(actor), form)
    return RedirectResponse("/me?saved=1", status_code=303)
