"""Who is signed in to the pages: the session cookie (the same sessions the API's bearer
tokens use), and the redirect to the sign-in page when there is none."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from thecal.clinic.access import Actor, Role
from thecal.clinic.auth import SESSION_COOKIE
from thecal.clinic.errors import NotAuthenticated
from thecal.clinic.service import users
from thecal.clinic.service.core import Clinic

__all__ = ["ClinicDep", "PageActor", "SignInRequired", "get_clinic", "home_for", "page_actor"]


class SignInRequired(Exception):
    """The page needs a signed-in user; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def get_clinic(request: Request) -> Clinic:
    clinic: Clinic = request.app.state.clinic
    return clinic


ClinicDep = Annotated[Clinic, Depends(get_clinic)]


def _next_path(request: Request) -> str:
    if request.method != "GET" or request.headers.get("HX-Request"):
        return "/"
    query = f"?{request.url.query}" if request.url.query else ""
    return quote(request.url.path + query, safe="/?=&")


def page_actor(request: Request, clinic: ClinicDep) -> Actor:
    """The signed-in actor behind the session cookie; otherwise `SignInRequired`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(_next_path(request))
    try:
        with clinic.read(Actor.system("web session")) as call:
            return users.actor_for_token(call, token)
    except NotAuthenticated as error:
        raise SignInRequired(_next_path(request)) from error


PageActor = Annotated[Actor, Depends(page_actor)]


def home_for(actor: Actor) -> str:
    """Where a user lands after signing in: patients see their own record."""
    return "/me" if actor.role is Role.PATIENT else "/"
