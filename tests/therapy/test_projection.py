"""Reservoir projection: closed form over the schedule, checked against an independent
minute-by-minute integration, and every edge case of the refill date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.projection import (
    RefillLimit,
    constant_pattern,
    prescription_pattern,
    project_reservoir,
)
from thecal.therapy.quantities import Duration, Volume, VolumeRate
from thecal.therapy.units import parse_volume, parse_volume_rate

from .builders import PUMP, T0, flex, minimum, patient, periodic, single, stopped
from .strategies import concentrations, dose_rates, masses

MICROS = 1_000_000
DAY = 86400

# ---------------------------------------------------------------------------
# An independent model of what a prescription delivers, minute by minute.


def programmed_rate(rx: Prescription, second_of_day: int) -> Fraction:
    """mcg/day the schedule runs at a local time, read straight off the prescription."""
    s = second_of_day % DAY
    if rx.mode is Mode.STOPPED:
        return Fraction(0)
    if rx.mode is Mode.SIMPLE_CONTINUOUS:
        assert rx.rate is not None
        return rx.rate.amount
    if rx.mode is Mode.FLEX:
        return [step for step in rx.steps if step.start.seconds <= s][-1].dose_rate.amount
    assert rx.mode is Mode.PERIODIC_BOLUS and rx.periodic is not None
    total = rx.rate.amount if rx.rate is not None else Fraction(0)
    bolus = rx.periodic.bolus
    length = int(bolus.duration.seconds)
    interval = int(rx.periodic.interval.seconds)
    for k in range(DAY // interval):
        begin = rx.periodic.first_start.seconds + k * interval
        if (s - begin) % DAY < length:
            total += bolus.dose.amount * DAY / length
    return total


def patient_rate(rx: Prescription, elapsed: int) -> Fraction:
    """mcg/day of worst-case patient boluses, `elapsed` seconds after the start."""
    pb = rx.patient_bolus
    if pb is None:
        return Fraction(0)
    length, lockout = int(pb.duration.seconds), int(pb.lockout.seconds)
    total = Fraction(0)
    for day in (elapsed // DAY - 1, elapsed // DAY):
        for i in range(pb.worst_case_count_per_24h()):
            begin = day * DAY + i * lockout
            if begin <= elapsed < begin + length:
                total += pb.dose.amount * DAY / length
    return total


def integrate(rx: Prescription, start: datetime, seconds: int, boluses: bool = True) -> Fraction:
    """mL moved in the first `seconds`, summing whole minutes (the rate is constant within
    each minute because every schedule time here is on a whole minute)."""
    offset = start.hour * 3600 + start.minute * 60
    total = Fraction(0)
    whole, rest = divmod(seconds, 60)
    for minute in range(whole + (1 if rest else 0)):
        elapsed = minute * 60
        rate = programmed_rate(rx, offset + elapsed)
        if boluses:
            rate += patient_rate(rx, elapsed)
        span = 60 if minute < whole else rest
        total += rate * span / DAY
    return total / rx.concentration.amount


@st.composite
def minute_schedules(draw: st.DrawFn) -> Prescription:
    """Flex, continuous or periodic schedules whose every time is on a whole minute."""
    from thecal.therapy.prescription import (
        Bolus,
        FlexStep,
        PatientBolus,
        PeriodicBolus,
        TimeOfDay,
    )

    mode = draw(st.sampled_from([Mode.FLEX, Mode.SIMPLE_CONTINUOUS, Mode.PERIODIC_BOLUS]))
    concentration = draw(concentrations)
    pb = None
    if draw(st.booleans()):
        length = draw(st.integers(1, 90))
        pb = PatientBolus(
            draw(masses),
            Duration.from_minutes(length),
            Duration.from_minutes(draw(st.integers(length, 26 * 60))),
            draw(st.integers(1, 12)),
        )
    if mode is Mode.FLEX:
        count = draw(st.integers(1, 24))
        starts = sorted(draw(st.sets(st.integers(1, 1439), min_size=count - 1,
                                     max_size=count - 1)))  # fmt: skip
        steps = tuple(FlexStep(TimeOfDay(m), draw(dose_rates)) for m in [0, *starts])
        return Prescription("morphine", concentration, mode, steps=steps, patient_bolus=pb)
    if mode is Mode.SIMPLE_CONTINUOUS:
        return Prescription("morphine", concentration, mode, rate=draw(dose_rates),
                            patient_bolus=pb)  # fmt: skip
    interval_h = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24]))
    length = draw(st.integers(1, interval_h * 60))
    periodic_bolus = PeriodicBolus(
        Bolus(draw(masses), Duration.from_minutes(length)),
        Duration.from_hours(interval_h),
        TimeOfDay(draw(st.integers(0, 1439))),
    )
    background = draw(st.none() | dose_rates)
    return Prescription("morphine", concentration, mode, rate=background,
                        periodic=periodic_bolus, patient_bolus=pb)  # fmt: skip


starts = st.integers(0, 1439).map(lambda m: T0.replace(hour=m // 60, minute=m % 60))


@given(rx=minute_schedules(), start=starts, seconds=st.integers(0, 2 * DAY + 3600),
       boluses=st.booleans())  # fmt: skip
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_projection_equals_the_schedule_integrated_over_time(
    rx: Prescription, start: datetime, seconds: int, boluses: bool
) -> None:
    pattern = prescription_pattern(rx, start, include_patient_boluses=boluses)
    assert pattern.volume_until(seconds * MICROS) == integrate(rx, start, seconds, boluses)


@given(rx=minute_schedules(), start=starts, share=st.fractions(0, 5, max_denominator=1000))
@settings(max_examples=80, deadline=None)
def test_the_time_to_move_a_volume_is_the_earliest_time_that_moves_it(
    rx: Prescription, start: datetime, share: Fraction
) -> None:
    pattern = prescription_pattern(rx, start)
    volume = pattern.per_period * share
    moment = pattern.time_to_move(volume)
    if pattern.per_period == 0:
        assert moment is None or volume == 0
        return
    assert moment is not None
    assert pattern.volume_until(moment) == volume
    if volume > 0:
        assert pattern.volume_until(moment - Fraction(1, 1000)) < volume


@given(rx=minute_schedules(), start=starts)
@settings(max_examples=60, deadline=None)
def test_worst_case_patient_boluses_never_make_the_alarm_later(
    rx: Prescription, start: datetime
) -> None:
    fill, alarm = Volume.from_ml(20), Volume.from_ml(2)
    worst = project_reservoir(prescription_pattern(rx, start), fill, alarm, start)
    plain = project_reservoir(prescription_pattern(rx, start, include_patient_boluses=False),
                              fill, alarm, start)  # fmt: skip
    if plain.low_alarm_at is not None:
        assert worst.low_alarm_at is not None and worst.low_alarm_at <= plain.low_alarm_at


# ---------------------------------------------------------------------------
# Edge cases


def test_a_constant_rate_empties_in_exactly_fill_over_rate() -> None:
    projection = project_reservoir(
        constant_pattern(parse_volume_rate("0.5 mL/day")), Volume.from_ml(20), Volume.from_ml(2), T0
    )
    assert projection.days_to_low_alarm == 36
    assert projection.days_to_empty == 40
    assert projection.low_alarm_at == T0 + timedelta(days=36)
    assert projection.limited_by is RefillLimit.ALARM


def test_naive_pump_clock_times_have_no_daylight_saving() -> None:
    # 28 March 2026 12:00 to 31 March: a European DST change happens in between, but the
    # pump's clock does not follow it: exactly 3 × 24 h.
    start = datetime(2026, 3, 28, 12, 0)
    projection = project_reservoir(
        constant_pattern(parse_volume_rate("1 mL/day")), Volume.from_ml(3), Volume.zero(), start
    )
    assert projection.empty_at == datetime(2026, 3, 31, 12, 0)


class CentralEurope(tzinfo):
    """UTC+1, and UTC+2 from 29 March 2026 02:00 (a fixed rule, for the test only)."""

    def utcoffset(self, moment: datetime | None) -> timedelta:
        return timedelta(hours=1) + self.dst(moment)

    def dst(self, moment: datetime | None) -> timedelta:
        if moment is None:
            return timedelta(0)
        change = datetime(2026, 3, 29, 2, 0)
        return timedelta(hours=1) if moment.replace(tzinfo=None) >= change else timedelta(0)

    def tzname(self, moment: datetime | None) -> str:
        return "CEST" if self.dst(moment) else "CET"


def test_a_zoned_start_projects_on_real_elapsed_time_across_a_dst_change() -> None:
    start = datetime(2026, 3, 28, 12, 0, tzinfo=CentralEurope())
    projection = project_reservoir(
        constant_pattern(parse_volume_rate("1 mL/day")), Volume.from_ml(3), Volume.zero(), start,
        stability=Duration.from_days(2),
    )  # fmt: skip
    assert projection.empty_at is not None and projection.stability_limit_at is not None
    assert projection.empty_at.astimezone(UTC) == start.astimezone(UTC) + timedelta(days=3)
    assert projection.empty_at.hour == 13  # the wall clock moved on an hour
    assert projection.days_to_empty == 3
    assert projection.stability_limit_at.astimezone(UTC) == start.astimezone(UTC) + timedelta(2)


def test_a_stopped_pump_never_alarms_and_is_refilled_for_stability() -> None:
    pattern = prescription_pattern(stopped("baclofen", "500 mcg/mL"), T0)
    projection = project_reservoir(pattern, Volume.from_ml(20), Volume.from_ml(2), T0,
                                   stability=Duration.from_days(77))  # fmt: skip
    assert projection.low_alarm_at is None and projection.empty_at is None
    assert projection.refill_by == T0 + timedelta(days=77)
    assert projection.limited_by is RefillLimit.STABILITY


def test_a_stopped_pump_without_a_stability_limit_has_no_refill_date() -> None:
    pattern = prescription_pattern(stopped("baclofen", "500 mcg/mL"), T0)
    projection = project_reservoir(pattern, Volume.from_ml(20), Volume.from_ml(2), T0)
    assert projection.refill_by is None and projection.limited_by is None


def test_minimum_rate_mode_runs_at_the_pump_minimum() -> None:
    pattern = prescription_pattern(minimum("morphine", "10 mg/mL"), T0, PUMP.minimum_rate.value)
    assert pattern.average_rate() == PUMP.minimum_rate.value


def test_minimum_rate_mode_needs_the_pump_minimum() -> None:
    with pytest.raises(ValueError, match="minimum rate"):
        prescription_pattern(minimum("morphine", "10 mg/mL"), T0)


def test_a_single_bolus_moves_its_volume_once_and_never_empties_a_larger_fill() -> None:
    rx = single("morphine", "10 mg/mL", "1 mg", "1 h")  # 0.1 mL over an hour
    projection = project_reservoir(prescription_pattern(rx, T0), Volume.from_ml(1),
                                   parse_volume("0.95 mL"), T0)  # fmt: skip
    assert projection.low_alarm_at == T0 + timedelta(minutes=30)
    assert projection.empty_at is None
    pattern = prescription_pattern(rx, T0)
    assert pattern.volume_until(10 * DAY * MICROS) == Fraction(1, 10)


def test_a_single_bolus_larger_than_the_fill_empties_the_pump_during_the_bolus() -> None:
    rx = single("morphine", "10 mg/mL", "1 mg", "1 h")
    projection = project_reservoir(prescription_pattern(rx, T0), parse_volume("0.05 mL"),
                                   Volume.zero(), T0)  # fmt: skip
    assert projection.empty_at == T0 + timedelta(minutes=30)


def test_periodic_boluses_are_part_of_the_projection() -> None:
    rx = periodic("morphine", "10 mg/mL", "1 mg", "1 h", "6 h", background="2.4 mg/day")
    pattern = prescription_pattern(rx, T0)
    assert pattern.per_period == Fraction(64, 100)  # 0.24 + 4 × 0.1 mL a day


@pytest.mark.parametrize("fill", ["2 mL", "1.5 mL"])
def test_a_fill_at_or_below_the_alarm_threshold_alarms_at_once(fill: str) -> None:
    pattern = constant_pattern(parse_volume_rate("1 mL/day"))
    projection = project_reservoir(pattern, parse_volume(fill), Volume.from_ml(2), T0)
    assert projection.low_alarm_at == T0
    assert projection.refill_by == T0


def test_an_empty_fill_is_empty_at_the_start() -> None:
    projection = project_reservoir(constant_pattern(parse_volume_rate("1 mL/day")),
                                   Volume.zero(), Volume.zero(), T0)  # fmt: skip
    assert projection.empty_at == T0


def test_stability_shorter_than_the_alarm_sets_the_refill_date() -> None:
    projection = project_reservoir(constant_pattern(parse_volume_rate("0.1 mL/day")),
                                   Volume.from_ml(20), Volume.from_ml(2), T0,
                                   stability=Duration.from_days(14))  # fmt: skip
    assert projection.limited_by is RefillLimit.STABILITY
    assert projection.days_to_refill == 14


def test_an_alarm_on_the_same_instant_as_the_stability_limit_is_reported_as_the_alarm() -> None:
    projection = project_reservoir(constant_pattern(parse_volume_rate("1 mL/day")),
                                   Volume.from_ml(16), Volume.from_ml(2), T0,
                                   stability=Duration.from_days(14))  # fmt: skip
    assert projection.limited_by is RefillLimit.ALARM


def test_projected_times_are_rounded_down_to_the_microsecond_never_later() -> None:
    rate = VolumeRate(Fraction(1, 3))  # 1 mL every 3 days: 1 mL takes 259200 s exactly
    projection = project_reservoir(constant_pattern(rate), Volume(Fraction(1, 7)),
                                   Volume.zero(), T0)  # fmt: skip
    exact = Fraction(3 * DAY, 7)  # seconds
    assert projection.empty_at is not None
    shown = Fraction((projection.empty_at - T0) // timedelta(microseconds=1), MICROS)
    assert shown <= exact < shown + Fraction(1, MICROS)


def test_negative_fills_are_misuse() -> None:
    with pytest.raises(ValueError):
        project_reservoir(constant_pattern(VolumeRate.zero()), Volume.from_ml(-1),
                          Volume.zero(), T0)  # fmt: skip


def test_a_flex_schedule_is_aligned_to_the_start_time_of_day() -> None:
    rx = flex("morphine", "10 mg/mL", ("00:00", "0 mg/day"), ("12:00", "2.4 mg/day"))
    at_noon = prescription_pattern(rx, T0.replace(hour=12))
    at_midnight = prescription_pattern(rx, T0.replace(hour=0))
    twelve_hours = 12 * 3600 * MICROS
    assert at_noon.volume_until(twelve_hours) == Fraction(12, 100)
    assert at_midnight.volume_until(twelve_hours) == 0


def test_patient_boluses_are_taken_as_early_as_the_lockout_allows() -> None:
    rx = flex(
        "morphine", "10 mg/mL", ("00:00", "0 mg/day"), patient=patient("1 mg", "10 min", "3 h", 2)
    )
    pattern = prescription_pattern(rx, T0)
    assert pattern.volume_until(10 * 60 * MICROS) == Fraction(1, 10)
    assert pattern.volume_until(3 * 3600 * MICROS) == Fraction(1, 10)
    assert pattern.volume_until((3 * 3600 + 600) * MICROS) == Fraction(2, 10)
    assert pattern.volume_until(DAY * MICROS) == Fraction(2, 10)


def test_a_rate_too_low_to_empty_before_the_calendar_ends_never_alarms() -> None:
    rate = VolumeRate(Fraction(1, 10**9))
    projection = project_reservoir(constant_pattern(rate), Volume.from_ml(20), Volume.from_ml(2),
                                   T0, stability=Duration.from_days(40))  # fmt: skip
    assert projection.low_alarm_at is None and projection.empty_at is None
    assert projection.limited_by is RefillLimit.STABILITY
