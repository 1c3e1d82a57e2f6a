"""The delivery engine: time advances only here, from event to event.

`run_until` handles every due event (bolus ends, a single bolus done, end of service,
self-checks, reservoir thresholds), then delivers up to the next one. Stroke mode walks
the schedule segment by segment and moves whole strokes; analytic mode integrates in
closed form and moves exactly the programmed volume.
"""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction
from functools import lru_cache

from thecal.pump.alarms import AlarmKind
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.alarm_control import next_threshold, raise_alarm, threshold_due
from thecal.pump.firmware.core import INF, FirmwareCore, FirmwareRestart, SimulationMode
from thecal.pump.firmware.delivery_state import (
    cancel_bolus,
    delivering,
    end_bolus,
    set_state,
    single_bolus_end,
)
from thecal.pump.firmware.self_check import self_check
from thecal.pump.hardware import DriveStatus
from thecal.pump.payloads import TherapyState
from thecal.pump.records import BootCause, Cause
from thecal.pump.timebase import DAY_US, EPOCH
from thecal.therapy.delivery import day_profile
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.projection import VolumePattern, prescription_pattern
from thecal.therapy.quantities import VolumeRate

__all__ = ["accrue", "hardware_changed", "rate_segment", "run_until", "schedule_pattern"]


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


@lru_cache(maxsize=256)
def _day_table(
    prescription: Prescription, minimum_rate: VolumeRate
) -> tuple[tuple[int, ...], tuple[Fraction, ...]]:
    """Segment starts (µs after local midnight) and volume rates (mL/µs) of a day."""
    profile = day_profile(prescription, minimum_rate)
    concentration = prescription.concentration.amount
    starts = tuple(segment.start * 1_000_000 for segment in profile.segments)
    rates = tuple(segment.dose_rate.amount / concentration / DAY_US for segment in profile.segments)
    return starts, rates


@lru_cache(maxsize=256)
def schedule_pattern(prescription: Prescription, minimum_rate: VolumeRate) -> VolumePattern:
    """The repeating schedule as a closed-form pattern from local midnight at `EPOCH`."""
    return prescription_pattern(prescription, EPOCH, minimum_rate, include_patient_boluses=False)


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
        sounding = [a.kind.value for a in r.alarms if a.sounding]
        if fw.profile.mri_alarm_latch.value and sounding and not r.mri_latched:
            r.mri_latched = True
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
    if fw.hw.flow_valve_closed() and not r.valve_closed:
        r.valve_closed = True
        raise_alarm(fw, AlarmKind.FLOW_VALVE_CLOSED)


def _next_timed_event(fw: FirmwareCore) -> int:
    r = fw.ram
    t = r.next_check if fw.electronic else INF
    if r.overlay is not None:
        t = min(t, r.overlay.end)
    end = single_bolus_end(fw)
    if end is not None:
        t = min(t, end)
    if r.eos_ticks is not None and r.state is not TherapyState.END_OF_SERVICE:
        t = min(t, r.eos_ticks)
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
            r.eos_ticks is not None
            and now >= r.eos_ticks
            and r.state is not TherapyState.END_OF_SERVICE
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


# -- stroke-level integration: walk the day profile's segments -------------------------
def _strokes_until(fw: FirmwareCore, target: int) -> None:
    r = fw.ram
    a = r.ticks
    while a < target:
        rate, until = rate_segment(fw, a)
        b = min(target, until)
        stop = False
        if rate > 0:
            level = next_threshold(fw)
            if level is not None:
                need = r.estimate - level
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


def rate_segment(fw: FirmwareCore, a: int) -> tuple[Fraction, int]:
    """The programmed volume rate (mL/µs) at tick `a` and the tick it changes."""
    overlay = fw.ram.overlay
    if overlay is not None and overlay.replaces_base:
        return overlay.rate_per_us, overlay.end
    rate, until = _base_segment(fw, a)
    if overlay is not None:
        return rate + overlay.rate_per_us, min(until, overlay.end)
    return rate, until


def _base_segment(fw: FirmwareCore, a: int) -> tuple[Fraction, int]:
    r = fw.ram
    state = r.state
    if state is TherapyState.RUNNING and r.prescription is not None:
        rx = r.prescription
        if rx.mode is Mode.SINGLE_BOLUS:
            end = single_bolus_end(fw)
            assert end is not None and rx.bolus is not None
            if a >= end:
                return Fraction(0), INF
            volume = rx.bolus.dose.amount / rx.concentration.amount
            return volume / (end - r.rx_started), end
        starts, rates = _day_table(rx, fw.min_rate)
        local = a + r.clock_offset
        of_day = local % DAY_US
        index = bisect_right(starts, of_day) - 1
        end_of = starts[index + 1] if index + 1 < len(starts) else DAY_US
        return rates[index], a + (end_of - of_day)
    if state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
        return fw.min_rate_us, INF
    return Fraction(0), INF


# -- analytic integration: the closed-form VolumePattern ------------------------------
def _analytic_until(fw: FirmwareCore, target: int) -> None:
    r = fw.ram
    a = r.ticks
    b = target
    level = next_threshold(fw)
    if level is not None:
        crossing = _analytic_crossing(fw, a, target, r.estimate - level)
        if crossing is not None:
            b = min(target, _ceil(crossing))
    volume = _analytic_volume(fw, a, b)
    r.ticks = b
    accrue(fw, volume, b)


def _analytic_volume(fw: FirmwareCore, a: int, b: int) -> Fraction:
    overlay = fw.ram.overlay
    if overlay is not None and overlay.replaces_base:
        return overlay.rate_per_us * (b - a)
    volume = _analytic_base_volume(fw, a, b)
    if overlay is not None:
        volume += overlay.rate_per_us * (b - a)
    return volume


def _analytic_base_volume(fw: FirmwareCore, a: int, b: int) -> Fraction:
    r = fw.ram
    rx = r.prescription
    if r.state is TherapyState.RUNNING and rx is not None:
        if rx.mode is Mode.SINGLE_BOLUS:
            single = _single_pattern(fw, rx)
            return single.volume_until(b - r.rx_started) - single.volume_until(a - r.rx_started)
        pattern = schedule_pattern(rx, fw.min_rate)
        offset = r.clock_offset
        return pattern.volume_until(b + offset) - pattern.volume_until(a + offset)
    if r.state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
        return fw.min_rate_us * (b - a)
    return Fraction(0)


def _single_pattern(fw: FirmwareCore, rx: Prescription) -> VolumePattern:
    return prescription_pattern(rx, fw.local(fw.ram.rx_started), fw.min_rate)


def _analytic_crossing(fw: FirmwareCore, a: int, b: int, need: Fraction) -> Fraction | None:
    """Exact tick at which `need` mL more has been programmed after `a` (None if not by `b`)."""
    r = fw.ram
    overlay = r.overlay
    if overlay is not None:
        if overlay.replaces_base:
            t = a + need / overlay.rate_per_us
            return t if t <= b else None
        return _walk_crossing(fw, a, min(b, overlay.end), need, overlay.rate_per_us)
    rx = r.prescription
    found: Fraction | None = None
    if r.state is TherapyState.RUNNING and rx is not None:
        if rx.mode is Mode.SINGLE_BOLUS:
            single = _single_pattern(fw, rx)
            moment = single.time_to_move(single.volume_until(a - r.rx_started) + need)
            found = None if moment is None else moment + r.rx_started
        else:
            pattern = schedule_pattern(rx, fw.min_rate)
            offset = r.clock_offset
            moment = pattern.time_to_move(pattern.volume_until(a + offset) + need)
            found = None if moment is None else moment - offset
    elif r.state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
        found = a + need / fw.min_rate_us
    return found if found is not None and found <= b else None


def _walk_crossing(
    fw: FirmwareCore, a: int, b: int, need: Fraction, extra: Fraction
) -> Fraction | None:
    """Crossing under the schedule plus a constant extra rate, piece by piece of the
    schedule's pattern (only while an added bolus runs)."""
    t = a
    remaining = need
    while t < b:
        rate, until = _pattern_segment(fw, t)
        rate += extra
        end = min(b, until)
        if rate > 0 and remaining <= rate * (end - t):
            return t + remaining / rate
        remaining -= rate * (end - t)
        t = end
    return None


def _pattern_segment(fw: FirmwareCore, t: int) -> tuple[Fraction, int]:
    """The schedule's rate (mL/µs) at tick `t` and when it changes, read from the
    closed-form pattern's pieces."""
    r = fw.ram
    rx = r.prescription
    if r.state is TherapyState.RUNNING and rx is not None:
        if rx.mode is Mode.SINGLE_BOLUS:
            single = _single_pattern(fw, rx)
            within = t - r.rx_started
            if within >= single.period:
                return Fraction(0), INF
            return Fraction(single.rates[0], single.scale * DAY_US), r.rx_started + single.period
        pattern = schedule_pattern(rx, fw.min_rate)
        local = t + r.clock_offset
        within = local % pattern.period
        index = bisect_right(pattern.breakpoints, within) - 1
        nxt = (
            pattern.breakpoints[index + 1]
            if index + 1 < len(pattern.breakpoints)
            else pattern.period
        )
        return Fraction(pattern.rates[index], pattern.scale * DAY_US), t + (nxt - within)
    if r.state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
        return fw.min_rate_us, INF
    return Fraction(0), INF


# -- moving fluid ----------------------------------------------------------------------
def accrue(fw: FirmwareCore, volume: Fraction, at: int) -> bool:
    """Account `volume` mL of programmed delivery ending at tick `at` and move it.
    Returns True when the hardware interrupted delivery (stall, valve, reset)."""
    if volume <= 0:
        return False
    r = fw.ram
    r.estimate -= volume
    r.programmed += volume
    if fw.mode is SimulationMode.STROKES:
        r.carry += volume
        whole = r.carry // fw.stroke
        if whole == 0:
            if r.estimate < 0:
                r.estimate = Fraction(0)
            return False
        strokes = Fraction(whole)
        r.carry -= strokes * fw.stroke
    else:
        strokes = volume / fw.stroke
    result = fw.hw.drive(strokes, at)
    if result.status is DriveStatus.OK:
        r.probe = False
        if r.estimate < 0:
            r.estimate = Fraction(0)
        return False
    missing = (strokes - result.completed) * fw.stroke
    r.estimate += missing
    r.programmed -= missing
    if r.estimate < 0:
        r.estimate = Fraction(0)
    if result.status is DriveStatus.STALLED:
        r.motor_stalled = True
        r.probe = False
        cancel_bolus(fw, "the motor stalled")
        raise_alarm(fw, AlarmKind.MOTOR_STALL)
    elif result.status is DriveStatus.VALVE_CLOSED:
        r.valve_closed = True
        raise_alarm(fw, AlarmKind.FLOW_VALVE_CLOSED)
    elif result.status is DriveStatus.BROWNOUT or result.status is DriveStatus.DEAD:
        raise FirmwareRestart(BootCause.LOW_BATTERY)
    return True
