"""Sign-in and sign-out: the session cookie holds the same kind of session the API's
bearer tokens are (argon2-checked password, expiring, revocable)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from thecal.clinic.access import Actor
from thecal.clinic.auth import SESSION_COOKIE
from thecal.clinic.service import users
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, home_for
from thecal.web.templating import render

__all__ = ["router", "safe_next"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)


def safe_next(target: str | None) -> str | None:
    """Only a path on this site may be the place to go after signing in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return render(request, "sign_in.html", None, next=safe_next(next) or "", username="")


@router.post("/sign-in")
def sign_in(
    request: Request,
    clinic: ClinicDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    with clinic.write(Actor.system("sign-in")) as call:
        signed = users.sign_in(call, username, password)
    if isinstance(signed, users.SignInRefused):
        return render(
            request,
            "sign_in.html",
            None,
            status_code=429 if signed.retry_after_seconds is not None else 401,
            error=signed.message,
            username=username,
            next=safe_next(next) or "",
        )
    actor = Actor(signed.user.id, signed.user.username, signed.user.role, signed.user.patient_id)
    response = RedirectResponse(safe_next(next) or home_for(actor), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=int((signed.expires_at - clinic.clock.now()).total_seconds()),
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, clinic: ClinicDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with clinic.write(Actor.system("sign-out")) as call:
            users.sign_out(call, token)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
