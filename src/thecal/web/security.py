"""Browser-facing defences: a CSRF token for every state-changing request made with the
session cookie, and security headers on every response.

The CSRF token is a random value in its own http-only cookie, repeated in every page
(never readable by other sites): forms echo it as a hidden ``csrf_token`` field, htmx as the
``X-CSRF-Token`` header. A cross-site page can make a browser send the cookie, but it
cannot read it, so it cannot echo it (double-submit cookie). Requests that authenticate
with an ``Authorization`` header (API clients) carry no ambient credentials and are exempt.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from starlette.middleware.base import BaseHTTPMiddleware

from thecal.clinic.auth import SESSION_COOKIE

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CsrfRejected",
    "SecurityHeadersMiddleware",
    "check_api_csrf",
    "csrf_token_of",
    "require_csrf",
]

CSRF_COOKIE = "thecal_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


class CsrfRejected(Exception):
    """A state-changing request without the matching CSRF token."""


def csrf_token_of(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one (set on the response by the
    middleware) when the browser has none yet."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing
    fresh: str | None = getattr(request.state, "new_csrf_token", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.new_csrf_token = fresh
    return fresh


def _matches(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def require_csrf(request: Request) -> None:
    """Dependency of every page router: a POST must echo the CSRF cookie (form field or
    header), whoever is signed in (sign-in itself included, against login CSRF)."""
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not _matches(request.cookies.get(CSRF_COOKIE), given):
        raise CsrfRejected()


def check_api_csrf(request: Request) -> bool:
    """Whether an API request may go on: state-changing API calls that ride on the session
    cookie (not on an Authorization header) must send the CSRF header."""
    if request.method in SAFE_METHODS or "authorization" in request.headers:
        return True
    if SESSION_COOKIE not in request.cookies:
        return True
    return _matches(request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER))


class SecurityHeadersMiddleware(BaseHTTPMiddleware):
    """Security headers on every response, and the CSRF cookie when a page issued one."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.url.path.startswith(("/api/", "/static/")):
            return response
        headers.setdefault("Cache-Control", "no-store")
        fresh = getattr(request.state, "new_csrf_token", None)
        if fresh is not None:
            response.set_cookie(
                CSRF_COOKIE, fresh, httponly=True, samesite="strict", secure=_is_https(request)
            )
        return response


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"
