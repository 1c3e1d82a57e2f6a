"""Pain assessments ("where does it hurt?"): a 0-10 score, body-map regions, their spinal
segments and a suggested catheter-tip level; for spasticity, an Ashworth grade."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field
from sqlalchemy import select

from thecal.clinic.access import Permission, authorize
from thecal.clinic.anatomy import PainMap, body_map, map_pain
from thecal.clinic.candidacy import ASHWORTH_GRADES
from thecal.clinic.errors import Invalid
from thecal.clinic.service.common import Form, View, load, not_in_future
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import PainAssessment, Patient

__all__ = [
    "BodyRegionItem",
    "PainAssessmentForm",
    "PainAssessmentView",
    "PainMapView",
    "assessment_view",
    "body_regions",
    "list_pain_assessments",
    "preview_pain_map",
    "record_pain_assessment",
]

AshworthGrade = Literal["0", "1", "1+", "2", "3", "4"]
assert set(ASHWORTH_GRADES) == {"0", "1", "1+", "2", "3", "4"}


class PainMapView(View):
    region_ids: list[str]
    segments: list[str]
    suggested_tip_level: str
    tip_range: list[str]
    rationale: list[str]
    evidence: list[str]
    source_ids: list[str]
    disclaimer: str


class BodyRegionItem(View):
    id: str
    label: str
    view: str
    side: str | None
    segments: list[str]


class PainAssessmentForm(Form):
    assessed_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    score: int | None = Field(default=None, ge=0, le=10, description="0 (no pain) to 10")
    ashworth: AshworthGrade | None = Field(default=None, description="Modified Ashworth grade")
    regions: list[str] = Field(default_factory=list, max_length=60)
    note: str = Field(default="", max_length=2000)


class PainAssessmentView(View):
    id: int
    patient_id: int
    assessed_at: datetime
    score: int | None
    ashworth: str | None
    regions: list[str]
    mapping: PainMapView | None
    note: str


def _map_view(mapping: PainMap | None) -> PainMapView | None:
    if mapping is None:
        return None
    return PainMapView.model_validate(asdict(mapping))


def _mapping(regions: list[str]) -> PainMap | None:
    try:
        return map_pain(tuple(dict.fromkeys(regions)))
    except ValueError as error:
        accepted = ", ".join(getattr(error, "accepted", ())) or None
        raise Invalid(str(error), field="regions", accepted=accepted) from None


def assessment_view(row: PainAssessment) -> PainAssessmentView:
    mapping = PainMapView(**row.mapping) if row.mapping else None
    return PainAssessmentView(
        id=row.id,
        patient_id=row.patient_id,
        assessed_at=row.assessed_at,
        score=row.score,
        ashworth=row.ashworth,
        regions=list(row.regions),
        mapping=mapping,
        note=row.note,
    )


def preview_pain_map(call: Call, regions: list[str]) -> PainMapView | None:
    """The segments and tip suggestion for marked regions, without saving anything."""
    authorize(call.actor, Permission.PATIENT_READ, call.actor.patient_id)
    return _map_view(_mapping(regions))


def body_regions(call: Call) -> list[BodyRegionItem]:
    """The body map's regions (front and back) with their segments."""
    authorize(call.actor, Permission.PATIENT_READ, call.actor.patient_id)
    return [
        BodyRegionItem(id=r.id, label=r.label, view=r.view, side=r.side, segments=list(r.segments))
        for r in body_map()
    ]


def record_pain_assessment(
    call: Call, patient_id: int, form: PainAssessmentForm
) -> PainAssessmentView:
    """Record a pain-diary entry or clinic assessment; a patient may record their own."""
    authorize(call.actor, Permission.PAIN_ASSESSMENT_WRITE, patient_id)
    load(call, Patient, patient_id, "patient")
    if form.score is None and form.ashworth is None:
        raise Invalid(
            "score or ashworth: give at least one",
            field="score",
            accepted="a pain score 0-10 and/or an Ashworth grade 0, 1, 1+, 2, 3, 4",
        )
    assessed_at = form.assessed_at or call.now
    not_in_future(call, assessed_at, "assessed_at")
    regions = list(dict.fromkeys(form.regions))
    mapping = _map_view(_mapping(regions))
    row = PainAssessment(
        patient_id=patient_id,
        assessed_at=assessed_at,
        score=form.score,
        ashworth=form.ashworth,
        regions=regions,
        mapping=mapping.model_dump() if mapping else None,
        note=form.note,
        recorded_by=call.actor.user_id,
    )
    call.session.add(row)
    call.audit("create", row, None)
    return assessment_view(row)


def list_pain_assessments(
    call: Call, patient_id: int, limit: int = 100
) -> list[PainAssessmentView]:
    """The patient's assessments, newest first."""
    authorize(call.actor, Permission.PATIENT_READ, patient_id)
    load(call, Patient, patient_id, "patient")
    rows = call.session.scalars(
        select(PainAssessment)
        .where(PainAssessment.patient_id == patient_id)
        .order_by(PainAssessment.assessed_at.desc(), PainAssessment.id.desc())
        .limit(limit)
    )
    return [assessment_view(row) for row in rows]
