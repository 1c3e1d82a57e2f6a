"""What a prescription delivers over time: the one place that turns modes into rates.

Every daily-repeating mode (stopped, minimum rate, simple continuous, flex,
periodic bolus) becomes a `DayProfile`: a piecewise-constant dose rate over one
local day, as exact segments. The safety evaluator, the reservoir projection,
the pump twin's analytic mode and the 24-hour chart all read this one profile.
A single bolus is a one-off and is described by `single_bolus_window`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.quantities import (
    SECONDS_PER_DAY,
    Concentration,
    DoseRate,
    Duration,
    Mass,
    VolumeRate,
)

__all__ = [
    "DayProfile",
    "Segment",
    "add_window",
    "basal_and_bolus_volume_rates",
    "day_profile",
    "patient_bolus_worst_case_daily_dose",
    "piecewise",
    "programmed_daily_dose",
    "volume_rates",
    "worst_case_daily_dose",
]


@dataclass(frozen=True)
class Segment:
    """From `start` to `end` (seconds after local midnight), deliver `dose_rate`."""

    start: int
    end: int
    dose_rate: DoseRate

    @property
    def duration(self) -> Duration:
        return Duration(Fraction(self.end - self.start))

    def dose(self) -> Mass:
        return self.dose_rate.over(self.duration)


@dataclass(frozen=True)
class DayProfile:
    """A day's delivery as ordered, gap-free segments covering [0, 86400) seconds."""

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        if not self.segments or self.segments[0].start != 0:
            raise ValueError("a day profile must start at midnight")
        if self.segments[-1].end != SECONDS_PER_DAY:
            raise ValueError("a day profile must end at midnight")
        for before, after in zip(self.segments, self.segments[1:], strict=False):
            if before.end != after.start:
                raise ValueError("day profile segments must be contiguous")

    def daily_dose(self) -> Mass:
        """Everything delivered in one day."""
        total = Mass.zero()
        for segment in self.segments:
            total = total + segment.dose()
        return total

    def rate_at(self, second_of_day: int | Fraction) -> DoseRate:
        """The programmed dose rate at a moment of the local day."""
        starts = [segment.start for segment in self.segments]
        index = bisect_right(starts, second_of_day % SECONDS_PER_DAY) - 1
        return self.segments[index].dose_rate

    def peak_rate(self) -> DoseRate:
        return max(segment.dose_rate for segment in self.segments)


N = TypeVar("N", int, Fraction)


def add_window(deltas: dict[int, N], start: int, end: int, extra: N, period: int) -> None:
    """Record `extra` added over [start, end) in a periodic timeline, wrapping at `period`."""
    if end > period:
        add_window(deltas, start, period, extra, period)
        add_window(deltas, 0, end - period, extra, period)
        return
    deltas[start] = deltas.get(start, 0) + extra
    deltas[end] = deltas.get(end, 0) - extra


def piecewise(period: int, base: dict[int, N], deltas: dict[int, N]) -> list[tuple[int, int, N]]:
    """Merge a step function and added windows into ordered pieces covering [0, period).

    `base` maps change times to the base value from then on (it must hold time 0);
    `deltas` maps times to amounts added from then on (from `add_window`). Adjacent
    pieces with equal values are joined. Times are integers in any unit.
    """
    times = sorted(t for t in set(base) | set(deltas) | {0} if t < period)
    pieces: list[tuple[int, int, N]] = []
    current_base = base[0]
    added = current_base - current_base  # zero of the same number type
    for index, moment in enumerate(times):
        current_base = base.get(moment, current_base)
        delta = deltas.get(moment)
        if delta is not None:
            added += delta
        # Fraction arithmetic dominates a cold projection: add only when something is added.
        value = current_base + added if added else current_base
        end = times[index + 1] if index + 1 < len(times) else period
        if pieces and pieces[-1][2] == value:
            pieces[-1] = (pieces[-1][0], end, value)
        else:
            pieces.append((moment, end, value))
    return pieces


def day_profile(prescription: Prescription, minimum_rate: VolumeRate | None = None) -> DayProfile:
    """The programmed dose rate over one local day (patient boluses not included).

    `minimum_rate` is the pump model's minimum-rate-mode volume rate; it is needed
    only in minimum-rate mode. A single bolus has no daily profile: `ValueError`.
    """
    mode = prescription.mode
    if mode is Mode.SINGLE_BOLUS:
        raise ValueError("a single bolus does not repeat daily; use single_bolus_window")
    if mode is Mode.STOPPED:
        base = {0: Fraction(0)}
    elif mode is Mode.MINIMUM_RATE:
        if minimum_rate is None:
            raise ValueError("minimum-rate mode needs the pump model's minimum rate")
        base = {0: minimum_rate.to_dose_rate(prescription.concentration).amount}
    elif mode is Mode.SIMPLE_CONTINUOUS:
        assert prescription.rate is not None
        base = {0: prescription.rate.amount}
    elif mode is Mode.FLEX:
        base = {step.start.seconds: step.dose_rate.amount for step in prescription.steps}
    else:  # periodic bolus
        assert prescription.periodic is not None
        base = {0: prescription.rate.amount if prescription.rate is not None else Fraction(0)}
    deltas: dict[int, Fraction] = {}
    if mode is Mode.PERIODIC_BOLUS:
        assert prescription.periodic is not None
        bolus = prescription.periodic.bolus
        seconds = int(bolus.duration.seconds)
        extra = bolus.dose.amount * SECONDS_PER_DAY / seconds  # mcg/day while it runs
        for start in prescription.periodic.starts():
            add_window(deltas, start, start + seconds, extra, SECONDS_PER_DAY)
    pieces = piecewise(SECONDS_PER_DAY, base, deltas)
    return DayProfile(tuple(Segment(a, b, DoseRate(rate)) for a, b, rate in pieces))


def programmed_daily_dose(
    prescription: Prescription, minimum_rate: VolumeRate | None = None
) -> Mass:
    """Dose the pump is programmed to give in a day, without patient boluses.

    A single bolus counts as its whole dose (it is given within a day).
    """
    if prescription.mode is Mode.SINGLE_BOLUS:
        assert prescription.bolus is not None
        return prescription.bolus.dose
    return day_profile(prescription, minimum_rate).daily_dose()


def patient_bolus_worst_case_daily_dose(prescription: Prescription) -> Mass:
    """Most the patient controller can add in any 24 hours."""
    pb = prescription.patient_bolus
    if pb is None:
        return Mass.zero()
    return pb.dose * pb.worst_case_count_per_24h()


def worst_case_daily_dose(
    prescription: Prescription, minimum_rate: VolumeRate | None = None
) -> Mass:
    """Programmed daily dose plus every patient bolus the settings allow in 24 hours.

    For a flex or periodic schedule the programmed part is the dose over a whole
    day, which for a repeating schedule is also the dose in any 24-hour window.
    """
    return programmed_daily_dose(prescription, minimum_rate) + patient_bolus_worst_case_daily_dose(
        prescription
    )


def volume_rates(
    prescription: Prescription, minimum_rate: VolumeRate | None = None
) -> tuple[VolumeRate, ...]:
    """Every distinct volume rate the pump must run for this prescription (mL/day),
    including bolus rates, for checking against the pump's capability."""
    concentration: Concentration = prescription.concentration
    rates: set[Fraction] = set()
    if prescription.mode is Mode.SINGLE_BOLUS:
        assert prescription.bolus is not None
        rates.add((prescription.bolus.dose / prescription.bolus.duration).amount)
    else:
        for segment in day_profile(prescription, minimum_rate).segments:
            rates.add(segment.dose_rate.amount)
    if prescription.patient_bolus is not None:
        # A patient bolus runs on top of the programmed rate: check the sum at its peak.
        pb = prescription.patient_bolus
        rates.add((pb.dose / pb.duration).amount + max(rates, default=Fraction(0)))
    return tuple(DoseRate(rate).to_volume_rate(concentration) for rate in sorted(rates) if rate > 0)


def basal_and_bolus_volume_rates(
    prescription: Prescription, minimum_rate: VolumeRate | None = None
) -> tuple[tuple[VolumeRate, ...], tuple[VolumeRate, ...]]:
    """The volume rates (mL/day) the pump must run, split into basal and bolus rates.

    Basal: the continuous, flex-step, minimum or periodic background rates. Bolus: a
    single bolus, a periodic bolus on top of its background, and a patient bolus on
    top of the highest rate it can coincide with. Zero rates are left out (the pump
    is idle, not running slowly). A pump may allow faster boluses than basal rates,
    so the two are checked against different limits.
    """
    concentration = prescription.concentration
    mode = prescription.mode
    basal: set[Fraction] = set()
    bolus: set[Fraction] = set()
    if mode is Mode.SINGLE_BOLUS:
        assert prescription.bolus is not None
        bolus.add((prescription.bolus.dose / prescription.bolus.duration).amount)
    elif mode is Mode.PERIODIC_BOLUS:
        background = prescription.rate.amount if prescription.rate is not None else Fraction(0)
        # The background counts only where it runs alone: boluses as long as their
        # interval leave the pump always running the bolus rate.
        for segment in day_profile(prescription, minimum_rate).segments:
            if segment.dose_rate.amount > background:
                bolus.add(segment.dose_rate.amount)
            else:
                basal.add(segment.dose_rate.amount)
    elif mode is not Mode.STOPPED:
        for segment in day_profile(prescription, minimum_rate).segments:
            basal.add(segment.dose_rate.amount)
    if prescription.patient_bolus is not None:
        pb = prescription.patient_bolus
        bolus.add((pb.dose / pb.duration).amount + max(basal | bolus, default=Fraction(0)))

    def as_volume(rates: set[Fraction]) -> tuple[VolumeRate, ...]:
        return tuple(
            DoseRate(rate).to_volume_rate(concentration) for rate in sorted(rates) if rate > 0
        )

    return as_volume(basal), as_volume(bolus)
