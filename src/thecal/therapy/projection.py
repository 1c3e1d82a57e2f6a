"""Reservoir projection: when the low-reservoir alarm sounds, when the pump runs dry,
and by when it must be refilled.

Closed form over the schedule's pieces, never time-stepping: the volume a
prescription moves is a piecewise-linear function of time that repeats every 24
hours from the start, so the time to move any volume is whole periods plus one
search over a day's pieces. Exact arithmetic throughout; times are rounded
*down* to the microsecond, so a projected alarm or empty time is never later
than the exact one.

Worst-case patient boluses (counted unless switched off) are the most the
settings allow in any 24 hours, taken as early as possible in every 24 hours
from the start: never fewer than a patient can really get.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from math import lcm

from thecal.therapy.delivery import add_window, day_profile, piecewise
from thecal.therapy.local_time import elapsed, shift
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.quantities import SECONDS_PER_DAY, Duration, Volume, VolumeRate

__all__ = [
    "RefillLimit",
    "ReservoirProjection",
    "VolumePattern",
    "constant_pattern",
    "prescription_pattern",
    "project_reservoir",
]

MICROS = 1_000_000
DAY_MICROS = SECONDS_PER_DAY * MICROS


class RefillLimit(StrEnum):
    """Which constraint set the refill-by time."""

    ALARM = "alarm"
    STABILITY = "stability"


@dataclass(frozen=True)
class VolumePattern:
    """Volume rate against time since the start, as pieces over one period.

    Integer arithmetic for speed, exact by construction: piece i begins
    `breakpoints[i]` µs after the start and runs at ``rates[i] / scale`` mL/day;
    ``cumulative[i] / (scale * DAY_MICROS)`` mL has moved before it. With
    `repeats` the pattern repeats every `period` µs; otherwise nothing moves after.
    """

    period: int
    breakpoints: tuple[int, ...]
    rates: tuple[int, ...]
    cumulative: tuple[int, ...]
    scale: int
    repeats: bool = True

    @classmethod
    def from_pieces(
        cls, period: int, pieces: list[tuple[int, int, int]], scale: int, repeats: bool = True
    ) -> VolumePattern:
        """Build from ``(start µs, end µs, rate × scale)`` pieces covering [0, period)."""
        breakpoints: list[int] = []
        rates: list[int] = []
        cumulative = [0]
        for start, end, rate in pieces:
            if rate < 0:
                raise ValueError("a volume rate cannot be negative")
            breakpoints.append(start)
            rates.append(rate)
            cumulative.append(cumulative[-1] + rate * (end - start))
        return cls(period, tuple(breakpoints), tuple(rates), tuple(cumulative), scale, repeats)

    @property
    def per_period(self) -> Fraction:
        """Volume moved in one period (mL)."""
        return Fraction(self.cumulative[-1], self.scale * DAY_MICROS)

    def volume_until(self, micros: int | Fraction) -> Fraction:
        """Volume moved from the start until `micros` µs later (mL)."""
        if micros <= 0:
            return Fraction(0)
        whole: int | Fraction = 0
        within: int | Fraction = micros
        if self.repeats:
            whole, within = divmod(micros, self.period)
        elif micros >= self.period:
            return self.per_period
        index = bisect_right(self.breakpoints, within) - 1
        moved = (
            whole * self.cumulative[-1]
            + self.cumulative[index]
            + self.rates[index] * (within - self.breakpoints[index])
        )
        return Fraction(moved) / (self.scale * DAY_MICROS)

    def time_to_move(self, volume: Fraction) -> Fraction | None:
        """Earliest µs after the start by which `volume` mL has moved; None if never."""
        if volume <= 0:
            return Fraction(0)
        per = self.cumulative[-1]
        if per == 0:
            return None
        target = volume * (self.scale * DAY_MICROS)  # in cumulative units
        if self.repeats:
            periods = -(-target // per) - 1  # whole periods before the crossing one
            remainder = target - periods * per
        else:
            if target > per:
                return None
            periods, remainder = 0, target
        # cumulative[j] < remainder <= cumulative[j + 1]: piece j moves fluid and crosses.
        j = bisect_left(self.cumulative, remainder) - 1
        within = self.breakpoints[j] + (remainder - self.cumulative[j]) / self.rates[j]
        return periods * self.period + within

    def average_rate(self) -> VolumeRate:
        """Long-run volume rate; for a one-off pattern, its volume spread over its period."""
        return VolumeRate(Fraction(self.cumulative[-1], self.scale * self.period))


def constant_pattern(rate: VolumeRate) -> VolumePattern:
    """A constant volume rate for ever."""
    amount = rate.amount
    return VolumePattern.from_pieces(
        DAY_MICROS, [(0, DAY_MICROS, amount.numerator)], amount.denominator
    )


def _micros_of_day(moment: datetime) -> int:
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * MICROS + moment.microsecond


@dataclass(frozen=True)
class _ScaledDay:
    """A prescription's day in integer volume-rate units (cached per prescription)."""

    scale: int
    starts: tuple[int, ...]  # µs after midnight
    rates: tuple[int, ...]  # mL/day × scale
    bolus_rate: int  # patient bolus, mL/day × scale (0 without one)


@lru_cache(maxsize=4096)
def _scaled_day(prescription: Prescription, minimum_rate: VolumeRate | None) -> _ScaledDay:
    concentration = prescription.concentration.amount
    profile = day_profile(prescription, minimum_rate)
    volume_rates = [segment.dose_rate.amount / concentration for segment in profile.segments]
    pb = prescription.patient_bolus
    bolus = (pb.dose / pb.duration).amount / concentration if pb is not None else Fraction(0)
    scale = lcm(*(rate.denominator for rate in volume_rates), bolus.denominator)
    return _ScaledDay(
        scale,
        tuple(segment.start * MICROS for segment in profile.segments),
        tuple(rate.numerator * (scale // rate.denominator) for rate in volume_rates),
        bolus.numerator * (scale // bolus.denominator),
    )


def prescription_pattern(
    prescription: Prescription,
    start: datetime,
    minimum_rate: VolumeRate | None = None,
    include_patient_boluses: bool = True,
) -> VolumePattern:
    """The volume a prescription moves from `start` (the pump's local clock) onward.

    The schedule is aligned to `start`'s time of day and then runs on real elapsed
    time, 24 hours a day, as the pump's own daylight-saving-free clock does; an
    aware `start` is read as the pump clock's reading at that moment.
    `minimum_rate` is the pump model's minimum-rate volume rate (minimum-rate mode only).
    """
    if prescription.mode is Mode.SINGLE_BOLUS:
        assert prescription.bolus is not None
        micros = int(prescription.bolus.duration.seconds) * MICROS
        bolus_rate = (prescription.bolus.dose / prescription.bolus.duration).amount
        bolus_rate /= prescription.concentration.amount
        return VolumePattern.from_pieces(
            micros, [(0, micros, bolus_rate.numerator)], bolus_rate.denominator, repeats=False
        )
    day = _scaled_day(prescription, minimum_rate)
    offset = _micros_of_day(start)
    # Rotate the local day so that the pattern starts at `start`.
    first = bisect_right(day.starts, offset) - 1
    base = {(t - offset) % DAY_MICROS: r for t, r in zip(day.starts, day.rates, strict=True)}
    base[0] = day.rates[first]
    deltas: dict[int, int] = {}
    pb = prescription.patient_bolus
    if include_patient_boluses and pb is not None:
        length = int(pb.duration.seconds) * MICROS
        step = int(pb.lockout.seconds) * MICROS
        for index in range(pb.worst_case_count_per_24h()):
            add_window(deltas, index * step, index * step + length, day.bolus_rate, DAY_MICROS)
    return VolumePattern.from_pieces(DAY_MICROS, piecewise(DAY_MICROS, base, deltas), day.scale)


@dataclass(frozen=True)
class ReservoirProjection:
    """When a filled reservoir reaches the alarm threshold, runs dry, must be refilled."""

    start: datetime
    fill: Volume
    alarm_threshold: Volume
    average_volume_rate: VolumeRate
    low_alarm_at: datetime | None
    empty_at: datetime | None
    stability_limit_at: datetime | None
    refill_by: datetime | None
    limited_by: RefillLimit | None
    includes_patient_boluses: bool

    def _days_until(self, moment: datetime | None) -> Fraction | None:
        if moment is None:
            return None
        return elapsed(self.start, moment).days

    @property
    def days_to_low_alarm(self) -> Fraction | None:
        return self._days_until(self.low_alarm_at)

    @property
    def days_to_empty(self) -> Fraction | None:
        return self._days_until(self.empty_at)

    @property
    def days_to_refill(self) -> Fraction | None:
        return self._days_until(self.refill_by)


def _at(start: datetime, micros: Fraction | None) -> datetime | None:
    """`start` + `micros` µs; None when never, or when past the calendar's end (year 9999)."""
    if micros is None:
        return None
    try:
        return shift(start, timedelta(microseconds=int(micros)))  # int() truncates: never later
    except OverflowError:
        return None


def project_reservoir(
    pattern: VolumePattern,
    fill: Volume,
    alarm_threshold: Volume,
    start: datetime,
    stability: Duration | None = None,
    includes_patient_boluses: bool = True,
) -> ReservoirProjection:
    """Project a reservoir filled with `fill` at `start`, emptied by `pattern`.

    A time that never comes (a stopped pump), or comes only after the year 9999 (a
    rate so low that it is stopped in practice), is None.

    The refill-by time is the earlier of the low-reservoir alarm time and the end
    of the drug's stability (`start + stability`); `limited_by` says which.
    Raises `ValueError` for a negative fill or threshold.
    """
    if fill.amount < 0 or alarm_threshold.amount < 0:
        raise ValueError("fill volume and alarm threshold must not be negative")
    low = _at(start, pattern.time_to_move(fill.amount - alarm_threshold.amount))
    empty = _at(start, pattern.time_to_move(fill.amount)) if fill.amount > 0 else start
    stable_until = _at(start, stability.amount * MICROS) if stability is not None else None
    refill_by: datetime | None
    limited_by: RefillLimit | None
    if low is None and stable_until is None:
        refill_by, limited_by = None, None
    elif stable_until is None or (low is not None and low <= stable_until):
        refill_by, limited_by = low, RefillLimit.ALARM
    else:
        refill_by, limited_by = stable_until, RefillLimit.STABILITY
    return ReservoirProjection(
        start=start,
        fill=fill,
        alarm_threshold=alarm_threshold,
        average_volume_rate=pattern.average_rate(),
        low_alarm_at=low,
        empty_at=empty,
        stability_limit_at=stable_until,
        refill_by=refill_by,
        limited_by=limited_by,
        includes_patient_boluses=includes_patient_boluses,
    )
