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

`solution_change` reads the old and new solutions from what is at hand (the running
and the new prescription, or a dose and concentrations); `bridge_for_change` gives the
bridge with what it means for the pump (a rate below the lowest it can run) and for
the patient (the old drug keeps arriving after a drug change).
"""

from __future__ import annotations

from dataclasses import dataclass

from thecal.therapy.calculators.errors import (
    CalculatorInputError,
    InputProblem,
    MissingOrConflictingInput,
)
from thecal.therapy.calculators.prescribed import programmed_dose_rate
from thecal.therapy.library import DrugEntry, DrugLibrary
from thecal.therapy.limits import LimitCheck
from thecal.therapy.prescription import Prescription
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume, VolumeRate

__all__ = [
    "BridgeBolus",
    "ChangeBridge",
    "SolutionChange",
    "bridge_bolus",
    "bridge_for_change",
    "dead_volume",
    "solution_change",
]


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


@dataclass(frozen=True)
class SolutionChange:
    """The solution the pump runs now, at its daily dose, and the one replacing it.

    A drug is its library entry, or None when it is not in the library (or not said);
    `new_concentration` is None when only the old solution is known.
    """

    old_daily_dose: DoseRate
    old_concentration: Concentration
    drug: DrugEntry | None
    new_concentration: Concentration | None
    new_drug: DrugEntry | None

    @property
    def drug_changed(self) -> bool:
        """True when the new solution is another drug of the library than the old one."""
        old, new = self.drug, self.new_drug
        return old is not None and new is not None and old is not new


def solution_change(
    library: DrugLibrary,
    *,
    current: Prescription | None = None,
    old_daily_dose: DoseRate | None = None,
    old_concentration: Concentration | None = None,
    new: Prescription | None = None,
    new_concentration: Concentration | None = None,
    drug: DrugEntry | None = None,
    pump: PumpModel | None = None,
) -> SolutionChange:
    """The old and new solutions from the running prescription `current` (its programmed
    daily dose, its concentration and drug) or from `old_daily_dose` and
    `old_concentration`; the new one from the `new` prescription or `new_concentration`.

    `drug` names the drug when the prescriptions do not (or name one outside the
    library); without a new prescription the new drug is the old one. Missing or doubly
    given solutions raise `MissingOrConflictingInput` (`BOTH_OLD_SOLUTIONS`,
    `NO_OLD_SOLUTION`, `BOTH_NEW_SOLUTIONS`; `MINIMUM_RATE_NEEDS_PUMP` for a
    minimum-rate `current` without `pump`).
    """
    if current is not None:
        if old_daily_dose is not None or old_concentration is not None:
            raise MissingOrConflictingInput(InputProblem.BOTH_OLD_SOLUTIONS, "current")
        dose = programmed_dose_rate(current, pump)
        strength = current.concentration
        drug = library.find(current.drug) or drug
    elif old_daily_dose is None or old_concentration is None:
        raise MissingOrConflictingInput(InputProblem.NO_OLD_SOLUTION, "current")
    else:
        dose, strength = old_daily_dose, old_concentration
    new_drug = drug
    if new is not None:
        if new_concentration is not None:
            raise MissingOrConflictingInput(InputProblem.BOTH_NEW_SOLUTIONS, "new")
        new_concentration = new.concentration
        new_drug = library.find(new.drug)
    return SolutionChange(dose, strength, drug, new_concentration, new_drug)


@dataclass(frozen=True)
class ChangeBridge:
    """The bridge bolus for a solution change, and what it means.

    `rate_floor` holds the bridge rate to the pump's lowest rate (None without a pump
    model); `warnings` words each finding.
    """

    bolus: BridgeBolus
    change: SolutionChange
    rate_floor: LimitCheck[VolumeRate] | None
    warnings: tuple[str, ...]


def bridge_for_change(
    change: SolutionChange, dead: Volume, pump: PumpModel | None = None
) -> ChangeBridge:
    """The bridge bolus that moves `dead` mL of the old solution at the old daily dose.

    With `pump`, a bridge rate below the lowest rate the pump can run is a warning (the
    pump cannot run it as calculated); a change of drug is a warning (the old drug keeps
    reaching the patient for the whole bridge).
    """
    bolus = bridge_bolus(
        change.old_daily_dose, change.old_concentration, dead, change.new_concentration
    )
    warnings: list[str] = []
    floor = pump.rate_floor.classify(bolus.volume_rate) if pump is not None else None
    if floor is not None and floor.exceeded:
        warnings.append(
            f"the bridge rate {bolus.volume_rate} is below the lowest rate "
            f"{floor.bound.value} the pump can run"
        )
    if change.drug_changed:
        assert change.drug is not None and change.new_drug is not None
        warnings.append(
            f"drug change: {change.drug.id} keeps reaching the patient for {bolus.duration}; "
            f"{change.new_drug.id} starts only after the bridge"
        )
    return ChangeBridge(bolus, change, floor, tuple(warnings))
