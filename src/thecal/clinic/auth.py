"""Passwords and sign-in tokens.

Passwords are hashed with Argon2id (argon2-cffi). The default parameters are RFC 9106's
low-memory profile; the test suite switches to the library's cheapest profile, which is
only for tests. A hash made with older parameters is re-hashed at the next sign-in.

A sign-in gives a random bearer token; the database keeps only its SHA-256, with an
expiry time. The same token works as an `Authorization: Bearer` header (the JSON API)
and as the `thecal_session` cookie (the web pages).
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY

__all__ = [
    "SESSION_COOKIE",
    "PasswordProfile",
    "PasswordService",
    "new_token",
    "token_digest",
]

SESSION_COOKIE = "thecal_session"
MIN_PASSWORD_LENGTH = 10


class PasswordProfile(StrEnum):
    DEFAULT = "rfc9106-low-memory"
    TESTING_ONLY = "cheapest-testing-only"


class PasswordService:
    """Hash and check passwords with one Argon2id parameter profile."""

    def __init__(self, profile: PasswordProfile = PasswordProfile.DEFAULT) -> None:
        parameters = RFC_9106_LOW_MEMORY if profile is PasswordProfile.DEFAULT else CHEAPEST
        self.profile = profile
        self._hasher = PasswordHasher.from_parameters(parameters)
        self._nobody = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """The Argon2id hash of `password`; `ValueError` if it is too short."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(
                f"password: too short; accepted: at least {MIN_PASSWORD_LENGTH} characters"
            )
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """Whether `password` matches `stored_hash` (never raises for a wrong password)."""
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_nobody(self, password: str) -> None:
        """Spend the time of one verification when there is no such user."""
        self.verify(self._nobody, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


def new_token() -> str:
    """A fresh random bearer token (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database stores for a token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
