"""The patient-bolus rule: lockout, rolling 24-hour maximum, reservoir.

One pure function judges every patient-bolus request. Times are the pump's elapsed
clock (ticks, µs), never the wall clock, so setting the clock (a time-zone or daylight
saving change) can neither shorten a lockout nor open a new "day".

* lockout: a request is allowed once `lockout` has passed since the later of the last
  patient-bolus start and the lockout restart (a refill or a new prescription);
  exactly at the end of the lockout is allowed;
* maximum per 24 h: the starts in the window (now - 24 h, now] plus the candidate must
  not exceed `max_per_24h` (a start exactly 24 h ago has left the window);
* reservoir: the estimated reservoir minus the bolus volume must stay at or above the
  empty level.

Checked in that order; a refusal names the reason, the time the same request could
succeed (None when only a refill helps) and the count already in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from thecal.pump.commands import Rejection
from thecal.pump.timebase import DAY_US, duration_us
from thecal.therapy.prescription import PatientBolus

__all__ = ["BolusVerdict", "judge_patient_bolus", "starts_in_window"]


@dataclass(frozen=True)
class BolusVerdict:
    """`count_24h` counts the starts already in the window (not the candidate)."""

    allowed: bool
    reason: Rejection | None
    message: str
    retry_after: int | None  # ticks
    count_24h: int


def starts_in_window(starts: tuple[int, ...], now: int) -> tuple[int, ...]:
    """The starts within the rolling 24 hours that end at `now`: (now - 24 h, now]."""
    return tuple(start for start in starts if now - DAY_US < start <= now)


def judge_patient_bolus(
    settings: PatientBolus,
    starts: tuple[int, ...],
    lockout_from: int | None,
    now: int,
    estimated_reservoir: Fraction,
    empty_level: Fraction,
    bolus_volume: Fraction,
) -> BolusVerdict:
    """Judge one patient-bolus request at tick `now` (volumes in mL)."""
    window = starts_in_window(starts, now)
    count = len(window)
    anchors = [t for t in (*starts, lockout_from) if t is not None and t <= now]
    if anchors:
        ends = max(anchors) + duration_us(settings.lockout)
        if now < ends:
            minutes = Fraction(ends - now, 60_000_000)
            return BolusVerdict(
                False,
                Rejection.LOCKOUT,
                f"lockout: the next patient bolus is allowed in {_minutes(minutes)}",
                ends,
                count,
            )
    if count + 1 > settings.max_per_24h:
        # Enough of the oldest starts must leave the window to make room for one more.
        ordered = sorted(window)
        leaving = ordered[count + 1 - settings.max_per_24h - 1]
        return BolusVerdict(
            False,
            Rejection.DAILY_CAP,
            f"maximum reached: {count} of {settings.max_per_24h} patient boluses in the "
            "last 24 hours",
            leaving + DAY_US,
            count,
        )
    if estimated_reservoir - bolus_volume < empty_level:
        return BolusVerdict(
            False,
            Rejection.RESERVOIR,
            "the reservoir is too low for a patient bolus; a refill is needed",
            None,
            count,
        )
    return BolusVerdict(True, None, "patient bolus allowed", None, count)


def _minutes(minutes: Fraction) -> str:
    whole = -((-minutes.numerator) // minutes.denominator)
    if whole >= 120:
        return f"{whole // 60} h {whole % 60} min"
    return f"{whole} min"
