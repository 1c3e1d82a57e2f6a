"""The pump's command API: what a programmer or patient controller may ask, and the
shape of every answer.

This is the contract between the firmware twin (which executes commands) and the
telemetry link (which carries them). Commands are plain frozen values; the link
serialises them, the firmware judges and executes them. Every request carries an
id chosen by the sender: the firmware remembers recent ids and answers a repeated
id with the stored response instead of acting twice, so a bolus sent twice over a
flaky link is still one bolus.

Roles are enforced by the pump itself (`permitted`): a patient controller may read
a status summary, request a patient bolus and acknowledge alarms, nothing else; an
emergency programmer (a clinician who is not the patient's clinic's) may interrogate,
stop, set the minimum rate and acknowledge alarms, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, Duration, Mass, Volume

__all__ = [
    "EMERGENCY_COMMANDS",
    "MAX_BOLUS_DURATION",
    "PATIENT_COMMANDS",
    "Accepted",
    "AcknowledgeAlarm",
    "AlarmTest",
    "BridgeBolus",
    "ClinicianBolus",
    "Command",
    "Interrogate",
    "MinimumRate",
    "PatientBolusRequest",
    "PostMriCheck",
    "PrimingBolus",
    "RegisterRefill",
    "Rejected",
    "Rejection",
    "Request",
    "ResetFlowValve",
    "Response",
    "Resume",
    "Role",
    "SetAlarmSettings",
    "SetClock",
    "StatusSummary",
    "Stop",
    "WritePrescription",
    "permitted",
]


MAX_BOLUS_DURATION = Duration.from_hours(24)
"""Longest clinician, priming or bridge bolus the pump accepts (part of the contract, so
the programmer can refuse an over-long bolus before sending it)."""


class Role(StrEnum):
    """Who is talking to the pump, as established by the secure link."""

    CLINICIAN = "clinician"
    PATIENT = "patient"
    EMERGENCY = "emergency"
    """A clinician who is not the patient's clinic's (an emergency room): made safe, not
    programmed (`EMERGENCY_COMMANDS`)."""


# --- Commands ---------------------------------------------------------------


@dataclass(frozen=True)
class Interrogate:
    """Full status: prescription, reservoir estimate, battery, alarms, event log.

    `log_since` limits the returned log to events with a larger sequence number.
    """

    log_since: int | None = None


@dataclass(frozen=True)
class StatusSummary:
    """The patient's view: delivering or not, reservoir and alarm summary, bolus availability."""


@dataclass(frozen=True)
class WritePrescription:
    """Replace the stored prescription, whole or not at all.

    Accepted only if `content_hash` equals the prescription's own hash (the value the
    clinician reviewed) and the firmware's hard-limit re-check passes.
    """

    prescription: Prescription
    content_hash: str


@dataclass(frozen=True)
class RegisterRefill:
    """Record a refill: what was aspirated, and what the reservoir now holds.

    A drug or concentration change is declared here; the prescription for the new
    solution is written separately (`WritePrescription`), with a `BridgeBolus` if needed.
    """

    aspirated: Volume
    new_volume: Volume
    drug: str
    concentration: Concentration


@dataclass(frozen=True)
class ClinicianBolus:
    """A one-off bolus of `dose` over `duration`, on top of the running prescription."""

    dose: Mass
    duration: Duration


@dataclass(frozen=True)
class PrimingBolus:
    """Advance drug through the pump tubing and catheter to the tip after implant or
    catheter revision: move `volume` over `duration`, then start the stored prescription."""

    volume: Volume
    duration: Duration


@dataclass(frozen=True)
class BridgeBolus:
    """After a drug or concentration change: move the old solution still in the tubing and
    catheter (`volume`) over `duration` at the old daily dose, then the new prescription runs."""

    volume: Volume
    duration: Duration


@dataclass(frozen=True)
class Stop:
    """Stop all delivery (stopped-pump mode) until `Resume`."""


@dataclass(frozen=True)
class Resume:
    """Resume the stored prescription after a stop, minimum rate or post-MRI hold."""


@dataclass(frozen=True)
class MinimumRate:
    """Run at the pump model's minimum rate (keeps the catheter open) until `Resume`."""


@dataclass(frozen=True)
class SetClock:
    """Set the pump's local clock (time-zone or daylight-saving change, or drift correction).

    `local_time` is the new local wall-clock time at the moment the command executes.
    """

    local_time: datetime


@dataclass(frozen=True)
class SetAlarmSettings:
    """Programmable alarm settings: the low-reservoir threshold and the repeat interval of
    critical alarms."""

    low_reservoir_threshold: Volume
    critical_repeat: Duration


@dataclass(frozen=True)
class AcknowledgeAlarm:
    """Acknowledge (silence) an active alarm by its kind, e.g. "low_reservoir"."""

    alarm: str


@dataclass(frozen=True)
class AlarmTest:
    """Sound every alarm tone once so the patient knows them."""


@dataclass(frozen=True)
class PostMriCheck:
    """Confirm the motor runs after an MRI scan and release a post-MRI hold."""


@dataclass(frozen=True)
class ResetFlowValve:
    """Re-open a valve-accumulator pump's flow-activated safety valve after a strong field."""


@dataclass(frozen=True)
class PatientBolusRequest:
    """The patient asks for the prescribed patient bolus."""


Command = (
    Interrogate
    | StatusSummary
    | WritePrescription
    | RegisterRefill
    | ClinicianBolus
    | PrimingBolus
    | BridgeBolus
    | Stop
    | Resume
    | MinimumRate
    | SetClock
    | SetAlarmSettings
    | AcknowledgeAlarm
    | AlarmTest
    | PostMriCheck
    | ResetFlowValve
    | PatientBolusRequest
)

PATIENT_COMMANDS: frozenset[type] = frozenset(
    {StatusSummary, PatientBolusRequest, AcknowledgeAlarm}
)


EMERGENCY_COMMANDS: frozenset[type] = frozenset(
    {Interrogate, StatusSummary, Stop, MinimumRate, AcknowledgeAlarm}
)


def permitted(role: Role, command: Command) -> bool:
    """Whether `role` may send `command`: clinicians anything, patients only their three,
    emergency programmers only what makes the pump safe (`EMERGENCY_COMMANDS`)."""
    if role is Role.CLINICIAN:
        return True
    allowed = EMERGENCY_COMMANDS if role is Role.EMERGENCY else PATIENT_COMMANDS
    return type(command) in allowed


@dataclass(frozen=True)
class Request:
    """One command from one sender; `id` is unique per sender and makes retries safe."""

    id: str
    role: Role
    command: Command


# --- Responses ----------------------------------------------------------------


class Rejection(StrEnum):
    """Why the pump refused a command (an expected outcome, not an error)."""

    NOT_PERMITTED = "not_permitted"
    HASH_MISMATCH = "hash_mismatch"
    HARD_LIMIT = "hard_limit"
    INVALID_STATE = "invalid_state"
    LOCKOUT = "lockout"
    DAILY_CAP = "daily_cap"
    RESERVOIR = "reservoir"
    OVER_CAPACITY = "over_capacity"
    NOT_PROGRAMMABLE = "not_programmable"
    NO_SUCH_ALARM = "no_such_alarm"
    INVALID_ARGUMENT = "invalid_argument"


@dataclass(frozen=True)
class Accepted:
    """The command was carried out. `payload` is the command's result value, if any
    (a status report, a bolus grant, ...): a frozen dataclass defined by the firmware."""

    message: str
    payload: object | None = None


@dataclass(frozen=True)
class Rejected:
    """The command was refused and changed nothing.

    `retry_after` (pump local time) says when the same request could succeed, where known
    (e.g. the end of a patient-bolus lockout). `payload` carries structured detail where
    the firmware has it (e.g. a patient-bolus denial's count in the rolling 24 hours, or
    every hard-limit verdict that refused a prescription).
    """

    reason: Rejection
    message: str
    retry_after: datetime | None = None
    payload: object | None = None


Response = Accepted | Rejected
