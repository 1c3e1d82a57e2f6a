"""Bridge bolus: after a drug or concentration change, the OLD solution still fills
the pump tubing and the catheter, and reaches the patient first.

    dead volume (mL)          = pump tubing volume + implanted catheter volume
    bridge volume rate        = old daily dose (mcg/day) / old concentration (mcg/mL)
    bridge duration           = dead volume / bridge volume rate
    old drug in dead volume   = dead volume × old concentration

Running at the bridge rate keeps the patient on the OLD daily dose until the new
solution reaches the catheter tip; then the new prescription starts. A pump that
is programmed in units of its new contents would show the bridge rate as
``bridge volume rate × new concentration`` (`entered_dose_rate`): that number is
what is typed, not what the patient receives during the bridge.
"""

from __future__ import annotations

from dataclasses import dataclass

from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume, VolumeRate

__all__ = ["BridgeBolus", "bridge_bolus", "dead_volume"]


@dataclass(frozen=True)
class BridgeBolus:
    """How to push the old solution out at the old daily dose."""

    dead_volume: Volume
    old_concentration: Concentration
    old_daily_dose: DoseRate
    volume_rate: VolumeRate
    duration: Duration
    old_drug_in_dead_volume: Mass
    new_concentration: Concentration | None
    entered_dose_rate: DoseRate | None


def dead_volume(catheter_volume: Volume, tubing_volume: Volume) -> Volume:
    """Fluid between the reservoir and the catheter tip (mL)."""
    if catheter_volume.amount < 0 or tubing_volume.amount < 0:
        raise CalculatorInputError(
            "dead_volume", "a catheter or tubing volume is negative", "volumes of 0 mL or more"
        )
    return catheter_volume + tubing_volume


def bridge_bolus(
    old_daily_dose: DoseRate,
    old_concentration: Concentration,
    dead: Volume,
    new_concentration: Concentration | None = None,
) -> BridgeBolus:
    """The volume, rate and duration that deliver the old solution at the old daily dose."""
    if old_concentration.amount <= 0:
        raise CalculatorInputError(
            "old_concentration", f"{old_concentration}", "a concentration above zero"
        )
    if old_daily_dose.amount <= 0:
        raise CalculatorInputError(
            "old_daily_dose",
            "zero: the old solution would never move (a stopped pump needs a priming bolus)",
            "the old prescription's daily dose, above zero",
        )
    if dead.amount <= 0:
        raise CalculatorInputError("dead_volume", f"{dead}", "a volume above 0 mL")
    if new_concentration is not None and new_concentration.amount <= 0:
        raise CalculatorInputError(
            "new_concentration", f"{new_concentration}", "a concentration above zero"
        )
    rate = old_daily_dose.to_volume_rate(old_concentration)
    return BridgeBolus(
        dead_volume=dead,
        old_concentration=old_concentration,
        old_daily_dose=old_daily_dose,
        volume_rate=rate,
        duration=dead / rate,
        old_drug_in_dead_volume=dead.times(old_concentration),
        new_concentration=new_concentration,
        entered_dose_rate=(
            rate.to_dose_rate(new_concentration) if new_concentration is not None else None
        ),
    )
