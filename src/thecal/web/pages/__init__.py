"""One router per workflow; `ROUTERS` is what the application mounts, in this order."""

from fastapi import APIRouter

from thecal.web.pages import (
    admin,
    candidacy,
    dashboard,
    implant,
    pain_map,
    patients,
    portal,
    prescription,
    pump_session,
    refill,
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
    implant.router,
    prescription.router,
    refill.router,
    pump_session.router,
    admin.router,
]
