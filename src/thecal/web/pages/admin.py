"""Administration: user accounts (add, change role, deactivate, reset a password) and the
audit chain's verification. Only the administrator role may use it (the service checks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from thecal.clinic.access import Role
from thecal.clinic.errors import ServiceError
from thecal.clinic.service import audit_trail, users
from thecal.web.forms import FormProblems, parse_form, problems_of
from thecal.web.security import CSRF_FIELD, require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)


def _admin_page(
    request: Request,
    clinic: ClinicDep,
    actor: PageActor,
    status_code: int = 200,
    problems: FormProblems | None = None,
    entered: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    with clinic.read(actor) as call:
        accounts = users.list_users(call)
        recent = audit_trail.audit_trail(call, limit=15)
    return render(
        request,
        "admin.html",
        actor,
        status_code=status_code,
        accounts=accounts,
        recent=recent,
        roles=list(Role),
        problems=problems or FormProblems(),
        entered=entered or {},
        notice=notice,
        report=None,
    )


@router.get("/admin")
def admin(request: Request, clinic: ClinicDep, actor: PageActor) -> Response:
    return _admin_page(request, clinic, actor)


@router.post("/admin/users")
async def add_user(request: Request, clinic: ClinicDep, actor: PageActor) -> Response:
    submitted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    submitted.pop(CSRF_FIELD, None)
    parsed = parse_form(users.UserForm, submitted)
    entered = {k: v for k, v in submitted.items() if k != "password"}
    if isinstance(parsed, FormProblems):
        return _admin_page(request, clinic, actor, 422, parsed, entered)
    try:
        with clinic.write(actor) as call:
            created = users.create_user(call, parsed)
    except ServiceError as error:
        if error.status == 403:
            raise
        return _admin_page(request, clinic, actor, 422, problems_of(error), entered)
    return _admin_page(
        request, clinic, actor, notice=f"Added {created.username} ({created.role.value})."
    )


@router.post("/admin/users/{user_id}")
def change_user(
    request: Request,
    clinic: ClinicDep,
    actor: PageActor,
    user_id: int,
    version: Annotated[int, Form(ge=1)],
    action: Annotated[str, Form(pattern="^(deactivate|activate)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    update = users.UserUpdate(
        version=version, active=action == "activate", reason=reason.strip() or None
    )
    with clinic.write(actor) as call:
        users.update_user(call, user_id, update)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/audit/verify")
def verify(request: Request, clinic: ClinicDep, actor: PageActor) -> Response:
    with clinic.read(actor) as call:
        report = audit_trail.verify_audit(call)
        accounts = users.list_users(call)
        recent = audit_trail.audit_trail(call, limit=15)
    return render(
        request,
        "admin.html",
        actor,
        accounts=accounts,
        recent=recent,
        roles=list(Role),
        problems=FormProblems(),
        entered={},
        notice=None,
        report=report,
    )
