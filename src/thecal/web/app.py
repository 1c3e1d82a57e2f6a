"""One application: the JSON API (``/api/v1``, OpenAPI at ``/docs``) and the pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from thecal.clinic.api import create_app
from thecal.clinic.api.errors import error_response
from thecal.clinic.service.core import Clinic
from thecal.web import errors
from thecal.web.pages import ROUTERS
from thecal.web.pumps import ProgrammerStation
from thecal.web.security import SecurityHeadersMiddleware, check_api_csrf

__all__ = ["STATIC", "create_web_app"]

STATIC = Path(__file__).parent / "static"


def create_web_app(clinic: Clinic, station: ProgrammerStation | None = None) -> FastAPI:
    """The clinic's API and web pages over `clinic`; with `station`, the server also acts
    as a clinician programmer for the pumps in reach (the pump session page)."""
    app = create_app(clinic)
    app.state.station = station
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    errors.install(app)

    @app.middleware("http")
    async def api_csrf(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith("/api/") and not check_api_csrf(request):
            return error_response(
                403,
                "csrf_token_missing",
                "a state-changing call made with the session cookie needs the X-CSRF-Token "
                "header; API clients should send 'Authorization: Bearer <token>' instead",
            )
        return await call_next(request)

    app.add_middleware(SecurityHeadersMiddleware)
    return app
