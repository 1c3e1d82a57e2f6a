"""Programmed delivery: the volume the firmware is programmed to move, as a function of
its oscillator ticks. The one place the firmware's delivery arithmetic lives: the rate
at a tick, the volume between two ticks, the tick by which a volume has moved.

A `ProgrammedDelivery` is a frozen value built from the therapy state, the stored
prescription and a running bolus (`programmed_delivery`); its methods are pure and
exact (`Fraction` mL and mL/µs, integer ticks of one µs).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from thecal.pump.payloads import TherapyState
from thecal.pump.records import ActiveBolus
from thecal.pump.timebase import DAY_US, EPOCH
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.projection import VolumePattern, prescription_pattern
from thecal.therapy.quantities import VolumeRate

__all__ = ["NEVER", "ProgrammedDelivery", "programmed_delivery", "schedule_pattern"]

NEVER = 1 << 62
"""A tick later than any the twin reaches: "the rate never changes"."""


@lru_cache(maxsize=256)
def schedule_pattern(prescription: Prescription, minimum_rate: VolumeRate) -> VolumePattern:
    """The prescription's schedule as a closed-form pattern (patient boluses not
    included): a day repeating from a local midnight, or a single bolus from its start."""
    return prescription_pattern(prescription, EPOCH, minimum_rate, include_patient_boluses=False)


@dataclass(frozen=True)
class ProgrammedDelivery:
    """The programmed volume rate against oscillator ticks: a base schedule, and a bolus
    over its window.

    The base is `pattern` with its time 0 at tick `origin` (a repeating pattern repeats
    both ways; a one-off pattern moves nothing outside ``[origin, origin + period)``),
    or, without a pattern, `constant` mL/µs for ever (0: nothing is programmed). A
    `bolus` adds its rate over ``[bolus.start, bolus.end)``, or runs instead of the base
    there when it `replaces_base`.
    """

    pattern: VolumePattern | None = None
    origin: int = 0
    constant: Fraction = Fraction(0)
    bolus: ActiveBolus | None = None

    def __post_init__(self) -> None:
        if self.constant < 0:
            raise ValueError("a programmed volume rate cannot be negative")
        if self.bolus is not None and self.bolus.end <= self.bolus.start:
            raise ValueError("a bolus must end after it starts")

    # -- the whole programme -----------------------------------------------------------
    def rate_at(self, tick: int) -> tuple[Fraction, int]:
        """The programmed rate (mL/µs) at `tick` and the first later tick at which it may
        change (`NEVER` if it never does)."""
        bolus = self.bolus
        if bolus is None or not bolus.start <= tick < bolus.end:
            rate, until = self._base_rate_at(tick)
            if bolus is not None and tick < bolus.start:
                until = min(until, bolus.start)
            return rate, until
        if bolus.replaces_base:
            return bolus.rate_per_us, bolus.end
        rate, until = self._base_rate_at(tick)
        return rate + bolus.rate_per_us, min(until, bolus.end)

    def volume(self, start: int, end: int) -> Fraction:
        """The volume (mL) programmed from tick `start` to tick `end` (`ValueError` if
        `end` is before `start`)."""
        if end < start:
            raise ValueError(f"the interval ends (tick {end}) before it starts (tick {start})")
        bolus = self.bolus
        if bolus is None:
            return self._base_volume(start, end)
        low, high = max(start, bolus.start), min(end, bolus.end)
        if low >= high:
            return self._base_volume(start, end)
        added = bolus.rate_per_us * (high - low)
        if bolus.replaces_base:
            return self._base_volume(start, low) + added + self._base_volume(high, end)
        return self._base_volume(start, end) + added

    def time_to_move(self, start: int, volume: Fraction) -> Fraction | None:
        """The earliest exact tick by which `volume` mL more than at tick `start` has been
        programmed (`start` itself for no volume); None if that never happens."""
        if volume <= 0:
            return Fraction(start)
        bolus = self.bolus
        if bolus is None or start >= bolus.end:
            return self._base_time_to_move(start, volume)
        tick, remaining = start, volume
        if tick < bolus.start:
            found = self._base_time_to_move(tick, remaining)
            if found is not None and found <= bolus.start:
                return found
            remaining -= self._base_volume(tick, bolus.start)
            tick = bolus.start
        if bolus.replaces_base:
            rate = bolus.rate_per_us
            if remaining <= rate * (bolus.end - tick):
                return tick + remaining / rate
            remaining -= rate * (bolus.end - tick)
        else:
            while tick < bolus.end:  # the base's pieces, each with the bolus on top
                rate, until = self._base_rate_at(tick)
                rate += bolus.rate_per_us
                piece_end = min(bolus.end, until)
                if rate > 0 and remaining <= rate * (piece_end - tick):
                    return tick + remaining / rate
                remaining -= rate * (piece_end - tick)
                tick = piece_end
        return self._base_time_to_move(bolus.end, remaining)

    # -- the base schedule ---------------------------------------------------------------
    def _shift(self, tick: int) -> int:
        """Whole periods to add to ticks from `tick` on so that the pattern's time is not
        negative (a repeating pattern only)."""
        assert self.pattern is not None
        before = self.origin - tick
        return 0 if before <= 0 else -(-before // self.pattern.period) * self.pattern.period

    def _base_rate_at(self, tick: int) -> tuple[Fraction, int]:
        pattern = self.pattern
        if pattern is None:
            return self.constant, NEVER
        elapsed = tick - self.origin
        if pattern.repeats:
            within = elapsed % pattern.period
        elif elapsed < 0:
            return Fraction(0), self.origin
        elif elapsed >= pattern.period:
            return Fraction(0), NEVER
        else:
            within = elapsed
        index = bisect_right(pattern.breakpoints, within) - 1
        following = index + 1
        piece_end = (
            pattern.breakpoints[following]
            if following < len(pattern.breakpoints)
            else pattern.period
        )
        return Fraction(pattern.rates[index], pattern.scale * DAY_US), tick + (piece_end - within)

    def _base_volume(self, start: int, end: int) -> Fraction:
        pattern = self.pattern
        if pattern is None:
            return self.constant * (end - start)
        shift = self._shift(start) if pattern.repeats else 0
        return pattern.volume_until(end - self.origin + shift) - pattern.volume_until(
            start - self.origin + shift
        )

    def _base_time_to_move(self, start: int, volume: Fraction) -> Fraction | None:
        pattern = self.pattern
        if pattern is None:
            return None if self.constant == 0 else start + volume / self.constant
        shift = self._shift(start) if pattern.repeats else 0
        moved = pattern.volume_until(start - self.origin + shift)
        moment = pattern.time_to_move(moved + volume)
        return None if moment is None else self.origin - shift + moment


def programmed_delivery(
    state: TherapyState,
    prescription: Prescription | None,
    rx_started: int,
    clock_offset: int,
    minimum_rate: VolumeRate,
    bolus: ActiveBolus | None,
) -> ProgrammedDelivery:
    """What the firmware is programmed to deliver in `state`: the stored prescription
    while running (its day on the local clock, ticks + `clock_offset`; a single bolus
    from `rx_started`), the pump's `minimum_rate` in minimum-rate and constant-flow
    states, nothing otherwise; `bolus` on top or instead. Holds are not considered."""
    if state is TherapyState.RUNNING and prescription is not None:
        single = prescription.mode is Mode.SINGLE_BOLUS
        return ProgrammedDelivery(
            schedule_pattern(prescription, minimum_rate),
            rx_started if single else -clock_offset,
            bolus=bolus,
        )
    if state in (TherapyState.MINIMUM_RATE, TherapyState.CONSTANT_FLOW):
        return ProgrammedDelivery(constant=minimum_rate.amount / DAY_US, bolus=bolus)
    return ProgrammedDelivery(bolus=bolus)
