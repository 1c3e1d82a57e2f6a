"""Parse human dosing text into exact quantities, once, at the edge.

``"500 mcg/mL"``, ``"500 ug/mL"``, ``"500 µg/mL"`` and ``"0.5 mg/mL"`` all parse to
the same `Concentration`. Micrograms are spelled out as mcg/µg/ug so that "mcg" and
"mg" can never be confused with each other: there is no bare "m" or "u" prefix
shorthand and no unit is guessed. Every failure raises `QuantityParseError`, which
names the field, repeats the text, and lists what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TypeVar

from thecal.therapy.quantities import (
    Concentration,
    DoseRate,
    Duration,
    Mass,
    Volume,
    VolumeRate,
    decimal_text,
)

__all__ = [
    "ACCEPTED_DURATION_UNITS",
    "ACCEPTED_MASS_UNITS",
    "ACCEPTED_RATE_TIME_UNITS",
    "ACCEPTED_VOLUME_UNITS",
    "QuantityParseError",
    "format_quantity",
    "parse_concentration",
    "parse_dose_rate",
    "parse_duration",
    "parse_length_cm",
    "parse_mass",
    "parse_volume",
    "parse_volume_per_cm",
    "parse_volume_rate",
]

# Unit spellings -> factor to the base unit of the dimension.
_MASS_UNITS: dict[str, Fraction] = {
    "mg": Fraction(1000),
    "mcg": Fraction(1),
    "µg": Fraction(1),  # MICRO SIGN
    "μg": Fraction(1),  # GREEK SMALL LETTER MU
    "ug": Fraction(1),
    "ng": Fraction(1, 1000),
}
_VOLUME_UNITS: dict[str, Fraction] = {
    "ml": Fraction(1),
    "µl": Fraction(1, 1000),
    "μl": Fraction(1, 1000),
    "ul": Fraction(1, 1000),
}
_DURATION_UNITS: dict[str, Fraction] = {
    "s": Fraction(1),
    "sec": Fraction(1),
    "second": Fraction(1),
    "seconds": Fraction(1),
    "min": Fraction(60),
    "mins": Fraction(60),
    "minute": Fraction(60),
    "minutes": Fraction(60),
    "h": Fraction(3600),
    "hr": Fraction(3600),
    "hrs": Fraction(3600),
    "hour": Fraction(3600),
    "hours": Fraction(3600),
    "d": Fraction(86400),
    "day": Fraction(86400),
    "days": Fraction(86400),
    "week": Fraction(7 * 86400),
    "weeks": Fraction(7 * 86400),
}
# Denominators allowed in a rate ("per day", "/h", ...): seconds per unit.
_RATE_TIME_UNITS: dict[str, Fraction] = {
    "day": Fraction(86400),
    "d": Fraction(86400),
    "h": Fraction(3600),
    "hr": Fraction(3600),
    "hour": Fraction(3600),
    "min": Fraction(60),
}

MAX_DECIMAL_EXPONENT = 30
"""Numbers in text must lie within 1e-30 to 1e30 (or be zero)."""

ACCEPTED_MASS_UNITS = "mg, mcg, µg, ug, ng"
ACCEPTED_VOLUME_UNITS = "mL, µL, uL"
ACCEPTED_DURATION_UNITS = "s, min, h, hour(s), day(s), week(s)"
ACCEPTED_RATE_TIME_UNITS = "day, h, hour, min"

_NUMBER = re.compile(
    r"^\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>.*)$"
)


class QuantityParseError(ValueError):
    """Text that is not an acceptable quantity; says which field and what is accepted."""

    def __init__(self, field: str, text: str, problem: str, accepted: str) -> None:
        self.field = field
        self.text = text
        self.problem = problem
        self.accepted = accepted
        super().__init__(f"{field}: {text!r} {problem}; accepted: {accepted}")


def _split(text: object, field: str, accepted: str) -> tuple[Fraction, str]:
    if not isinstance(text, str):
        raise QuantityParseError(field, str(text), "is not text", accepted)
    if not text.strip():
        raise QuantityParseError(field, text, "is empty (missing value)", accepted)
    match = _NUMBER.match(text)
    if match is None:
        raise QuantityParseError(field, text, "does not start with a number", accepted)
    try:
        decimal = Decimal(match["number"])
    except (InvalidOperation, ValueError):  # pragma: no cover - the regex admits only numbers
        raise QuantityParseError(field, text, "has an unreadable number", accepted) from None
    # "1e999999999 mg" would make a billion-digit integer: no dose is anywhere near that.
    if decimal and not -MAX_DECIMAL_EXPONENT <= decimal.adjusted() <= MAX_DECIMAL_EXPONENT:
        raise QuantityParseError(field, text, "is out of range", accepted)
    number = Fraction(decimal)
    if number < 0:
        raise QuantityParseError(field, text, "is negative", accepted)
    unit = match["unit"].strip()
    if not unit:
        raise QuantityParseError(field, text, "has no unit", accepted)
    return number, unit


def _lookup(table: dict[str, Fraction], unit: str) -> Fraction | None:
    unit = unit.strip()
    # Only the volume letter "L" is case-insensitive ("mL" == "ml"); masses keep
    # their exact case so "Mg" is never read as a milligram.
    if unit in table:
        return table[unit]
    lowered = unit[:-1] + unit[-1:].lower() if unit.endswith("L") else unit
    return table.get(lowered)


def _volume_unit(unit: str) -> Fraction | None:
    return _lookup(_VOLUME_UNITS, unit)


def _rate_time_unit(unit: str) -> Fraction | None:
    # "per Day" and "/H" are unambiguous: no time unit differs from another only by case.
    return _RATE_TIME_UNITS.get(unit.strip().lower())


def _dimension_of(unit: str) -> str | None:
    """Name the dimension a unit text belongs to, for 'wrong dimension' messages."""
    head, _, tail = unit.partition("/")
    per = unit.lower().split(" per ")
    if len(per) == 2:
        head, tail = per[0], per[1]
    head, tail = head.strip(), tail.strip()
    if tail:
        if _lookup(_MASS_UNITS, head) is not None and _lookup(_VOLUME_UNITS, tail) is not None:
            return "concentration"
        if _lookup(_MASS_UNITS, head) is not None and _rate_time_unit(tail) is not None:
            return "dose rate"
        if _lookup(_VOLUME_UNITS, head) is not None and _rate_time_unit(tail) is not None:
            return "volume rate"
        return None
    if _lookup(_MASS_UNITS, head) is not None:
        return "mass"
    if _lookup(_VOLUME_UNITS, head) is not None:
        return "volume"
    if head.lower() in _DURATION_UNITS:
        return "duration"
    return None


def _unknown(field: str, text: str, unit: str, want: str, accepted: str) -> QuantityParseError:
    other = _dimension_of(unit)
    if other is not None and other != want:
        return QuantityParseError(field, text, f"is a {other}, not a {want}", accepted)
    return QuantityParseError(field, text, f"has an unknown unit {unit!r}", accepted)


def _split_ratio(unit: str) -> tuple[str, str] | None:
    if "/" in unit:
        head, _, tail = unit.partition("/")
        return head.strip(), tail.strip()
    lowered = unit.split(" per ")
    if len(lowered) == 2:
        return lowered[0].strip(), lowered[1].strip()
    return None


T = TypeVar("T")


def _parse_simple(
    text: object,
    field: str,
    table: dict[str, Fraction],
    want: str,
    accepted: str,
    build: Callable[[Fraction], T],
) -> T:
    number, unit = _split(text, field, accepted)
    factor = _lookup(table, unit)
    if factor is None:
        raise _unknown(field, str(text), unit, want, accepted)
    return build(number * factor)


def parse_mass(text: object, field: str = "mass") -> Mass:
    """Parse e.g. ``"0.5 mg"`` or ``"50 mcg"`` into a `Mass`."""
    accepted = f"a non-negative number and a mass unit ({ACCEPTED_MASS_UNITS}), e.g. '50 mcg'"
    return _parse_simple(text, field, _MASS_UNITS, "mass", accepted, Mass)


def parse_volume(text: object, field: str = "volume") -> Volume:
    """Parse e.g. ``"20 mL"`` or ``"140 µL"`` into a `Volume`."""
    accepted = f"a non-negative number and a volume unit ({ACCEPTED_VOLUME_UNITS}), e.g. '20 mL'"
    return _parse_simple(text, field, _VOLUME_UNITS, "volume", accepted, Volume)


def parse_duration(text: object, field: str = "duration") -> Duration:
    """Parse e.g. ``"8 h"``, ``"15 min"`` or ``"90 days"`` into a `Duration`."""
    accepted = f"a non-negative number and a time unit ({ACCEPTED_DURATION_UNITS}), e.g. '8 h'"
    number, unit = _split(text, field, accepted)
    # Time units are not case-sensitive ("8 H", "2 Days"): no time unit differs only by case.
    factor = _DURATION_UNITS.get(unit.lower())
    if factor is None:
        raise _unknown(field, str(text), unit, "duration", accepted)
    return Duration(number * factor)


def _parse_ratio(
    text: object,
    field: str,
    want: str,
    accepted: str,
    head_table: dict[str, Fraction],
    tail_lookup: Callable[[str], Fraction | None],
) -> Fraction:
    number, unit = _split(text, field, accepted)
    parts = _split_ratio(unit)
    if parts is None:
        raise _unknown(field, str(text), unit, want, accepted)
    head_factor = _lookup(head_table, parts[0])
    tail_factor = tail_lookup(parts[1])
    if head_factor is None or tail_factor is None:
        raise _unknown(field, str(text), unit, want, accepted)
    return number * head_factor / tail_factor


def parse_length_cm(text: object, field: str = "length") -> Fraction:
    """Parse a catheter length in centimetres: ``"80 cm"``, ``"800 mm"`` or a bare ``"80"``."""
    accepted = "a non-negative number of centimetres, e.g. '80 cm' (or mm)"
    if isinstance(text, str):
        match = _NUMBER.match(text)
        if match is not None and not match["unit"].strip():
            text = f"{text.strip()} cm"  # a bare number is centimetres, as on catheter labels
    number, unit = _split(text, field, accepted)
    factors = {"cm": Fraction(1), "mm": Fraction(1, 10)}
    factor = factors.get(unit.strip().lower())
    if factor is None:
        raise _unknown(field, str(text), unit, "length", accepted)
    return number * factor


def parse_volume_per_cm(text: object, field: str = "volume per cm") -> Volume:
    """Parse a catheter's volume per centimetre: ``"0.0026 mL/cm"`` (or ``"2.6 µL"``)."""
    accepted = f"a non-negative volume ({ACCEPTED_VOLUME_UNITS}) per cm, e.g. '0.0026 mL/cm'"
    if isinstance(text, str):
        stripped = text.strip()
        for suffix in ("/cm", " per cm"):
            if stripped.lower().endswith(suffix):
                stripped = stripped[: -len(suffix)].strip()
                break
        text = stripped
    return _parse_simple(text, field, _VOLUME_UNITS, "volume", accepted, Volume)


def parse_concentration(text: object, field: str = "concentration") -> Concentration:
    """Parse e.g. ``"500 mcg/mL"`` or ``"0.5 mg/mL"`` into a `Concentration`."""
    accepted = (
        f"a non-negative number, a mass unit ({ACCEPTED_MASS_UNITS}), '/' and a volume "
        f"unit ({ACCEPTED_VOLUME_UNITS}), e.g. '500 mcg/mL'"
    )
    value = _parse_ratio(text, field, "concentration", accepted, _MASS_UNITS, _volume_unit)
    return Concentration(value)


def parse_dose_rate(text: object, field: str = "dose rate") -> DoseRate:
    """Parse e.g. ``"0.5 mg/day"``, ``"20 mcg/h"`` or ``"1 mg per day"`` into a `DoseRate`."""
    accepted = (
        f"a non-negative number, a mass unit ({ACCEPTED_MASS_UNITS}), '/' or 'per' and a "
        f"time unit ({ACCEPTED_RATE_TIME_UNITS}), e.g. '0.5 mg/day'"
    )
    per_second = _parse_ratio(text, field, "dose rate", accepted, _MASS_UNITS, _rate_time_unit)
    return DoseRate(per_second * 86400)


def parse_volume_rate(text: object, field: str = "volume rate") -> VolumeRate:
    """Parse e.g. ``"0.5 mL/day"`` or ``"20 µL/h"`` into a `VolumeRate`."""
    accepted = (
        f"a non-negative number, a volume unit ({ACCEPTED_VOLUME_UNITS}), '/' or 'per' and "
        f"a time unit ({ACCEPTED_RATE_TIME_UNITS}), e.g. '0.5 mL/day'"
    )
    per_second = _parse_ratio(text, field, "volume rate", accepted, _VOLUME_UNITS, _rate_time_unit)
    return VolumeRate(per_second * 86400)


AnyQuantity = Mass | Volume | Duration | Concentration | DoseRate | VolumeRate

# Candidate display units per kind, most readable first: (unit text, base units per unit,
# smallest base amount for which the unit reads well).
_DISPLAY_UNITS: dict[type, tuple[tuple[str, Fraction, Fraction], ...]] = {
    Mass: (("mg", Fraction(1000), Fraction(1000)), ("mcg", Fraction(1), Fraction(0)),
           ("ng", Fraction(1, 1000), Fraction(0))),
    Volume: (("mL", Fraction(1), Fraction(0)), ("µL", Fraction(1, 1000), Fraction(0))),
    Duration: (("h", Fraction(3600), Fraction(3600)), ("min", Fraction(60), Fraction(60)),
               ("s", Fraction(1), Fraction(0))),
    Concentration: (("mg/mL", Fraction(1000), Fraction(1000)),
                    ("mcg/mL", Fraction(1), Fraction(0))),
    DoseRate: (("mg/day", Fraction(1000), Fraction(1000)), ("mcg/day", Fraction(1), Fraction(0)),
               ("mcg/h", Fraction(24), Fraction(0))),
    VolumeRate: (("mL/day", Fraction(1), Fraction(0)), ("mL/h", Fraction(24), Fraction(0))),
}  # fmt: skip


def _terminates(value: Fraction, places: int) -> bool:
    scaled: Fraction = value * int(10**places)
    return scaled.denominator == 1


def format_quantity(value: AnyQuantity, places: int = 9) -> str:
    """Exact, readable text that the matching `parse_*` reads back to an equal value.

    Picks the most readable unit in which the amount is a decimal of at most
    `places` places (``"0.5 mg"``, ``"2.4 mcg/day"``, ``"10 min"``). Raises
    `ValueError` if no unit gives an exact decimal (e.g. 1/3 mg): such a value
    must be rounded explicitly before it is written down.
    """
    amount = value.amount
    candidates = _DISPLAY_UNITS[type(value)]
    for unit, factor, smallest in candidates:
        scaled = amount / factor
        if abs(amount) >= smallest and _terminates(scaled, places):
            return f"{decimal_text(scaled, places)} {unit}"
    for unit, factor, _ in candidates:
        scaled = amount / factor
        if _terminates(scaled, places):
            return f"{decimal_text(scaled, places)} {unit}"
    raise ValueError(
        f"{value!r} has no exact decimal form; round it explicitly before writing it down"
    )
