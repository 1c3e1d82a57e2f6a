"""Dose rate <-> volume rate for a concentration.

    volume rate (mL/day) = dose rate (mcg/day) / concentration (mcg/mL)
    dose rate (mcg/day)  = volume rate (mL/day) × concentration (mcg/mL)

Exact: the results are `Fraction`-backed quantities, never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.quantities import Concentration, DoseRate, VolumeRate

__all__ = ["RateConversion", "dose_rate_for", "volume_rate_for"]


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
