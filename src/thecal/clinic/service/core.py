"""The service's entry point: a `Clinic` (database, settings, clock) opens a `Call` — one
transaction on behalf of one actor at one moment — and every service function takes it.

    clinic = Clinic(Database(url))
    with clinic.write(actor) as call:
        refills.record_refill(call, implant_id, form)
    with clinic.read(actor) as call:
        page = patients.patient_summary(call, patient_id)

A write call commits when the block ends and rolls back on any error, so a change, its
audit entry, the recomputed schedule and the outbox rows are saved together or not at
all. Database failures become `Unavailable` (HTTP 503), stale versions `Conflict` (409).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from thecal.clinic import audit
from thecal.clinic.access import Actor
from thecal.clinic.auth import PasswordProfile, PasswordService
from thecal.clinic.errors import Conflict, ServiceError, Unavailable
from thecal.clinic.policy import ClinicPolicy, default_policy
from thecal.clinic.storage.database import Database, is_unavailable
from thecal.clinic.storage.models import Base
from thecal.therapy.library import DrugLibrary, default_library

__all__ = ["Call", "Clinic", "ClinicSettings", "Clock", "FixedClock", "SystemClock"]

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, time-zone aware."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, demos, replays)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a time-zone aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment

    def advance(self, delta: timedelta) -> None:
        self._now += delta


@dataclass(frozen=True)
class ClinicSettings:
    """What a clinic is configured with (all defaults are the shipped reference data)."""

    library: DrugLibrary = field(default_factory=default_library)
    policy: ClinicPolicy = field(default_factory=default_policy)
    timezone: str = "UTC"
    """The clinic's (and its pumps') local time zone, an IANA name."""
    session_lifetime: timedelta = timedelta(hours=12)
    sign_in_attempts: int = 5
    """Refused sign-ins allowed per username within `sign_in_window`; then it must wait."""
    sign_in_window: timedelta = timedelta(minutes=15)
    password_profile: PasswordProfile = PasswordProfile.DEFAULT


class Clinic:
    """One clinic: its database, settings and clock. Thread-safe; share one per process."""

    def __init__(
        self,
        database: Database,
        settings: ClinicSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.settings = settings or ClinicSettings()
        self.clock: Clock = clock or SystemClock()
        self.passwords = PasswordService(self.settings.password_profile)
        self.tz: tzinfo = ZoneInfo(self.settings.timezone)

    @contextmanager
    def read(self, actor: Actor) -> Iterator[Call]:
        """A read call: one transaction (SQLite: one snapshot; PostgreSQL: read committed)."""
        with _translated(), self.database.reading() as session:
            yield Call(session, actor, self.clock.now(), self)

    @contextmanager
    def write(self, actor: Actor) -> Iterator[Call]:
        """A call in one write transaction, committed at the end of the block."""
        with _translated(), self.database.writing() as session:
            yield Call(session, actor, self.clock.now(), self)

    def perform(
        self, actor: Actor, operation: Callable[[Call], T], retry_conflict: bool = False
    ) -> T:
        """Run `operation` in one write call. With `retry_conflict`, a unique-key race (two
        identical requests at once) is retried once: the retry finds the first one's result."""
        try:
            with self.write(actor) as call:
                return operation(call)
        except Conflict as error:
            if not retry_conflict or error.code != "integrity_conflict":
                raise
        with self.write(actor) as call:
            return operation(call)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except ServiceError:
        raise
    except StaleDataError as error:
        raise Conflict(
            "someone else changed this record first; reload it and apply your change again",
            code="stale_version",
        ) from error
    except IntegrityError as error:
        raise Conflict(
            "the change conflicts with another record (a duplicate, or a record that changed)",
            code="integrity_conflict",
        ) from error
    except SQLAlchemyError as error:
        if is_unavailable(error):
            raise Unavailable(
                "the clinic database is unavailable; nothing was saved, try again shortly"
            ) from error
        raise


@dataclass
class Call:
    """One transaction for one actor at one moment (`now`)."""

    session: Session
    actor: Actor
    now: datetime
    clinic: Clinic

    @property
    def library(self) -> DrugLibrary:
        return self.clinic.settings.library

    @property
    def policy(self) -> ClinicPolicy:
        return self.clinic.settings.policy

    @property
    def tz(self) -> tzinfo:
        return self.clinic.tz

    def audit(
        self,
        action: str,
        row: Base,
        before: Mapping[str, Any] | None,
        reason: str | None = None,
        entity: str | None = None,
    ) -> None:
        """Append an audit entry for `row` (flushed first so it has its id), with `before`
        as it was and the row as it is now."""
        self.session.flush()
        after = audit.snapshot(row)
        name = entity or str(getattr(row, "__tablename__", type(row).__name__))
        identity = after.get("id", after.get("seq"))
        audit.record(self.session, self.actor, self.now, action, name, identity, before, after,
                     reason)  # fmt: skip
