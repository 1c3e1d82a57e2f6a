"""Expected failures of service operations, each mapped to one HTTP status by the API.

They carry what a person or a program needs to fix the request: a stable `code`,
a message, the `field` concerned and what is `accepted`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotAuthenticated",
    "NotFound",
    "Refused",
    "ServiceError",
    "TooManyAttempts",
    "Unavailable",
]


class ServiceError(Exception):
    """Base of expected service failures."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        accepted: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.accepted = accepted
        self.details = details


class NotAuthenticated(ServiceError):
    status = 401
    code = "not_authenticated"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """Stale version (optimistic locking), duplicate, or a state that forbids the action."""

    status = 409
    code = "conflict"


class TooManyAttempts(ServiceError):
    """Too many refused sign-ins for one username; `details` holds `retry_after_seconds`."""

    status = 429
    code = "too_many_attempts"


class Invalid(ServiceError):
    """Bad input: names the field and what is accepted."""

    status = 422
    code = "invalid"


class Refused(ServiceError):
    """A safety rule refused the request (e.g. a hard dose limit, an overfill)."""

    status = 422
    code = "refused"


class Unavailable(ServiceError):
    """The database cannot be reached; nothing was written."""

    status = 503
    code = "database_unavailable"
