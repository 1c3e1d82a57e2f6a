"""One machine-readable shape for every error the API returns:

    {"error": {"code": "stale_version", "message": "...", "field": "version",
               "accepted": "3", "details": null}}

`code` is stable for programs; `message` is for people; `field` names the input at
fault and `accepted` says what would have been accepted, where that is known.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.exceptions import HTTPException

from thecal.clinic.errors import ServiceError
from thecal.clinic.storage.database import is_unavailable

__all__ = ["ERROR_RESPONSES", "ErrorBody", "ErrorDetail", "error_response", "install"]

log = logging.getLogger("thecal.clinic.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    accepted: str | None = None
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _doc(text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed request"),
    401: _doc("Not signed in, or the session expired"),
    403: _doc("The signed-in role may not do this"),
    404: _doc("No such record"),
    409: _doc("Conflict: stale version, duplicate, or a state that forbids it"),
    422: _doc("Invalid input, or refused by a safety rule"),
    429: _doc("Too many refused sign-ins for this username; wait for Retry-After seconds"),
    503: _doc("The database is unavailable; nothing was written"),
}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    accepted: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorDetail(
            code=code, message=message, field=field, accepted=accepted, details=details
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _service_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if error.status == 503:
        headers["Retry-After"] = "5"
    if error.status == 429 and isinstance(error.details, dict):
        headers["Retry-After"] = str(error.details.get("retry_after_seconds", 60))
    return error_response(
        error.status, error.code, error.message, error.field, error.accepted, error.details,
        headers or None,
    )  # fmt: skip


def _accepted(error: dict[str, Any]) -> str | None:
    context = error.get("ctx") or {}
    if "expected" in context:
        return str(context["expected"])
    if "pattern" in context:
        return f"text matching {context['pattern']}"
    limits = [f"{name} {context[name]}" for name in ("ge", "gt", "le", "lt") if name in context]
    if limits:
        return ", ".join(limits)
    for name in ("min_length", "max_length"):
        if name in context:
            return f"{name.replace('_', ' ')} {context[name]}"
    return None


def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] in ("body", "query", "path", "header"):
            location = location[1:]
        message = str(item.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append(
            {"field": ".".join(location) or None, "message": message, "accepted": _accepted(item)}
        )
    first = problems[0] if problems else {"field": None, "message": "invalid", "accepted": None}
    return error_response(
        422,
        "invalid",
        f"{first['field']}: {first['message']}" if first["field"] else str(first["message"]),
        first["field"],
        first["accepted"],
        problems,
    )


def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}
    code = codes.get(error.status_code, "http_error")
    return error_response(
        error.status_code, code, str(error.detail), headers=getattr(error, "headers", None)
    )


def _database_error(_: Request, error: Exception) -> JSONResponse:
    if is_unavailable(error):
        return error_response(
            503,
            "database_unavailable",
            "the clinic database is unavailable; nothing was saved, try again shortly",
            headers={"Retry-After": "5"},
        )
    if isinstance(error, DataError):
        return error_response(422, "invalid", "a value is out of the range the database can store")
    log.exception("database error", exc_info=error)
    return error_response(500, "internal_error", "an internal error occurred")


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one body shape."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
