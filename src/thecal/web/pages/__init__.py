"""One router per workflow; `ROUTERS` is what the application mounts, in this order."""

from fastapi import APIRouter

from thecal.web.pages import dashboard, implant, refill, sign_in

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [sign_in.router, dashboard.router, implant.router, refill.router]
