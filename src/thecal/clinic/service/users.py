"""Users, roles and sign-in sessions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from pydantic import Field
from sqlalchemy import delete, func, select

from thecal.clinic.access import Actor, Permission, Role, authorize
from thecal.clinic.audit import snapshot
from thecal.clinic.auth import new_token, token_digest
from thecal.clinic.errors import (
    Conflict,
    Invalid,
    NotAuthenticated,
    ServiceError,
    TooManyAttempts,
)
from thecal.clinic.service.common import Form, View, check_version, load
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import AuthSession, Patient, SignInFailure, User

__all__ = [
    "SignInRefused",
    "SignedIn",
    "UserForm",
    "UserUpdate",
    "UserView",
    "actor_for_token",
    "create_user",
    "display_names",
    "list_users",
    "sign_in",
    "sign_out",
    "update_user",
    "whoami",
]

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,79}$"


class UserForm(Form):
    username: str = Field(pattern=USERNAME_PATTERN, examples=["nurse.jones"])
    display_name: str = Field(min_length=1, max_length=120)
    role: Role
    password: str = Field(min_length=10, max_length=200)
    patient_id: int | None = Field(default=None, ge=1)


class UserUpdate(Form):
    version: int = Field(ge=1)
    display_name: str | None = Field(default=None, min_length=1, max_length=120)
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=10, max_length=200)
    reason: str | None = Field(default=None, max_length=500)


class UserView(View):
    id: int
    username: str
    display_name: str
    role: Role
    patient_id: int | None
    active: bool
    version: int


class SignedIn(View):
    token: str
    expires_at: datetime
    user: UserView


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        patient_id=user.patient_id,
        active=user.active,
        version=user.version,
    )


def create_user(call: Call, form: UserForm) -> UserView:
    """Add a user. A patient account must name its patient; staff accounts must not."""
    authorize(call.actor, Permission.USER_ADMIN)
    if (form.role is Role.PATIENT) != (form.patient_id is not None):
        raise Invalid(
            "patient_id: required for a patient account and only for one",
            field="patient_id",
            accepted="a patient id when role is 'patient', otherwise nothing",
        )
    if form.patient_id is not None:
        load(call, Patient, form.patient_id, "patient")
    taken = call.session.scalar(select(User.id).where(User.username == form.username))
    if taken is not None:
        raise Conflict(f"username {form.username!r} is taken", code="duplicate", field="username")
    try:
        password_hash = call.clinic.passwords.hash(form.password)
    except ValueError as error:
        raise Invalid(str(error), field="password") from None
    user = User(
        username=form.username,
        display_name=form.display_name,
        role=form.role,
        patient_id=form.patient_id,
        password_hash=password_hash,
        active=True,
        created_at=call.now,
    )
    call.session.add(user)
    call.session.flush()
    call.audit("create", user, None, entity="users")
    return _view(user)


def whoami(call: Call) -> UserView:
    """The signed-in user's own account."""
    if call.actor.user_id is None:
        raise NotAuthenticated("the system actor has no account", code="no_account")
    return _view(load(call, User, call.actor.user_id, "user"))


def display_names(call: Call, user_ids: list[int | None]) -> dict[int, str]:
    """Who recorded something: the display names (username when none) of these users, for
    anyone who may read a patient record ("decided by", "recorded by")."""
    authorize(call.actor, Permission.PATIENT_READ, call.actor.patient_id)
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = call.session.scalars(select(User).where(User.id.in_(wanted)))
    return {row.id: row.display_name or row.username for row in rows}


def list_users(call: Call) -> list[UserView]:
    authorize(call.actor, Permission.USER_ADMIN)
    return [_view(user) for user in call.session.scalars(select(User).order_by(User.username))]


def update_user(call: Call, user_id: int, form: UserUpdate) -> UserView:
    """Change a user's name, role, active flag or password (optimistic locking)."""
    authorize(call.actor, Permission.USER_ADMIN)
    user = load(call, User, user_id, "user")
    check_version(user, form.version)
    before = snapshot(user)
    if form.role is not None and (form.role is Role.PATIENT) != (user.patient_id is not None):
        raise Invalid(
            "role: a staff account cannot become a patient account or the reverse",
            field="role",
        )
    if form.display_name is not None:
        user.display_name = form.display_name
    if form.role is not None:
        user.role = form.role
    if form.active is not None:
        user.active = form.active
    if form.password is not None:
        try:
            user.password_hash = call.clinic.passwords.hash(form.password)
        except ValueError as error:
            raise Invalid(str(error), field="password") from None
    if form.active is False or form.password is not None or form.role is not None:
        for session in call.session.scalars(
            select(AuthSession).where(
                AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None)
            )
        ):
            session.revoked_at = call.now
    call.audit("update", user, before, reason=form.reason, entity="users")
    return _view(user)


@dataclass(frozen=True)
class SignInRefused:
    """A refused sign-in: wrong credentials, or too many refusals for the username lately.
    It is a value, not an exception, so the refusal is recorded (and committed) with it."""

    message: str
    code: str
    retry_after_seconds: int | None = None

    def as_error(self) -> ServiceError:
        """The error the API answers with (401, or 429 with the wait)."""
        if self.retry_after_seconds is not None:
            return TooManyAttempts(
                self.message,
                code=self.code,
                details={"retry_after_seconds": self.retry_after_seconds},
            )
        return NotAuthenticated(self.message, code=self.code)


BAD_CREDENTIALS = "unknown username or wrong password"


def _throttled(call: Call, username: str) -> SignInRefused | None:
    """Refuse without checking the password while the username has had too many refusals
    within the window (password guessing costs the guesser the window, not the server)."""
    window = call.clinic.settings.sign_in_window
    since = call.now - window
    call.session.execute(
        delete(SignInFailure).where(SignInFailure.username == username, SignInFailure.at < since)
    )
    recent = call.session.execute(
        select(func.count(), func.min(SignInFailure.at)).where(
            SignInFailure.username == username, SignInFailure.at >= since
        )
    ).one()
    count, oldest = recent
    if count < call.clinic.settings.sign_in_attempts or oldest is None:
        return None
    wait = max(1, math.ceil((oldest + window - call.now).total_seconds()))
    return SignInRefused(
        f"too many refused sign-ins for this username; try again in {math.ceil(wait / 60)} "
        "minute(s) or ask an administrator",
        "too_many_attempts",
        wait,
    )


def sign_in(call: Call, username: str, password: str) -> SignedIn | SignInRefused:
    """Check a password and open a session. A refusal says the same for any failure, so it
    does not tell which usernames exist; each is recorded, and after
    `settings.sign_in_attempts` refusals within `settings.sign_in_window` the username is
    refused without a check until the window has passed."""
    name = username.strip().lower()[:200]
    throttled = _throttled(call, name)
    if throttled is not None:
        return throttled
    user = call.session.scalar(select(User).where(User.username == name))
    passwords = call.clinic.passwords
    if user is None:
        passwords.verify_nobody(password)  # same work as a real check: no username probing
    if user is None or not user.active or not passwords.verify(user.password_hash, password):
        call.session.add(SignInFailure(username=name, at=call.now))
        return SignInRefused(BAD_CREDENTIALS, "bad_credentials")
    call.session.execute(delete(SignInFailure).where(SignInFailure.username == name))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    token = new_token()
    expires = call.now + call.clinic.settings.session_lifetime
    call.session.add(
        AuthSession(
            token_hash=token_digest(token), user_id=user.id, created_at=call.now, expires_at=expires
        )
    )
    call.session.flush()
    return SignedIn(token=token, expires_at=expires, user=_view(user))


def sign_out(call: Call, token: str) -> None:
    row = call.session.scalar(
        select(AuthSession).where(AuthSession.token_hash == token_digest(token))
    )
    if row is not None and row.revoked_at is None:
        row.revoked_at = call.now


def actor_for_token(call: Call, token: str) -> Actor:
    """The actor a bearer token stands for; `NotAuthenticated` if unknown, expired or revoked."""
    row = call.session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == token_digest(token))
    ).first()
    if row is None:
        raise NotAuthenticated("sign in first: the token is unknown", code="invalid_token")
    session, user = row
    if session.revoked_at is not None or not user.active:
        raise NotAuthenticated("this session was ended; sign in again", code="session_revoked")
    if session.expires_at <= call.now:
        raise NotAuthenticated("this session has expired; sign in again", code="session_expired")
    return Actor(user.id, user.username, user.role, user.patient_id)
