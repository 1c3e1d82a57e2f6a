"""Priming bolus: the volume that carries drug from the reservoir to the catheter tip.

    implanted length (cm) = catheter length (cm) − trimmed length (cm)        [S30]
    catheter volume (mL)  = volume per cm (mL/cm) × implanted length (cm)     [S30]
    priming volume (mL)   = catheter volume + pump tubing volume              [S8]
    duration              = priming volume / priming rate

The pump tubing volume is the pump model's (`data/pump_models.toml`: 0.140 mL for
the peristaltic model, the corrected value of a recalled programmer card, S8);
the per-cm volume is the catheter's (`CatheterModel`). The mixing warning comes
from `data/calculators.toml` (S6). Exact arithmetic; nothing is rounded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING

from thecal.therapy.calculators.data import SourcedTable, read_packaged, require
from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Duration, Volume, VolumeRate
from thecal.therapy.sourced import Sourced

if TYPE_CHECKING:  # fluid_path builds on this module's formulas
    from thecal.therapy.calculators.fluid_path import FluidPath

__all__ = [
    "PrimingBolus",
    "PrimingRate",
    "catheter_volume",
    "checked_catheter_volume",
    "implanted_length",
    "mixing_warning",
    "priming_bolus",
    "priming_for_path",
    "priming_rate",
]


@dataclass(frozen=True)
class PrimingBolus:
    """The priming bolus for one implanted catheter and pump."""

    implanted_length_cm: Fraction
    volume_per_cm: Volume
    catheter_volume: Volume
    tubing_volume: Volume
    volume: Volume
    rate: VolumeRate | None
    duration: Duration | None
    warnings: tuple[str, ...]
    rate_source: str | None = None
    """Where the rate came from (``"given"``, or the pump model's bolus rate and its source)."""


@dataclass(frozen=True)
class PrimingRate:
    """The rate a priming bolus runs at, and where it came from."""

    rate: VolumeRate
    source: str


def priming_rate(given: VolumeRate | None, pump: PumpModel | None) -> PrimingRate | None:
    """The given rate, else the pump model's highest bolus rate (the pump primes as fast as
    it can bolus); None with neither (the volume alone is still calculated)."""
    if given is not None:
        return PrimingRate(given, "given")
    if pump is not None:
        fastest = pump.max_bolus_volume_rate
        return PrimingRate(fastest.value, f"{pump.id} bolus rate, {fastest.provenance}")
    return None


def implanted_length(catheter_length_cm: Fraction, trimmed_length_cm: Fraction) -> Fraction:
    """Catheter length left in the patient (cm): full length minus the trimmed piece."""
    if catheter_length_cm <= 0:
        raise CalculatorInputError(
            "catheter_length", f"{catheter_length_cm} cm", "a length above 0 cm"
        )
    if trimmed_length_cm < 0:
        raise CalculatorInputError(
            "trimmed_length", f"{trimmed_length_cm} cm is negative", "0 cm or more"
        )
    if trimmed_length_cm >= catheter_length_cm:
        raise CalculatorInputError(
            "trimmed_length",
            f"{trimmed_length_cm} cm leaves no catheter of the {catheter_length_cm} cm implanted",
            f"less than the catheter length {catheter_length_cm} cm",
        )
    return catheter_length_cm - trimmed_length_cm


def catheter_volume(volume_per_cm: Volume, implanted_length_cm: Fraction) -> Volume:
    """Fluid held by `implanted_length_cm` of catheter at `volume_per_cm` mL per cm."""
    if volume_per_cm.amount <= 0:
        raise CalculatorInputError(
            "catheter_volume_per_cm", f"{volume_per_cm}", "a volume per cm above 0 mL"
        )
    if implanted_length_cm <= 0:
        raise CalculatorInputError(
            "implanted_length", f"{implanted_length_cm} cm", "a length above 0 cm"
        )
    return volume_per_cm.scaled(implanted_length_cm)


@cache
def mixing_warning() -> Sourced[str]:
    """The sourced warning that drug arrives before the priming bolus ends (S6)."""
    table = SourcedTable(read_packaged("calculators.toml"), "calculators.toml")
    section = table.data.get("priming", {})

    def text(raw: object, where: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"{where}: must be text")
        return raw.strip()

    warning = table.sourced(section, "mixing_warning", "priming.", text)
    table.finish()
    return require(warning)


def checked_catheter_volume(
    implanted_length_cm: Fraction,
    volume_per_cm: Volume,
    tubing_volume: Volume,
    maximum_length_cm: Fraction | None = None,
) -> Volume:
    """The implanted catheter's volume (mL), after refusing a path that cannot be: an
    implanted length beyond the whole catheter (when its length is known), a negative
    tubing volume, no catheter implanted, a catheter that holds nothing."""
    if maximum_length_cm is not None and implanted_length_cm > maximum_length_cm:
        raise CalculatorInputError(
            "implanted_length",
            f"{implanted_length_cm} cm is longer than the whole catheter",
            f"at most {maximum_length_cm} cm",
        )
    if tubing_volume.amount < 0:
        raise CalculatorInputError("tubing_volume", f"{tubing_volume}", "0 mL or more")
    return catheter_volume(volume_per_cm, implanted_length_cm)


def priming_bolus(
    implanted_length_cm: Fraction,
    volume_per_cm: Volume,
    tubing_volume: Volume,
    rate: VolumeRate | None = None,
    maximum_length_cm: Fraction | None = None,
) -> PrimingBolus:
    """The priming volume (mL) for a catheter and pump, and its duration at `rate` (mL/day).

    `maximum_length_cm` is the catheter model's full length, when known: an implanted
    length beyond it is refused.
    """
    in_catheter = checked_catheter_volume(
        implanted_length_cm, volume_per_cm, tubing_volume, maximum_length_cm
    )
    total = in_catheter + tubing_volume
    duration: Duration | None = None
    if rate is not None:
        if rate.amount <= 0:
            raise CalculatorInputError("priming_rate", f"{rate}", "a rate above 0 mL/day")
        duration = total / rate
    warning = mixing_warning()
    return PrimingBolus(
        implanted_length_cm=implanted_length_cm,
        volume_per_cm=volume_per_cm,
        catheter_volume=in_catheter,
        tubing_volume=tubing_volume,
        volume=total,
        rate=rate,
        duration=duration,
        warnings=(f"{warning.value} ({warning.provenance})",),
    )


def priming_for_path(path: FluidPath, rate: PrimingRate | None = None) -> PrimingBolus:
    """The priming bolus that fills `path` (see `fluid_path`), at `rate` when one is known."""
    bolus = priming_bolus(
        path.implanted_length_cm,
        path.volume_per_cm,
        path.tubing_volume,
        rate.rate if rate is not None else None,
        path.maximum_length_cm,
    )
    if rate is None:
        return bolus
    return replace(bolus, rate_source=rate.source)
