"""The alarm catalogue: every alarm the firmware can raise, with its priority, tone,
repeat, and the delivery response it triggers (the Open PCA Pump alarm-table pattern).

Sources: two audible alarm types, a 3-second two-tone and a 1-second single tone, and
a clinician-run alarm test [S18]; low battery reset and premature end of service are
critical, ERI non-critical [S15]; the critical-alarm frequency is programmable [S16];
after a low-battery event the flow may be reset to a very low level [S18]. Which tone
each alarm uses, the repeat intervals, and the responses to an empty reservoir, a motor
stall and a memory error were not found; those are choices of this model and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from thecal.pump.codec import register

__all__ = [
    "ALARM_CATALOGUE",
    "ActiveAlarm",
    "AlarmKind",
    "AlarmSpec",
    "DeliveryResponse",
    "Priority",
    "Tone",
    "alarm_kind",
]


class AlarmKind(StrEnum):
    LOW_RESERVOIR = "low_reservoir"
    EMPTY_RESERVOIR = "empty_reservoir"
    ERI = "eri"
    EOS = "eos"
    LOW_BATTERY_RESET = "low_battery_reset"
    MOTOR_STALL = "motor_stall"
    MEMORY_ERROR = "memory_error"
    FLOW_VALVE_CLOSED = "flow_valve_closed"
    ALARM_TEST = "alarm_test"


class Priority(StrEnum):
    CRITICAL = "critical"
    NON_CRITICAL = "non_critical"


class Tone(StrEnum):
    TWO_TONE = "two_tone"  # 3-second two-tone alarm [S18]
    SINGLE_TONE = "single_tone"  # 1-second single tone [S18]


class DeliveryResponse(StrEnum):
    """What the firmware does to delivery when the alarm is raised."""

    CONTINUE = "continue"  # keep delivering as programmed
    MINIMUM_RATE = "minimum_rate"  # drop to the model's minimum rate (keeps the catheter open)
    STOP = "stop"  # stop delivery for good (end of service)
    SUSPENDED = "suspended"  # the mechanism cannot deliver; retried until it can


@dataclass(frozen=True)
class AlarmSpec:
    """One catalogue entry. `repeats`: the tone sounds again every repeat interval until
    acknowledged (critical alarms at the programmable critical repeat)."""

    kind: AlarmKind
    priority: Priority
    tones: tuple[Tone, ...]
    response: DeliveryResponse
    repeats: bool
    clears: str
    description: str
    source: str


def _spec(
    kind: AlarmKind,
    priority: Priority,
    response: DeliveryResponse,
    clears: str,
    description: str,
    source: str,
    tones: tuple[Tone, ...] | None = None,
    repeats: bool = True,
) -> AlarmSpec:
    default = (Tone.TWO_TONE,) if priority is Priority.CRITICAL else (Tone.SINGLE_TONE,)
    return AlarmSpec(
        kind, priority, tones or default, response, repeats, clears, description, source
    )


_MODEL = "model choice (not found in public sources)"

ALARM_CATALOGUE: dict[AlarmKind, AlarmSpec] = {
    spec.kind: spec
    for spec in (
        _spec(
            AlarmKind.LOW_RESERVOIR,
            Priority.NON_CRITICAL,
            DeliveryResponse.CONTINUE,
            "a refill that brings the estimate above the threshold",
            "The estimated reservoir reached the programmable low-reservoir threshold. "
            "It is calculated from programmed delivery, not measured [S10].",
            f"S10; priority and tone: {_MODEL}",
        ),
        _spec(
            AlarmKind.EMPTY_RESERVOIR,
            Priority.CRITICAL,
            DeliveryResponse.MINIMUM_RATE,
            "a refill",
            "The estimated reservoir reached the empty level; the pump drops to its minimum rate.",
            f"S10; response: {_MODEL}",
        ),
        _spec(
            AlarmKind.ERI,
            Priority.NON_CRITICAL,
            DeliveryResponse.CONTINUE,
            "pump replacement",
            "Elective replacement indicator: the battery is nearing end of service; the "
            "pump stops automatically 90 days later [S17].",
            "S15 (non-critical), S17",
        ),
        _spec(
            AlarmKind.EOS,
            Priority.CRITICAL,
            DeliveryResponse.STOP,
            "pump replacement",
            "End of service: delivery has stopped for good [S17].",
            "S15 (critical), S17",
        ),
        _spec(
            AlarmKind.LOW_BATTERY_RESET,
            Priority.CRITICAL,
            DeliveryResponse.MINIMUM_RATE,
            "pump replacement",
            "The battery voltage fell so low that the electronics reset; the flow rate is "
            "reset to the minimum rate [S18].",
            "S15 (critical), S18",
        ),
        _spec(
            AlarmKind.MOTOR_STALL,
            Priority.CRITICAL,
            DeliveryResponse.SUSPENDED,
            "the motor turning again (retried at every self-check)",
            "The motor did not complete its strokes; no drug is delivered until it turns.",
            f"S12, S39; priority: {_MODEL}",
        ),
        _spec(
            AlarmKind.MEMORY_ERROR,
            Priority.CRITICAL,
            DeliveryResponse.MINIMUM_RATE,
            "a successful prescription write (every record rewritten)",
            "A non-volatile record failed its checksum; the pump cannot trust its "
            "prescription and runs at the minimum rate (defined safe state).",
            _MODEL,
        ),
        _spec(
            AlarmKind.FLOW_VALVE_CLOSED,
            Priority.CRITICAL,
            DeliveryResponse.SUSPENDED,
            "the flow-valve reset procedure (ResetFlowValve)",
            "The flow-activated safety valve closed in a strong magnetic field; no drug "
            "flows until it is reset [S30].",
            f"S30; priority: {_MODEL}",
        ),
        _spec(
            AlarmKind.ALARM_TEST,
            Priority.NON_CRITICAL,
            DeliveryResponse.CONTINUE,
            "ends by itself",
            "Clinician-run test: every tone sounds once so the patient knows them [S18].",
            "S18",
            tones=(Tone.TWO_TONE, Tone.SINGLE_TONE),
            repeats=False,
        ),
    )
}


def alarm_kind(text: str) -> AlarmKind | None:
    """The alarm kind named by `text` (e.g. "low_reservoir"), or None."""
    try:
        return AlarmKind(text.strip().lower())
    except ValueError:
        return None


@dataclass(frozen=True)
class ActiveAlarm:
    """An alarm the firmware has raised and whose condition has not cleared."""

    kind: AlarmKind
    raised_at: datetime  # pump local time
    raised_ticks: int
    acknowledged_at: datetime | None = None
    acknowledged_ticks: int | None = None

    @property
    def sounding(self) -> bool:
        return self.acknowledged_at is None and ALARM_CATALOGUE[self.kind].repeats


register(AlarmKind, Priority, Tone, DeliveryResponse, AlarmSpec, ActiveAlarm)
