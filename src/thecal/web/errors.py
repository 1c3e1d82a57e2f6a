"""Errors on the pages: a readable HTML page with the same status the API would answer
(the API's own paths keep their JSON bodies), and a redirect to sign in when needed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from thecal.clinic.errors import ServiceError
from thecal.clinic.storage.database import is_unavailable
from thecal.web.security import CsrfRejected
from thecal.web.session import SignInRequired
from thecal.web.templating import render

__all__ = ["install"]

log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]

JSON_PATHS = ("/api/", "/openapi.json", "/docs")

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Someone changed this first",
    422: "Please check what you entered",
    500: "Something went wrong",
    503: "The clinic database is unavailable",
}


def error_page(request: Request, status: int, message: str, field: str | None = None) -> Response:
    """The error page: what happened and what to do; nothing is lost, the browser's Back
    button returns to the form as it was filled in."""
    response = render(
        request,
        "errors/error.html",
        None,
        status_code=status,
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        field=field,
    )
    if request.headers.get("HX-Request"):
        # htmx does not swap error responses by default; show the message in place.
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def _wrap(original: Handler, html: Callable[[Request, Exception], Response]) -> Handler:
    async def handler(request: Request, error: Exception) -> Response:
        if request.url.path.startswith(JSON_PATHS):
            result = original(request, error)
            return await result if isinstance(result, Awaitable) else result
        return html(request, error)

    return handler


def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    if error.status == 401:
        return _sign_in_redirect(request, "/")
    message = error.message + (f" (accepted: {error.accepted})" if error.accepted else "")
    return error_page(request, error.status, message, error.field)


def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ())[1:])
        problems.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item["msg"]))
    return error_page(request, 422, "; ".join(problems) or "the request was not understood")


def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        return error_page(request, 404, "There is no page at this address.")
    return error_page(request, error.status_code, str(error.detail))


def _database_error(request: Request, error: Exception) -> Response:
    if is_unavailable(error):
        return error_page(request, 503, "Nothing was saved; try again in a moment.")
    log.exception("database error", exc_info=error)
    return error_page(request, 500, "An internal error occurred; nothing was saved.")


def _sign_in_redirect(request: Request, next_path: str) -> Response:
    target = "/sign-in?" + urlencode({"next": next_path})
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _sign_in_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequired)
    return _sign_in_redirect(request, error.next_path)


async def _csrf_rejected(request: Request, error: Exception) -> Response:
    return error_page(
        request,
        403,
        "This form was out of date (its security token did not match). Reload the page "
        "and submit it again.",
    )


def install(app: FastAPI) -> None:
    """Give page paths HTML errors, keeping the API's JSON handlers for its own paths."""
    wrapped: dict[Any, Callable[[Request, Exception], Response]] = {
        ServiceError: _service_error,
        RequestValidationError: _validation_error,
        HTTPException: _http_error,
        SQLAlchemyError: _database_error,
    }
    for kind, html in wrapped.items():
        original = app.exception_handlers[kind]
        app.add_exception_handler(kind, _wrap(original, html))
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
