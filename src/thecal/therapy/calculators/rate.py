"""Dose rate <-> volume rate for a concentration.

    volume rate (mL/day) = dose rate (mcg/day) / concentration (mcg/mL)
    dose rate (mcg/day)  = volume rate (mL/day) × concentration (mcg/mL)

Exact: the results are `Fraction`-backed quantities, never rounded.

`rate_for_drug` does the same for one drug of the library and holds the result to
the library: a concentration the library does not offer, and a daily dose beyond the
drug's daily `Limit` (`Limit.classify`), are warnings with the typed finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.library import DrugEntry
from thecal.therapy.limits import Classification, LimitCheck
from thecal.therapy.quantities import Concentration, DoseRate, VolumeRate

__all__ = ["DrugRate", "RateConversion", "dose_rate_for", "rate_for_drug", "volume_rate_for"]


@dataclass(frozen=True)
class RateConversion:
    """A dose rate and the volume rate that delivers it at a concentration."""

    dose_rate: DoseRate
    concentration: Concentration
    volume_rate: VolumeRate


def _positive(concentration: Concentration) -> None:
    if concentration.amount <= 0:
        raise CalculatorInputError(
            "concentration",
            f"{concentration} cannot carry a dose",
            "a concentration above zero, e.g. '500 mcg/mL'",
        )


def volume_rate_for(dose_rate: DoseRate, concentration: Concentration) -> RateConversion:
    """The volume rate (mL/day) that delivers `dose_rate` (mcg/day) at `concentration`."""
    _positive(concentration)
    return RateConversion(dose_rate, concentration, dose_rate.to_volume_rate(concentration))


def dose_rate_for(volume_rate: VolumeRate, concentration: Concentration) -> RateConversion:
    """The dose rate (mcg/day) that `volume_rate` (mL/day) delivers at `concentration`."""
    _positive(concentration)
    return RateConversion(volume_rate.to_dose_rate(concentration), concentration, volume_rate)


@dataclass(frozen=True)
class DrugRate:
    """A rate conversion for one drug, held to its library entry."""

    drug: DrugEntry
    conversion: RateConversion
    listed: bool
    """True when the library offers the concentration for this drug."""
    daily_dose: LimitCheck[DoseRate]
    """The daily dose held to the drug's daily-dose `Limit` (soft and hard maximum)."""
    warnings: tuple[str, ...]


def rate_for_drug(
    drug: DrugEntry,
    concentration: Concentration,
    dose_rate: DoseRate | None = None,
    volume_rate: VolumeRate | None = None,
) -> DrugRate:
    """The volume rate for `dose_rate`, or the dose rate of `volume_rate` (exactly one is
    given), at `concentration` of `drug`, with the library's findings as warnings."""
    if (dose_rate is None) == (volume_rate is None):
        raise TypeError("rate_for_drug takes exactly one of dose_rate and volume_rate")
    if dose_rate is not None:
        conversion = volume_rate_for(dose_rate, concentration)
    else:
        assert volume_rate is not None
        conversion = dose_rate_for(volume_rate, concentration)
    warnings: list[str] = []
    listed = drug.concentration_entry(concentration) is not None
    if not listed:
        offered = ", ".join(drug.show(c.concentration.value) for c in drug.concentrations)
        warnings.append(
            f"{drug.show(concentration)} is not a library concentration of {drug.id} "
            f"(library: {offered})"
        )
    daily = drug.daily_dose.classify(conversion.dose_rate)
    if daily.exceeded:
        kind = "hard" if daily.classification is Classification.HARD_EXCEEDED else "soft"
        warnings.append(
            f"{drug.show(conversion.dose_rate)} is above the {kind} daily limit "
            f"{drug.show(daily.bound.value)} of {drug.id} ({daily.bound.provenance})"
        )
    return DrugRate(drug, conversion, listed, daily, tuple(warnings))
