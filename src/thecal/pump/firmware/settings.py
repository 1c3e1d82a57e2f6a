"""Clock and alarm commands: set the clock, alarm settings, acknowledge an alarm, the
alarm test."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from thecal.pump.alarms import ALARM_CATALOGUE, AlarmKind, alarm_kind
from thecal.pump.commands import (
    Accepted,
    AcknowledgeAlarm,
    AlarmTest,
    Rejected,
    Rejection,
    Response,
    SetAlarmSettings,
    SetClock,
)
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.alarm_control import clear_alarm
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.payloads import (
    AlarmAcknowledged,
    AlarmSettings,
    AlarmTestResult,
    ClockChange,
    TherapyState,
)
from thecal.pump.timebase import from_us, to_us, us_duration
from thecal.therapy.prescription import Mode
from thecal.therapy.quantities import Volume

__all__ = ["acknowledge", "alarm_test", "set_alarm_settings", "set_clock"]


def set_clock(fw: FirmwareCore, command: SetClock) -> Response:
    """Set the local wall clock; the answer says how much programmed volume the jump
    skipped or will run again."""
    r = fw.ram
    if command.local_time.tzinfo is not None:
        return Rejected(
            Rejection.INVALID_ARGUMENT,
            "the pump keeps naive local time: send the local wall-clock time without a zone",
        )
    before = r.ticks + r.therapy.clock_offset
    after = to_us(command.local_time)
    skipped, repeated = _clock_effect(fw, before, after)
    r.therapy.clock_offset = after - r.ticks
    jump = us_duration(after - before)
    fw.log_event(
        LogKind.CLOCK_SET,
        f"clock set from {from_us(before)} to {from_us(after)} ({jump})",
        previous=from_us(before).isoformat(),
        new=from_us(after).isoformat(),
    )
    fw.save_therapy()
    return Accepted(
        "clock set",
        ClockChange(from_us(before), from_us(after), jump, Volume(skipped), Volume(repeated)),
    )


def _clock_effect(fw: FirmwareCore, before: int, after: int) -> tuple[Fraction, Fraction]:
    """Programmed volume skipped (clock forward) or run again (clock back) by a jump of
    the local clock from `before` to `after` (µs)."""
    r = fw.ram
    rx = r.prescription
    if r.therapy.state is not TherapyState.RUNNING or rx is None or rx.mode is Mode.SINGLE_BOLUS:
        return Fraction(0), Fraction(0)
    now, landing = r.ticks, r.ticks + (after - before)  # `after` on the old clock
    moved = fw.programmed(with_bolus=False).volume(min(now, landing), max(now, landing))
    return (moved, Fraction(0)) if after >= before else (Fraction(0), moved)


def set_alarm_settings(fw: FirmwareCore, command: SetAlarmSettings) -> Response:
    r = fw.ram
    threshold = command.low_reservoir_threshold
    capacity = fw.profile.capacity
    if not (fw.empty < threshold.amount < capacity.amount):
        return Rejected(
            Rejection.INVALID_ARGUMENT,
            f"low-reservoir threshold {threshold} must be above the empty level "
            f"{Volume(fw.empty)} and below the capacity {capacity}",
        )
    if not (60 <= command.critical_repeat.seconds <= 86_400):
        return Rejected(
            Rejection.INVALID_ARGUMENT,
            f"critical repeat {command.critical_repeat} must be from 1 min to 24 h",
        )
    settings = AlarmSettings(threshold, command.critical_repeat)
    fw.commit("settings", settings)
    r.settings = settings
    fw.log_event(
        LogKind.SETTINGS_CHANGED,
        f"alarm settings: low reservoir at {threshold}, critical repeat {command.critical_repeat}",
    )
    if r.therapy.estimate > threshold.amount:
        clear_alarm(fw, AlarmKind.LOW_RESERVOIR, "threshold lowered")
    return Accepted("alarm settings stored", settings)


def acknowledge(fw: FirmwareCore, command: AcknowledgeAlarm) -> Response:
    """Silence an active alarm (it stays active until its condition clears)."""
    r = fw.ram
    kind = alarm_kind(command.alarm)
    if kind is None:
        accepted = ", ".join(k.value for k in AlarmKind if k is not AlarmKind.ALARM_TEST)
        return Rejected(
            Rejection.NO_SUCH_ALARM, f"unknown alarm {command.alarm!r}; accepted: {accepted}"
        )
    found = next((a for a in r.therapy.alarms if a.kind is kind), None)
    if found is None:
        return Rejected(Rejection.NO_SUCH_ALARM, f"no {kind.value} alarm is active")
    if found.acknowledged_at is None:
        found = replace(found, acknowledged_at=fw.local(), acknowledged_ticks=r.ticks)
        r.therapy.alarms = tuple(found if a.kind is kind else a for a in r.therapy.alarms)
        fw.log_event(
            LogKind.ALARM_ACKNOWLEDGED, f"alarm acknowledged: {kind.value}", alarm=kind.value
        )
        fw.save_therapy()
    assert found.acknowledged_at is not None
    return Accepted("alarm acknowledged", AlarmAcknowledged(kind, found.acknowledged_at))


def alarm_test(fw: FirmwareCore, command: AlarmTest) -> Response:
    tones = ALARM_CATALOGUE[AlarmKind.ALARM_TEST].tones
    fw.log_event(LogKind.ALARM_TEST, "alarm test: " + ", then ".join(t.value for t in tones))
    return Accepted("alarm test sounded", AlarmTestResult(tones))
