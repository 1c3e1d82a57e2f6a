"""The FastAPI application over one `Clinic`."""

from __future__ import annotations

from fastapi import FastAPI

from thecal.clinic.api import errors, routes_clinic, routes_devices, routes_people
from thecal.clinic.service.core import Clinic

__all__ = ["API_VERSION", "create_app"]

API_VERSION = "1"

DESCRIPTION = """\
The thecal clinic service: patients from screening to battery replacement.

Sign in with `POST /api/v1/auth/login` and send the token as `Authorization: Bearer <token>`.
Every error has the body `{"error": {"code", "message", "field", "accepted", "details"}}`.
Creating a refill visit or an appointment accepts an `Idempotency-Key` header. Records
people edit carry a `version`: send the one you read; a stale one is answered with 409.

**Not a medical device.**
"""


def create_app(clinic: Clinic) -> FastAPI:
    """The JSON API for `clinic` (the web pages add their own router to this app)."""
    app = FastAPI(
        title="thecal clinic",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.clinic = clinic
    errors.install(app)
    app.include_router(routes_clinic.router)
    app.include_router(routes_people.router)
    app.include_router(routes_devices.router)
    return app
