"""The implant and refill volumes as the programmer sends them to the pump.

The arithmetic is the therapy calculators' (`thecal.therapy.calculators.priming` and
`.bridge`: one rule, one place); this module takes its inputs from the pump and catheter
models and turns the exact results into commands the pump can run: a duration rounded
*up* to a whole second, so the bolus rate is never faster than the calculated one.

Hazards these numbers answer (docs/workflows/programmer.md):

* The priming bolus fills pump tubing and catheter with drug: exactly the pump model's
  tubing volume plus the implanted catheter's volume, never padded (a Class I recall
  followed a wrong tubing volume, 0.199 mL instead of 0.140 mL).
* After a drug or concentration change the tubing and catheter still hold the old
  solution; the bridge bolus moves exactly that volume at the old prescription's volume
  rate, so the patient keeps the old daily dose until the new solution reaches the tip.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil

from thecal.pump.commands import MAX_BOLUS_DURATION
from thecal.therapy.calculators import bridge, priming
from thecal.therapy.calculators.prescribed import programmed_dose_rate
from thecal.therapy.prescription import Prescription
from thecal.therapy.pump_models import CatheterModel, PumpModel
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Volume, VolumeRate

__all__ = [
    "MAX_PUMP_BOLUS",
    "BridgePlan",
    "CatheterData",
    "PrimingPlan",
    "bridge_bolus",
    "catheter_volume",
    "priming_bolus",
]

MAX_PUMP_BOLUS = MAX_BOLUS_DURATION
"""The longest single bolus the pump firmware runs (`thecal.pump` refuses longer ones)."""


@dataclass(frozen=True)
class CatheterData:
    """The implanted catheter: its model and the length left in the patient (cm)."""

    model: CatheterModel
    implanted_cm: Fraction

    def __post_init__(self) -> None:
        full = self.model.length_cm.value
        if not 0 < self.implanted_cm <= full:
            raise ValueError(
                f"implanted catheter length: {self.implanted_cm} cm is outside "
                f"0 to {full} cm (the full length of {self.model.label})"
            )

    @classmethod
    def from_trimmed(cls, model: CatheterModel, trimmed_cm: Fraction) -> CatheterData:
        """Prometra labelled formula: implanted length = catheter length − trimmed length."""
        return cls(model, priming.implanted_length(model.length_cm.value, trimmed_cm))


def catheter_volume(catheter: CatheterData) -> Volume:
    """Internal volume of the implanted catheter (length × volume per cm)."""
    return priming.catheter_volume(catheter.model.volume_per_cm.value, catheter.implanted_cm)


def _whole_seconds_up(duration: Duration) -> Duration:
    return Duration(Fraction(ceil(duration.seconds)))


@dataclass(frozen=True)
class PrimingPlan:
    """Move `volume` over `duration`; then the stored prescription starts."""

    tubing: Volume
    catheter: Volume
    volume: Volume
    duration: Duration
    warnings: tuple[str, ...]

    @property
    def rate(self) -> VolumeRate:
        return self.volume / self.duration


def priming_bolus(pump: PumpModel, catheter: CatheterData) -> PrimingPlan:
    """The priming bolus after implant or catheter revision, at the pump's highest bolus
    rate (duration rounded up to a whole second)."""
    fastest = priming.priming_rate(None, pump)
    assert fastest is not None  # a pump model always has a bolus rate
    result = priming.priming_bolus(
        catheter.implanted_cm,
        catheter.model.volume_per_cm.value,
        pump.tubing_volume.value,
        fastest.rate,
        catheter.model.length_cm.value,
    )
    assert result.duration is not None  # a rate was given
    return PrimingPlan(
        result.tubing_volume,
        result.catheter_volume,
        result.volume,
        _whole_seconds_up(result.duration),
        result.warnings,
    )


@dataclass(frozen=True)
class BridgePlan:
    """Move the old solution (`volume`) over `duration` at the old daily dose."""

    volume: Volume
    duration: Duration
    old_daily_dose: DoseRate
    old_volume_rate: VolumeRate

    @property
    def fits_one_bolus(self) -> bool:
        return self.duration <= MAX_PUMP_BOLUS


def bridge_bolus(
    pump: PumpModel,
    catheter: CatheterData,
    old: Prescription,
    new_concentration: Concentration | None = None,
) -> BridgePlan:
    """The bridge bolus after a drug or concentration change.

    `ValueError` (`CalculatorInputError`) when the old prescription delivers nothing:
    there is no old dose to bridge; prime with the new solution instead.
    """
    daily = programmed_dose_rate(old, pump)
    dead = bridge.dead_volume(catheter_volume(catheter), pump.tubing_volume.value)
    result = bridge.bridge_bolus(daily, old.concentration, dead, new_concentration)
    return BridgePlan(
        result.dead_volume, _whole_seconds_up(result.duration), daily, result.volume_rate
    )
