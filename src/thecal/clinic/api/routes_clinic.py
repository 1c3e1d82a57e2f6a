"""Routes for the clinic as a whole: health, worklists, dashboard, body map, library, audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import text

from thecal.clinic.api.deps import ActorDep, ClinicDep
from thecal.clinic.api.errors import ERROR_RESPONSES
from thecal.clinic.errors import Unavailable
from thecal.clinic.service import assessments, audit_trail, library, worklists
from thecal.clinic.service.common import Form

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


class Health(BaseModel):
    status: str
    database: str


class RegionsForm(Form):
    regions: list[str] = Field(min_length=1, max_length=60)


@router.get("/health", response_model=Health, tags=["clinic"])
def health(clinic: ClinicDep) -> Health:
    """200 when the service and its database answer; 503 otherwise. No sign-in needed."""
    try:
        with clinic.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        raise Unavailable("the clinic database is unavailable") from error
    return Health(status="ok", database="ok")


@router.get("/worklists/refills-due", response_model=worklists.RefillDuePage, tags=["clinic"])
def refills_due(
    clinic: ClinicDep,
    actor: ActorDep,
    within_days: Annotated[int, Query(ge=0, le=worklists.MAX_WITHIN_DAYS)] = 14,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> worklists.RefillDuePage:
    """Refills due within `within_days` (overdue included), high-risk drugs first."""
    with clinic.read(actor) as call:
        return worklists.refills_due(call, within_days, limit, cursor)


@router.get("/dashboard", response_model=worklists.Dashboard, tags=["clinic"])
def dashboard(clinic: ClinicDep, actor: ActorDep) -> worklists.Dashboard:
    """Refills due and overdue, active alarms, batteries nearing replacement, discrepancies."""
    with clinic.read(actor) as call:
        return worklists.dashboard(call)


@router.get(
    "/body-map/regions", response_model=list[assessments.BodyRegionItem], tags=["assessment"]
)
def body_regions(clinic: ClinicDep, actor: ActorDep) -> list[assessments.BodyRegionItem]:
    """The front and back body-map regions and the spinal segments that supply them."""
    with clinic.read(actor) as call:
        return assessments.body_regions(call)


@router.post(
    "/body-map/mapping", response_model=assessments.PainMapView | None, tags=["assessment"]
)
def map_regions(
    form: RegionsForm, clinic: ClinicDep, actor: ActorDep
) -> assessments.PainMapView | None:
    """Segments and a suggested catheter-tip level for marked regions (nothing is saved)."""
    with clinic.read(actor) as call:
        return assessments.preview_pain_map(call, form.regions)


@router.get("/library/drugs", response_model=list[library.DrugItem], tags=["clinic"])
def drug_library(clinic: ClinicDep, actor: ActorDep) -> list[library.DrugItem]:
    """The drug library this clinic uses, with approval status and limits."""
    with clinic.read(actor) as call:
        return library.drug_library(call)


@router.get("/audit", response_model=list[audit_trail.AuditEntryView], tags=["audit"])
def audit_entries(
    clinic: ClinicDep,
    actor: ActorDep,
    entity: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    entity_id: Annotated[str | None, Query(max_length=40, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[audit_trail.AuditEntryView]:
    """Audit entries, newest first (administrators)."""
    with clinic.read(actor) as call:
        return audit_trail.audit_trail(call, entity, entity_id, limit)


@router.get("/audit/verify", response_model=audit_trail.AuditReport, tags=["audit"])
def verify_audit(clinic: ClinicDep, actor: ActorDep) -> audit_trail.AuditReport:
    """Walk the audit hash chain and report any tampering (administrators)."""
    with clinic.read(actor) as call:
        return audit_trail.verify_audit(call)
