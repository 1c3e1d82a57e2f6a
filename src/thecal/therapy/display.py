"""How a drug's doses read: one display unit per drug, exact or visibly truncated.

A pharmacist reads morphine in mg and baclofen in mcg. Mixing "500 mcg/day" and
"12 mg/day" in one review of one drug invites the very mcg/mg slip the system is
meant to catch, so every dose of a drug (masses, dose rates, concentrations,
titration steps) is shown in that drug's `DoseUnit`, set per drug in the library.

Display never rounds up: a value that has no exact decimal within the shown
places is truncated toward zero and marked with a trailing "…", so a displayed
dose is never more than the real one and never pretends to be exact.
"""

from __future__ import annotations

from enum import StrEnum
from fractions import Fraction

from thecal.therapy.quantities import Concentration, DoseRate, Mass, decimal_text

__all__ = [
    "DISPLAY_PLACES",
    "INFERRED_MG_FROM",
    "DoseUnit",
    "dose_amount",
    "format_dose",
    "infer_dose_unit",
    "parse_dose_unit",
]

DISPLAY_PLACES = 6
"""Decimal places shown in the drug's unit (1 ng in mg, a millionth of a mcg in mcg)."""

INFERRED_MG_FROM = DoseRate.from_mg_per_day(10)
"""A library entry without `dose_unit` reads in mg when its hard daily maximum is at least
this, else in mcg (matches the convention for every drug in the reference library)."""


class DoseUnit(StrEnum):
    """The mass unit a drug's doses are shown in."""

    MG = "mg"
    MCG = "mcg"

    @property
    def mcg(self) -> int:
        """Micrograms in one of this unit."""
        return 1000 if self is DoseUnit.MG else 1


def parse_dose_unit(raw: object, where: str = "dose_unit") -> DoseUnit:
    """Read a library `dose_unit` ("mg" or "mcg"); `ValueError` naming the accepted units."""
    accepted = ", ".join(unit.value for unit in DoseUnit)
    if not isinstance(raw, str):
        raise ValueError(f"{where}: {raw!r} is not text; accepted: {accepted}")
    try:
        return DoseUnit(raw.strip())
    except ValueError:
        raise ValueError(f"{where}: {raw!r} is not a display unit; accepted: {accepted}") from None


def infer_dose_unit(daily_dose_hard_max: DoseRate) -> DoseUnit:
    """The unit for a library entry that does not name one (see `INFERRED_MG_FROM`)."""
    return DoseUnit.MG if daily_dose_hard_max >= INFERRED_MG_FROM else DoseUnit.MCG


_SUFFIX: dict[type, str] = {Mass: "", DoseRate: "/day", Concentration: "/mL"}


def dose_amount(value: Mass | DoseRate | Concentration, unit: DoseUnit) -> Fraction:
    """The exact number of `unit` (per day, per mL) in `value`."""
    return value.amount / unit.mcg


def format_dose(
    value: Mass | DoseRate | Concentration, unit: DoseUnit, places: int = DISPLAY_PLACES
) -> str:
    """`value` in `unit`: ``"0.5 mg"``, ``"450 mcg/day"``, ``"25 mcg/mL"``.

    Exact when the amount terminates within `places` decimals; otherwise truncated
    toward zero and marked ``"…"`` (``"0.333333… mg/day"``): never rounded up.
    """
    suffix = _SUFFIX.get(type(value))
    if suffix is None:
        raise TypeError(f"format_dose shows masses, dose rates and concentrations, not {value!r}")
    amount = dose_amount(value, unit)
    text = decimal_text(amount, places)
    scaled = amount * 10**places
    if scaled.denominator != 1:
        text += "…"
    return f"{text} {unit.value}{suffix}"
