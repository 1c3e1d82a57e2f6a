"""Raising and clearing alarms, and the reservoir thresholds that raise them.

What each alarm is (priority, tones, delivery response) is the catalogue in
`thecal.pump.alarms`; this module applies it to the running firmware. A delivery
response only ever reduces delivery: an alarm never restarts a stopped pump.
"""

from __future__ import annotations

from fractions import Fraction

from thecal.pump.alarms import ALARM_CATALOGUE, ActiveAlarm, AlarmKind, DeliveryResponse
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import cancel_bolus, set_state
from thecal.pump.payloads import TherapyState
from thecal.pump.records import Cause

__all__ = [
    "active_kinds",
    "clear_alarm",
    "enter_memory_error",
    "next_threshold",
    "raise_alarm",
    "threshold_due",
]


def active_kinds(fw: FirmwareCore) -> set[AlarmKind]:
    return {alarm.kind for alarm in fw.ram.therapy.alarms}


def raise_alarm(fw: FirmwareCore, kind: AlarmKind, cause: Cause | None = None) -> None:
    """Raise `kind` (once: an active alarm is not raised again) and apply its delivery
    response; `cause` is the therapy-state cause the response records."""
    if not fw.electronic:
        return
    r = fw.ram
    if kind in active_kinds(fw):
        return
    spec = ALARM_CATALOGUE[kind]
    r.therapy.alarms = (*r.therapy.alarms, ActiveAlarm(kind, fw.local(), r.ticks))
    fw.log_event(
        LogKind.ALARM_RAISED,
        f"{spec.priority.value.replace('_', '-')} alarm: {kind.value.replace('_', ' ')}",
        alarm=kind.value,
        priority=spec.priority.value,
        response=spec.response.value,
    )
    if spec.response is DeliveryResponse.MINIMUM_RATE:
        # A response only ever reduces delivery: a stopped pump stays stopped.
        if r.therapy.state in (TherapyState.RUNNING, TherapyState.MINIMUM_RATE):
            set_state(fw, TherapyState.MINIMUM_RATE, cause or Cause.COMMAND)
    elif spec.response is DeliveryResponse.STOP:
        set_state(fw, TherapyState.END_OF_SERVICE, cause or Cause.END_OF_SERVICE)
    elif spec.response is DeliveryResponse.SUSPENDED:
        cancel_bolus(fw, f"{kind.value.replace('_', ' ')}")
    fw.save_therapy()


def clear_alarm(fw: FirmwareCore, kind: AlarmKind, why: str) -> None:
    """Clear `kind` if it is active, logging `why`."""
    r = fw.ram
    if kind not in active_kinds(fw):
        return
    r.therapy.alarms = tuple(alarm for alarm in r.therapy.alarms if alarm.kind is not kind)
    fw.log_event(
        LogKind.ALARM_CLEARED,
        f"alarm cleared: {kind.value.replace('_', ' ')} ({why})",
        alarm=kind.value,
    )
    fw.save_therapy()


def threshold_due(fw: FirmwareCore) -> bool:
    """Raise the empty or low-reservoir alarm if the estimate has reached its level
    (True if one was raised)."""
    r = fw.ram
    active = active_kinds(fw)
    if r.therapy.estimate <= fw.empty and AlarmKind.EMPTY_RESERVOIR not in active:
        raise_alarm(fw, AlarmKind.EMPTY_RESERVOIR, cause=Cause.EMPTY_RESERVOIR)
        return True
    low = r.settings.low_reservoir_threshold.amount
    if r.therapy.estimate <= low and AlarmKind.LOW_RESERVOIR not in active:
        raise_alarm(fw, AlarmKind.LOW_RESERVOIR)
        return True
    return False


def next_threshold(fw: FirmwareCore) -> Fraction | None:
    """The estimate level (mL) whose crossing is the next alarm (None if none ahead)."""
    if not fw.electronic:
        return None
    r = fw.ram
    active = active_kinds(fw)
    levels = []
    if AlarmKind.LOW_RESERVOIR not in active:
        levels.append(r.settings.low_reservoir_threshold.amount)
    if AlarmKind.EMPTY_RESERVOIR not in active:
        levels.append(fw.empty)
    ahead = [level for level in levels if level < r.therapy.estimate]
    return max(ahead) if ahead else None


def enter_memory_error(fw: FirmwareCore, records: str) -> None:
    """An unreadable record: the defined safe state (minimum rate, critical alarm)."""
    r = fw.ram
    r.memory_error = True
    fw.log_event(
        LogKind.DELIVERY_CHANGED,
        f"memory error in {records}: entering the safe state (minimum rate)",
        records=records,
    )
    raise_alarm(fw, AlarmKind.MEMORY_ERROR, cause=Cause.MEMORY_ERROR)
