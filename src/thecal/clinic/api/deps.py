"""Request dependencies: the clinic, and the signed-in actor behind a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from thecal.clinic.access import Actor
from thecal.clinic.auth import SESSION_COOKIE
from thecal.clinic.errors import NotAuthenticated
from thecal.clinic.service import users
from thecal.clinic.service.core import Clinic

__all__ = ["ActorDep", "ClinicDep", "Id", "bearer", "current_actor", "get_clinic"]

MAX_ID = 2_147_483_647
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A record id in a path."""

bearer = HTTPBearer(auto_error=False, description="The token from POST /api/v1/auth/login")


def get_clinic(request: Request) -> Clinic:
    clinic: Clinic = request.app.state.clinic
    return clinic


ClinicDep = Annotated[Clinic, Depends(get_clinic)]


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    return request.cookies.get(SESSION_COOKIE)


def current_actor(
    request: Request,
    clinic: ClinicDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The actor the request's token stands for; 401 without a valid one."""
    token = token_of(request, credentials)
    if not token:
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer <token>'")
    with clinic.read(Actor.system("auth")) as call:
        return users.actor_for_token(call, token)


ActorDep = Annotated[Actor, Depends(current_actor)]
