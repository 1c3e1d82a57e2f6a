"""Time inside the twin: whole microseconds on three clocks.

* **true time** — the simulation's reference clock (the injected clock `PumpTwin.advance`
  moves), a naive `datetime`;
* **ticks** — the pump's own oscillator, microseconds since the twin's epoch. It is
  monotonic and survives a power loss; elapsed-time rules (patient-bolus lockout, the
  rolling 24-hour cap, the 90 days from ERI to end of service, retries) count ticks;
* **local time** — the pump's wall clock, ticks plus an offset that `SetClock` moves.
  Schedules (flex steps, periodic boluses) follow local time.

Without a clock-drift fault ticks advance exactly with true time, and after implant the
local clock reads the true time until someone sets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from thecal.therapy.quantities import Duration

__all__ = [
    "DAY_US",
    "EPOCH",
    "HOUR_US",
    "MICROS",
    "Oscillator",
    "duration_us",
    "from_us",
    "to_us",
    "us_duration",
]

EPOCH = datetime(2000, 1, 1)
"""Zero of every microsecond count in the twin (a local midnight, so that
``local_us % DAY_US`` is the time of day)."""

MICROS = 1_000_000
HOUR_US = 3600 * MICROS
DAY_US = 86_400 * MICROS


def to_us(moment: datetime) -> int:
    """Microseconds from `EPOCH` to a naive `moment` (aware datetimes are refused)."""
    if moment.tzinfo is not None:
        raise ValueError(
            f"{moment.isoformat()} carries a time zone; the pump's clocks are naive local "
            "times (set the wall clock with SetClock instead)"
        )
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def from_us(micros: int) -> datetime:
    """The naive datetime `micros` microseconds after `EPOCH`."""
    return EPOCH + timedelta(microseconds=micros)


def duration_us(duration: Duration) -> int:
    """A duration in whole microseconds, rounded up (a wait is never cut short)."""
    micros = duration.seconds * MICROS
    return -((-micros.numerator) // micros.denominator)


def us_duration(micros: int) -> Duration:
    """Microseconds as an exact `Duration`."""
    return Duration(Fraction(micros, MICROS))


@dataclass(frozen=True)
class Oscillator:
    """The pump's oscillator against true time: ``ticks = anchor_ticks +
    floor((true - anchor_true) * rate)``, piecewise linear (a drift fault re-anchors it)."""

    anchor_true: int
    anchor_ticks: int
    rate: Fraction = Fraction(1)

    def ticks_at(self, true_us: int) -> int:
        """The oscillator reading at true time `true_us`."""
        elapsed = (true_us - self.anchor_true) * self.rate
        return self.anchor_ticks + elapsed.numerator // elapsed.denominator

    def true_at(self, ticks: int) -> int:
        """The earliest true microsecond at which the oscillator reads `ticks` or more."""
        elapsed = (ticks - self.anchor_ticks) / self.rate
        return self.anchor_true - ((-elapsed.numerator) // elapsed.denominator)

    def rerated(self, true_us: int, rate: Fraction) -> Oscillator:
        """The same oscillator running at `rate` from true time `true_us` on."""
        if rate <= 0:
            raise ValueError("an oscillator rate must be positive")
        return Oscillator(true_us, self.ticks_at(true_us), rate)
