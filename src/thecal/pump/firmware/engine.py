"""The delivery engine: time advances only here, from event to event.

`run_until` handles every due event (bolus ends, a single bolus done, end of service,
self-checks, reservoir thresholds), then delivers up to the next one. Stroke mode walks
the schedule segment by segment and moves whole strokes; analytic mode integrates in
closed form and moves exactly the programmed volume. Both read the programme from one
`programmed.ProgrammedDelivery`.
"""

from __future__ import annotations

from fractions import Fraction

from thecal.pump.alarms import AlarmKind
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.alarm_control import next_threshold, raise_alarm, threshold_due
from thecal.pump.firmware.core import FirmwareCore, FirmwareRestart, SimulationMode
from thecal.pump.firmware.delivery_state import (
    cancel_bolus,
    delivering,
    end_bolus,
    set_state,
    single_bolus_end,
)
from thecal.pump.firmware.programmed import NEVER
from thecal.pump.firmware.self_check import self_check
from thecal.pump.hardware import DriveStatus
from thecal.pump.payloads import TherapyState
from thecal.pump.records import BootCause, Cause

__all__ = ["accrue", "hardware_changed", "run_until"]


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def run_until(fw: FirmwareCore, end: int) -> None:
    """Advance to oscillator tick `end`, delivering and handling every event on the way."""
    while True:
        _process_due(fw)
        if fw.ram.ticks >= end:
            return
        _deliver_until(fw, min(end, _next_timed_event(fw)))


def hardware_changed(fw: FirmwareCore) -> None:
    """The hardware's conditions changed (a fault boundary): poll the sensors and probe
    the motor at the next stroke."""
    r = fw.ram
    r.probe = True
    if not fw.electronic:
        return
    field = fw.hw.magnet_detected(r.ticks)
    if field and not r.field_present:
        r.field_present = True
        cancel_bolus(fw, "a strong magnetic field suspended infusion")
        fw.log_event(LogKind.MRI_FIELD, "strong magnetic field detected: infusion suspended")
        sounding = [a.kind.value for a in r.therapy.alarms if a.sounding]
        if fw.profile.mri_alarm_latch.value and sounding and not r.therapy.mri_latched:
            r.therapy.mri_latched = True
            fw.log_event(
                LogKind.MRI_HOLD,
                "the field came while an alarm was sounding: infusion will not resume "
                "until the pump is interrogated",
                alarms=",".join(sounding),
            )
        fw.save_therapy()
    elif not field and r.field_present:
        r.field_present = False
        fw.log_event(LogKind.MRI_FIELD, "magnetic field gone")
    if fw.hw.flow_valve_closed() and not r.therapy.valve_closed:
        r.therapy.valve_closed = True
        raise_alarm(fw, AlarmKind.FLOW_VALVE_CLOSED)


def _next_timed_event(fw: FirmwareCore) -> int:
    r = fw.ram
    t = r.next_check if fw.electronic else NEVER
    if r.overlay is not None:
        t = min(t, r.overlay.end)
    end = single_bolus_end(fw)
    if end is not None:
        t = min(t, end)
    if r.therapy.eos_ticks is not None and r.therapy.state is not TherapyState.END_OF_SERVICE:
        t = min(t, r.therapy.eos_ticks)
    return t


def _process_due(fw: FirmwareCore) -> None:
    r = fw.ram
    for _ in range(64):  # each pass resolves at least one due item
        now = r.ticks
        overlay = r.overlay
        if overlay is not None and overlay.end <= now:
            end_bolus(fw, overlay)
            continue
        end = single_bolus_end(fw)
        if end is not None and end <= now:
            set_state(fw, TherapyState.STOPPED, Cause.SINGLE_BOLUS_DONE)
            fw.save_therapy()
            continue
        if (
            r.therapy.eos_ticks is not None
            and now >= r.therapy.eos_ticks
            and r.therapy.state is not TherapyState.END_OF_SERVICE
        ):
            raise_alarm(fw, AlarmKind.EOS, cause=Cause.END_OF_SERVICE)
            continue
        if fw.electronic and now >= r.next_check:
            r.next_check += fw.check_us * max(1, (now - r.next_check) // fw.check_us + 1)
            self_check(fw)
            continue
        if fw.electronic and threshold_due(fw):
            continue
        return
    raise RuntimeError("firmware event processing did not settle")  # a bug, not a state


def _deliver_until(fw: FirmwareCore, target: int) -> None:
    r = fw.ram
    if not delivering(fw):
        r.ticks = target
        return
    if fw.mode is SimulationMode.STROKES:
        _strokes_until(fw, target)
    else:
        _analytic_until(fw, target)


# -- stroke-level integration: walk the programme's pieces ------------------------------
def _strokes_until(fw: FirmwareCore, target: int) -> None:
    r = fw.ram
    programme = fw.programmed()  # constant until an interruption ends this call
    a = r.ticks
    while a < target:
        rate, until = programme.rate_at(a)
        b = min(target, until)
        stop = False
        if rate > 0:
            level = next_threshold(fw)
            if level is not None:
                need = r.therapy.estimate - level
                if need <= rate * (b - a):
                    b = a + _ceil(need / rate)
                    stop = True
            if r.probe:
                to_stroke = fw.stroke - r.carry
                if to_stroke <= rate * (b - a):
                    b = min(b, a + _ceil(to_stroke / rate))
                    stop = True
            r.ticks = b  # the strokes complete at `b`: what they raise happens then
            interrupted = accrue(fw, rate * (b - a), b)
            stop = stop or interrupted
        a = b
        r.ticks = b
        if stop:
            return
    r.ticks = target


# -- analytic integration: closed form to the next threshold crossing --------------------
def _analytic_until(fw: FirmwareCore, target: int) -> None:
    r = fw.ram
    programme = fw.programmed()
    a = r.ticks
    b = target
    level = next_threshold(fw)
    if level is not None:
        crossing = programme.time_to_move(a, r.therapy.estimate - level)
        if crossing is not None and crossing <= target:
            b = _ceil(crossing)
    volume = programme.volume(a, b)
    r.ticks = b
    accrue(fw, volume, b)


# -- moving fluid ----------------------------------------------------------------------
def accrue(fw: FirmwareCore, volume: Fraction, at: int) -> bool:
    """Account `volume` mL of programmed delivery ending at tick `at` and move it.
    Returns True when the hardware interrupted delivery (stall, valve, reset)."""
    if volume <= 0:
        return False
    r = fw.ram
    r.therapy.estimate -= volume
    r.therapy.programmed += volume
    if fw.mode is SimulationMode.STROKES:
        r.carry += volume
        whole = r.carry // fw.stroke
        if whole == 0:
            if r.therapy.estimate < 0:
                r.therapy.estimate = Fraction(0)
            return False
        strokes = Fraction(whole)
        r.carry -= strokes * fw.stroke
    else:
        strokes = volume / fw.stroke
    result = fw.hw.drive(strokes, at)
    if result.status is DriveStatus.OK:
        r.probe = False
        if r.therapy.estimate < 0:
            r.therapy.estimate = Fraction(0)
        return False
    missing = (strokes - result.completed) * fw.stroke
    r.therapy.estimate += missing
    r.therapy.programmed -= missing
    if r.therapy.estimate < 0:
        r.therapy.estimate = Fraction(0)
    if result.status is DriveStatus.STALLED:
        r.motor_stalled = True
        r.probe = False
        cancel_bolus(fw, "the motor stalled")
        raise_alarm(fw, AlarmKind.MOTOR_STALL)
    elif result.status is DriveStatus.VALVE_CLOSED:
        r.therapy.valve_closed = True
        raise_alarm(fw, AlarmKind.FLOW_VALVE_CLOSED)
    elif result.status is DriveStatus.BROWNOUT or result.status is DriveStatus.DEAD:
        raise FirmwareRestart(BootCause.LOW_BATTERY)
    return True
