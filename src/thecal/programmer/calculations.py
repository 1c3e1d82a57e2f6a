"""Volumes the programmer computes for implant and refill: catheter volume, the priming
bolus and the bridge bolus.

These belong with the other calculators in `thecal.therapy` and live here only until
they exist there (then this module re-exports them). Exact arithmetic throughout; a
duration is rounded *up* to a whole second, so a bolus rate is never faster than the
pump allows.

Hazards these numbers answer (docs/workflows/programmer.md):

* The priming bolus fills pump tubing and catheter with drug. The volume is exactly the
  tubing volume of the pump model plus the implanted catheter's volume, never padded:
  a priming bolus that is too large pushes drug into the CSF at bolus rate (the 2013-16
  Class I recall used a wrong tubing volume, 0.199 mL instead of 0.140 mL).
* After a drug or concentration change the tubing and catheter still hold the old
  solution; the bridge bolus moves exactly that volume at the old prescription's volume
  rate, so the patient keeps receiving the old daily dose until the new solution
  arrives at the catheter tip.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil

from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import CatheterModel, PumpModel
from thecal.therapy.quantities import DoseRate, Duration, Volume, VolumeRate

__all__ = [
    "BridgePlan",
    "CatheterData",
    "PrimingPlan",
    "bridge_bolus",
    "catheter_volume",
    "priming_bolus",
]


@dataclass(frozen=True)
class CatheterData:
    """The implanted catheter: its model and the length left in the patient (cm).

    `implanted_cm` is the catheter's full length minus what the surgeon trimmed; for
    the Prometra labelled formula, implanted length = 110 cm - trimmed length.
    """

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
        return cls(model, model.length_cm.value - trimmed_cm)


def catheter_volume(catheter: CatheterData) -> Volume:
    """Internal volume of the implanted catheter (length × volume per cm)."""
    return catheter.model.volume_per_cm.value.scaled(catheter.implanted_cm)


def _duration_at(volume: Volume, rate: VolumeRate) -> Duration:
    seconds = volume.amount / rate.amount * 86400
    return Duration(Fraction(ceil(seconds)))


@dataclass(frozen=True)
class PrimingPlan:
    """Move `volume` over `duration`; then the stored prescription starts."""

    tubing: Volume
    catheter: Volume
    volume: Volume
    duration: Duration

    @property
    def rate(self) -> VolumeRate:
        return self.volume / self.duration


def priming_bolus(pump: PumpModel, catheter: CatheterData) -> PrimingPlan:
    """The priming bolus after implant or catheter revision: exactly the pump tubing
    volume plus the catheter volume, at the pump's highest bolus rate (rounded to a
    whole second, never faster)."""
    tubing = pump.tubing_volume.value
    in_catheter = catheter_volume(catheter)
    volume = tubing + in_catheter
    return PrimingPlan(
        tubing, in_catheter, volume, _duration_at(volume, pump.max_bolus_volume_rate.value)
    )


@dataclass(frozen=True)
class BridgePlan:
    """Move the old solution (`volume`) over `duration` at the old daily dose."""

    volume: Volume
    duration: Duration
    old_daily_dose: DoseRate
    old_volume_rate: VolumeRate


def bridge_bolus(pump: PumpModel, catheter: CatheterData, old: Prescription) -> BridgePlan:
    """The bridge bolus after a drug or concentration change.

    `ValueError` when the old prescription delivered nothing (stopped): there is no old
    dose to bridge; prime with the new solution instead, under supervision.
    """
    volume = pump.tubing_volume.value + catheter_volume(catheter)
    minimum = pump.minimum_rate.value
    daily = DoseRate(programmed_daily_dose(old, minimum).amount)
    if old.mode is Mode.STOPPED or daily.amount <= 0:
        raise ValueError(
            "the old prescription delivers nothing, so there is no dose to bridge; "
            "use a priming bolus with the new solution instead"
        )
    rate = daily.to_volume_rate(old.concentration)
    return BridgePlan(volume, _duration_at(volume, rate), daily, rate)
