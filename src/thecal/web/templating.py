"""The Jinja2 environment of the pages: templates shipped in the package, autoescaped,
with filters that show dates, times and quantities the one way the clinic reads them."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from fractions import Fraction
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from thecal.clinic.access import Actor, Permission, Role, can
from thecal.therapy.quantities import decimal_text
from thecal.web.security import CSRF_FIELD, CSRF_HEADER, csrf_token_of

__all__ = ["TEMPLATES", "format_day", "format_decimal", "format_when", "render"]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True


def _local(value: datetime | None, tz: tzinfo | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value
    return value.astimezone(tz) if tz is not None else value


def format_when(value: datetime | date | None, tz: tzinfo | None = None) -> str:
    """'2026-11-24 14:05' in the clinic's time zone; a date as '2026-11-24'; '—' for none."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = _local(value, tz)
        assert local is not None
        return local.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def format_day(value: datetime | date | None, tz: tzinfo | None = None) -> str:
    """The calendar day, in the clinic's time zone for a moment."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = _local(value, tz)
        assert local is not None
        return local.date().isoformat()
    return value.isoformat()


def format_decimal(value: Fraction | int, places: int = 2) -> str:
    """A ratio or percentage as decimal text, truncated at `places` (never rounded up)."""
    return decimal_text(Fraction(value), places)


TEMPLATES.env.filters["when"] = format_when
TEMPLATES.env.filters["day"] = format_day
TEMPLATES.env.filters["decimal"] = format_decimal


def _context(request: Request, actor: Actor | None, extra: dict[str, Any]) -> dict[str, Any]:
    clinic = request.app.state.clinic
    return {
        "request": request,
        "actor": actor,
        "tz": clinic.tz,
        "now": clinic.clock.now(),
        "csrf_field": CSRF_FIELD,
        "csrf_header": CSRF_HEADER,
        "csrf_token": csrf_token_of(request),
        "can": (lambda permission, patient_id=None: actor is not None
                and can(actor, Permission(permission), patient_id)),
        "is_patient": actor is not None and actor.role is Role.PATIENT,
        "is_staff": actor is not None and actor.role not in (None, Role.PATIENT),
        **extra,
    }  # fmt: skip


def render(
    request: Request,
    template: str,
    actor: Actor | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a template (a whole page extending ``base.html``, or a fragment for htmx to
    swap in) with the common context: actor, clinic time zone, CSRF token, `can`."""
    return TEMPLATES.TemplateResponse(
        request, template, _context(request, actor, values), status_code=status_code
    )
