"""One router per workflow; `ROUTERS` is what the application mounts, in this order."""

from fastapi import APIRouter

from thecal.web.pages import (
    admin,
    candidacy,
    dashboard,
    pain_map,
    patients,
    portal,
    prescription,
    sign_in,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    sign_in.router,
    dashboard.router,
    patients.router,
    portal.router,
    pain_map.router,
    candidacy.router,
    prescription.router,
    admin.router,
]
