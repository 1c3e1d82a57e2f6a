"""Exact physical quantities for dosing arithmetic.

Every quantity holds one exact `Fraction` in a fixed base unit:

==================  ===============
quantity            base unit
==================  ===============
`Mass`              microgram (mcg)
`Volume`            millilitre (mL)
`Duration`          second (s)
`Concentration`     mcg per mL
`DoseRate`          mcg per day
`VolumeRate`        mL per day
==================  ===============

Binary floats are refused everywhere: a float cannot say "0.1 mg" exactly, and a
dosing core that silently carries 0.1000000000000000055 mg is a core nobody can
audit. Text from people is parsed once, at the edge, by `parse_*` (see
`thecal.therapy.units`); from then on only these values travel.

Arithmetic between quantities gives the quantity the physics says it should:
``DoseRate * Duration -> Mass``, ``Mass / Concentration -> Volume``,
``DoseRate / Concentration -> VolumeRate`` and so on. Anything else is a
`TypeError`, so a mass can never be added to a volume by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar, TypeVar, overload

__all__ = [
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "Concentration",
    "DoseRate",
    "Duration",
    "Exact",
    "Mass",
    "Volume",
    "VolumeRate",
    "decimal_text",
    "exact",
    "floor_fraction",
]

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400

Exact = int | Fraction | Decimal | str
"""What an exact quantity may be built from: never a binary float."""


def exact(value: Exact) -> Fraction:
    """Return `value` as an exact `Fraction`.

    Accepts int, Fraction, Decimal and decimal text such as ``"0.25"``. A float
    is refused with `TypeError` because it is already inexact.
    """
    if isinstance(value, bool):
        raise TypeError("a bool is not a quantity")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return Fraction(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except ArithmeticError:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not parsed.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        if parsed and not -30 <= parsed.adjusted() <= 30:
            # "1e999999999" would build a billion-digit integer; no quantity is near that.
            raise ValueError(f"{value!r} is out of range (1e-30 to 1e30)")
        return Fraction(parsed)
    raise TypeError(
        f"exact quantities are built from int, Fraction, Decimal or decimal text, "
        f"not {type(value).__name__}"
    )


def floor_fraction(value: Fraction, step: Fraction) -> Fraction:
    """Largest multiple of `step` that is <= `value` (`step` > 0)."""
    if step <= 0:
        raise ValueError("rounding step must be positive")
    return (value // step) * step


def decimal_text(value: Fraction, max_places: int = 6) -> str:
    """Decimal text for `value`, exact when it terminates within `max_places`.

    Otherwise it is truncated toward zero at `max_places` (never rounded up, so
    a displayed dose is never more than the real one). Trailing zeros are
    dropped: ``Fraction(1, 2) -> "0.5"``.
    """
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    scale = 10**max_places
    scaled = magnitude * scale
    whole = scaled.numerator // scaled.denominator  # truncation toward zero
    integer, fraction = divmod(whole, scale)
    if fraction == 0:
        text = str(integer)
    else:
        text = f"{integer}.{fraction:0{max_places}d}".rstrip("0")
    if text == "0":
        return "0"
    return sign + text


Q = TypeVar("Q", bound="_Scalar")


@dataclass(frozen=True, order=True, slots=True)
class _Scalar:
    """One exact amount in the subclass's base unit; same-kind arithmetic only."""

    amount: Fraction
    BASE_UNIT: ClassVar[str] = ""
    KIND: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Fraction):
            object.__setattr__(self, "amount", exact(self.amount))

    # Same-kind arithmetic -------------------------------------------------
    def __add__(self: Q, other: Q) -> Q:
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(self.amount + other.amount)

    def __sub__(self: Q, other: Q) -> Q:
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(self.amount - other.amount)

    def __neg__(self: Q) -> Q:
        return type(self)(-self.amount)

    def scaled(self: Q, factor: Exact) -> Q:
        """This quantity times a dimensionless exact factor."""
        return type(self)(self.amount * exact(factor))

    def ratio(self: Q, other: Q) -> Fraction:
        """Dimensionless ratio ``self / other`` of two quantities of one kind."""
        if type(other) is not type(self):
            raise TypeError(f"cannot take the ratio of {self.KIND} and {other.KIND}")
        return self.amount / other.amount

    def floor_to(self: Q, step: Q) -> Q:
        """Largest multiple of `step` not above this quantity (never rounds up)."""
        return type(self)(floor_fraction(self.amount, step.amount))

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_negative(self) -> bool:
        return self.amount < 0

    @classmethod
    def zero(cls: type[Q]) -> Q:
        return cls(Fraction(0))

    def __bool__(self) -> bool:
        return self.amount != 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({decimal_text(self.amount, 9)} {self.BASE_UNIT})"


@dataclass(frozen=True, order=True, slots=True, repr=False)
class Mass(_Scalar):
    """A drug mass; base unit microgram."""

    BASE_UNIT: ClassVar[str] = "mcg"
    KIND: ClassVar[str] = "mass"

    @classmethod
    def from_mg(cls, value: Exact) -> Mass:
        return cls(exact(value) * 1000)

    @classmethod
    def from_mcg(cls, value: Exact) -> Mass:
        return cls(exact(value))

    @classmethod
    def from_ng(cls, value: Exact) -> Mass:
        return cls(exact(value) / 1000)

    @property
    def mg(self) -> Fraction:
        return self.amount / 1000

    @property
    def mcg(self) -> Fraction:
        return self.amount

    @property
    def ng(self) -> Fraction:
        return self.amount * 1000

    def __mul__(self, factor: int | Fraction) -> Mass:
        return Mass(self.amount * exact(factor))

    __rmul__ = __mul__

    @overload
    def __truediv__(self, other: Volume) -> Concentration: ...
    @overload
    def __truediv__(self, other: Concentration) -> Volume: ...
    @overload
    def __truediv__(self, other: Duration) -> DoseRate: ...
    @overload
    def __truediv__(self, other: DoseRate) -> Duration: ...
    @overload
    def __truediv__(self, other: int | Fraction) -> Mass: ...
    def __truediv__(
        self, other: Volume | Concentration | Duration | DoseRate | int | Fraction
    ) -> Concentration | Volume | Duration | DoseRate | Mass:
        if isinstance(other, Volume):
            return Concentration(self.amount / other.amount)
        if isinstance(other, Concentration):
            return Volume(self.amount / other.amount)
        if isinstance(other, Duration):
            return DoseRate(self.amount * SECONDS_PER_DAY / other.amount)
        if isinstance(other, DoseRate):
            return Duration(self.amount * SECONDS_PER_DAY / other.amount)
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return Mass(self.amount / other)
        return NotImplemented

    def __str__(self) -> str:
        if self.amount != 0 and abs(self.amount) < 1:
            return f"{decimal_text(self.ng)} ng"
        if abs(self.amount) >= 1000:
            return f"{decimal_text(self.mg)} mg"
        return f"{decimal_text(self.amount)} mcg"


@dataclass(frozen=True, order=True, slots=True, repr=False)
class Volume(_Scalar):
    """A fluid volume; base unit millilitre."""

    BASE_UNIT: ClassVar[str] = "mL"
    KIND: ClassVar[str] = "volume"

    @classmethod
    def from_ml(cls, value: Exact) -> Volume:
        return cls(exact(value))

    @classmethod
    def from_ul(cls, value: Exact) -> Volume:
        return cls(exact(value) / 1000)

    @classmethod
    def from_nl(cls, value: Exact) -> Volume:
        return cls(exact(value) / 1_000_000)

    @property
    def ml(self) -> Fraction:
        return self.amount

    @property
    def ul(self) -> Fraction:
        return self.amount * 1000

    @property
    def nl(self) -> Fraction:
        return self.amount * 1_000_000

    def __mul__(self, other: Concentration | int | Fraction) -> Mass | Volume:
        if isinstance(other, Concentration):
            return Mass(self.amount * other.amount)
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return Volume(self.amount * other)
        return NotImplemented

    def times(self, concentration: Concentration) -> Mass:
        """The drug mass in this volume at `concentration` (typed helper)."""
        return Mass(self.amount * concentration.amount)

    @overload
    def __truediv__(self, other: Duration) -> VolumeRate: ...
    @overload
    def __truediv__(self, other: VolumeRate) -> Duration: ...
    @overload
    def __truediv__(self, other: int | Fraction) -> Volume: ...
    def __truediv__(
        self, other: Duration | VolumeRate | int | Fraction
    ) -> VolumeRate | Duration | Volume:
        if isinstance(other, Duration):
            return VolumeRate(self.amount * SECONDS_PER_DAY / other.amount)
        if isinstance(other, VolumeRate):
            return Duration(self.amount * SECONDS_PER_DAY / other.amount)
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return Volume(self.amount / other)
        return NotImplemented

    def __str__(self) -> str:
        if self.amount != 0 and abs(self.amount) < Fraction(1, 10):
            return f"{decimal_text(self.ul, 3)} µL"
        return f"{decimal_text(self.amount)} mL"


@dataclass(frozen=True, order=True, slots=True, repr=False)
class Duration(_Scalar):
    """A span of time; base unit second."""

    BASE_UNIT: ClassVar[str] = "s"
    KIND: ClassVar[str] = "duration"

    @classmethod
    def from_seconds(cls, value: Exact) -> Duration:
        return cls(exact(value))

    @classmethod
    def from_minutes(cls, value: Exact) -> Duration:
        return cls(exact(value) * 60)

    @classmethod
    def from_hours(cls, value: Exact) -> Duration:
        return cls(exact(value) * SECONDS_PER_HOUR)

    @classmethod
    def from_days(cls, value: Exact) -> Duration:
        return cls(exact(value) * SECONDS_PER_DAY)

    @classmethod
    def from_timedelta(cls, delta: timedelta) -> Duration:
        micros = (delta.days * SECONDS_PER_DAY + delta.seconds) * 1_000_000 + delta.microseconds
        return cls(Fraction(micros, 1_000_000))

    @property
    def seconds(self) -> Fraction:
        return self.amount

    @property
    def minutes(self) -> Fraction:
        return self.amount / 60

    @property
    def hours(self) -> Fraction:
        return self.amount / SECONDS_PER_HOUR

    @property
    def days(self) -> Fraction:
        return self.amount / SECONDS_PER_DAY

    def to_timedelta_floor(self) -> timedelta:
        """As a `timedelta`, truncated down to whole microseconds."""
        micros = self.amount * 1_000_000
        return timedelta(microseconds=micros.numerator // micros.denominator)

    def __mul__(self, factor: int | Fraction) -> Duration:
        if isinstance(factor, int | Fraction) and not isinstance(factor, bool):
            return Duration(self.amount * factor)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: int | Fraction) -> Duration:
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return Duration(self.amount / other)
        return NotImplemented

    def __str__(self) -> str:
        seconds = self.amount
        # Whole days from 3 days up read in days (refill intervals: "14 days"); shorter
        # spans in hours, as dosing labels write them ("24 h", "48 h" between increases).
        if seconds >= 3 * SECONDS_PER_DAY and seconds % SECONDS_PER_DAY == 0:
            return f"{decimal_text(self.days)} day" + ("" if self.days == 1 else "s")
        if seconds >= SECONDS_PER_HOUR:
            return f"{decimal_text(self.hours, 4)} h"
        if seconds >= 60:
            return f"{decimal_text(self.minutes, 4)} min"
        return f"{decimal_text(seconds, 3)} s"


@dataclass(frozen=True, order=True, slots=True, repr=False)
class Concentration(_Scalar):
    """Drug mass per volume; base unit mcg/mL."""

    BASE_UNIT: ClassVar[str] = "mcg/mL"
    KIND: ClassVar[str] = "concentration"

    @classmethod
    def from_mg_per_ml(cls, value: Exact) -> Concentration:
        return cls(exact(value) * 1000)

    @classmethod
    def from_mcg_per_ml(cls, value: Exact) -> Concentration:
        return cls(exact(value))

    @property
    def mg_per_ml(self) -> Fraction:
        return self.amount / 1000

    @property
    def mcg_per_ml(self) -> Fraction:
        return self.amount

    def __str__(self) -> str:
        if self.amount >= 1000:
            return f"{decimal_text(self.mg_per_ml)} mg/mL"
        return f"{decimal_text(self.amount)} mcg/mL"


@dataclass(frozen=True, order=True, slots=True, repr=False)
class DoseRate(_Scalar):
    """Drug mass per time; base unit mcg/day."""

    BASE_UNIT: ClassVar[str] = "mcg/day"
    KIND: ClassVar[str] = "dose rate"

    @classmethod
    def from_mg_per_day(cls, value: Exact) -> DoseRate:
        return cls(exact(value) * 1000)

    @classmethod
    def from_mcg_per_day(cls, value: Exact) -> DoseRate:
        return cls(exact(value))

    @classmethod
    def from_mcg_per_hour(cls, value: Exact) -> DoseRate:
        return cls(exact(value) * 24)

    @property
    def mg_per_day(self) -> Fraction:
        return self.amount / 1000

    @property
    def mcg_per_day(self) -> Fraction:
        return self.amount

    @property
    def mcg_per_hour(self) -> Fraction:
        return self.amount / 24

    def over(self, duration: Duration) -> Mass:
        """The mass delivered at this rate over `duration`."""
        return Mass(self.amount * duration.amount / SECONDS_PER_DAY)

    def to_volume_rate(self, concentration: Concentration) -> VolumeRate:
        """The volume rate that delivers this dose rate at `concentration`."""
        if concentration.amount <= 0:
            raise ValueError("concentration must be positive")
        return VolumeRate(self.amount / concentration.amount)

    def __mul__(self, other: Duration | int | Fraction) -> Mass | DoseRate:
        if isinstance(other, Duration):
            return self.over(other)
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return DoseRate(self.amount * other)
        return NotImplemented

    def __truediv__(self, other: Concentration | int | Fraction) -> VolumeRate | DoseRate:
        if isinstance(other, Concentration):
            return self.to_volume_rate(other)
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return DoseRate(self.amount / other)
        return NotImplemented

    def __str__(self) -> str:
        if self.amount >= 1000:
            return f"{decimal_text(self.mg_per_day)} mg/day"
        return f"{decimal_text(self.amount)} mcg/day"


@dataclass(frozen=True, order=True, slots=True, repr=False)
class VolumeRate(_Scalar):
    """Fluid volume per time; base unit mL/day."""

    BASE_UNIT: ClassVar[str] = "mL/day"
    KIND: ClassVar[str] = "volume rate"

    @classmethod
    def from_ml_per_day(cls, value: Exact) -> VolumeRate:
        return cls(exact(value))

    @classmethod
    def from_ml_per_hour(cls, value: Exact) -> VolumeRate:
        return cls(exact(value) * 24)

    @property
    def ml_per_day(self) -> Fraction:
        return self.amount

    @property
    def ml_per_hour(self) -> Fraction:
        return self.amount / 24

    def over(self, duration: Duration) -> Volume:
        """The volume moved at this rate over `duration`."""
        return Volume(self.amount * duration.amount / SECONDS_PER_DAY)

    def to_dose_rate(self, concentration: Concentration) -> DoseRate:
        """The dose rate this volume rate delivers at `concentration`."""
        return DoseRate(self.amount * concentration.amount)

    def __mul__(self, other: Duration | int | Fraction) -> Volume | VolumeRate:
        if isinstance(other, Duration):
            return self.over(other)
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return VolumeRate(self.amount * other)
        return NotImplemented

    def __truediv__(self, other: int | Fraction) -> VolumeRate:
        if isinstance(other, int | Fraction) and not isinstance(other, bool):
            return VolumeRate(self.amount / other)
        return NotImplemented

    def __str__(self) -> str:
        return f"{decimal_text(self.amount)} mL/day"
