"""The patient controller: ask for a bolus, see a status summary, acknowledge an alarm.

The pump decides everything (lockout, daily cap, state); the controller shows the answer
plainly: granted (dose, when it ends, today's count), or denied with the reason, the time
until the next allowed bolus and today's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from thecal.programmer.clinician import ProgrammerError
from thecal.programmer.connection import Sender
from thecal.pump.commands import (
    Accepted,
    AcknowledgeAlarm,
    PatientBolusRequest,
    Rejected,
    Rejection,
    StatusSummary,
)
from thecal.pump.payloads import BolusDenial, BolusGrant, PatientStatus
from thecal.therapy.quantities import Mass

__all__ = ["AlarmAcknowledgement", "BolusOutcome", "acknowledge_alarm", "request_bolus", "status"]


@dataclass(frozen=True)
class BolusOutcome:
    """A patient bolus request's answer."""

    granted: bool
    message: str
    reason: Rejection | None
    dose: Mass | None
    ends_at: datetime | None
    count_24h: int | None
    max_per_24h: int | None
    next_allowed_at: datetime | None
    pump_time: datetime | None

    def wait_text(self) -> str | None:
        """'2 h 15 min' until the next allowed bolus, if the pump said when."""
        if self.next_allowed_at is None or self.pump_time is None:
            return None
        seconds = max(0, int((self.next_allowed_at - self.pump_time).total_seconds()))
        hours, rest = divmod(seconds, 3600)
        minutes = -(-rest // 60)
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def status(link: Sender) -> PatientStatus:
    """The patient's summary: delivering or not, reservoir, alarms, bolus availability."""
    response = link.call(StatusSummary())
    if isinstance(response, Rejected) or not isinstance(response.payload, PatientStatus):
        raise ProgrammerError(f"the pump refused the status request: {response.message}")
    return response.payload


def request_bolus(link: Sender) -> BolusOutcome:
    """Ask for the prescribed patient bolus; the pump grants or denies it."""
    response = link.call(PatientBolusRequest())
    if isinstance(response, Accepted):
        grant = response.payload
        if not isinstance(grant, BolusGrant):
            raise ProgrammerError("the pump granted a bolus without saying what")
        return BolusOutcome(
            True, response.message, None, grant.dose, grant.ends_at, grant.count_24h,
            grant.max_per_24h, grant.next_allowed_at, grant.starts_at,
        )  # fmt: skip
    denial = response.payload if isinstance(response.payload, BolusDenial) else None
    pump_time = None
    try:
        pump_time = status(link).local_time if response.retry_after is not None else None
    except ProgrammerError:
        pump_time = None
    return BolusOutcome(
        False,
        response.message,
        response.reason,
        None,
        None,
        denial.count_24h if denial else None,
        denial.max_per_24h if denial else None,
        denial.next_allowed_at if denial else response.retry_after,
        pump_time,
    )


@dataclass(frozen=True)
class AlarmAcknowledgement:
    acknowledged: bool
    message: str


def acknowledge_alarm(link: Sender, alarm: str) -> AlarmAcknowledgement:
    """Acknowledge (silence) an active alarm by its kind, e.g. ``low_reservoir``."""
    response = link.call(AcknowledgeAlarm(alarm))
    return AlarmAcknowledgement(isinstance(response, Accepted), response.message)
