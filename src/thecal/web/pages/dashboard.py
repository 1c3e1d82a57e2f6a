"""The staff dashboard: refills due and overdue (high-risk first), active alarms,
batteries nearing replacement, recent refill discrepancies."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from thecal.clinic.access import Role
from thecal.clinic.service import worklists
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)


@router.get("/")
def dashboard(request: Request, clinic: ClinicDep, actor: PageActor) -> Response:
    if actor.role is Role.PATIENT:
        return RedirectResponse("/me", status_code=303)
    with clinic.read(actor) as call:
        board = worklists.dashboard(call)
    return render(request, "dashboard.html", actor, board=board)
