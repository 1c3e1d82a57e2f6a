"""The fluid path from the reservoir to the catheter tip: which lengths and volumes to use.

    implanted length   = given, else catheter length − trimmed length          [S30]
    catheter length    = given, else the catheter model's
    volume per cm      = given, else the catheter model's                      [S30]
    tubing volume      = given, else the pump model's                          [S8]
    catheter volume    = volume per cm × implanted length
    dead volume        = tubing volume + catheter volume

A value typed in wins over a model's; each value says where it came from
(`FluidPath.provenance`). The priming bolus fills this path with drug; the bridge
bolus pushes the old solution out of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from thecal.therapy.calculators.bridge import dead_volume
from thecal.therapy.calculators.errors import InputProblem, MissingOrConflictingInput
from thecal.therapy.calculators.priming import catheter_volume, checked_catheter_volume
from thecal.therapy.calculators.priming import implanted_length as implanted_of
from thecal.therapy.pump_models import CatheterModel, PumpModel
from thecal.therapy.quantities import Volume

__all__ = ["GIVEN", "FluidPath", "fluid_path"]

GIVEN = "given"
"""The provenance of a value typed in by the user."""


@dataclass(frozen=True)
class FluidPath:
    """The implanted catheter and the pump tubing, each value with its provenance."""

    implanted_length_cm: Fraction
    volume_per_cm: Volume
    maximum_length_cm: Fraction | None
    """The whole catheter's length when known (an implanted length beyond it is refused)."""
    tubing_volume: Volume
    provenance: Mapping[str, str]
    """Where each value came from: ``"given"``, ``"<model>: source Sn"`` or the formula."""

    @property
    def catheter_volume(self) -> Volume:
        """Fluid held by the implanted catheter (mL)."""
        return catheter_volume(self.volume_per_cm, self.implanted_length_cm)

    @property
    def dead_volume(self) -> Volume:
        """Fluid between the reservoir and the catheter tip (mL): tubing + catheter."""
        return dead_volume(self.catheter_volume, self.tubing_volume)


def fluid_path(
    *,
    implanted_length_cm: Fraction | None = None,
    catheter_length_cm: Fraction | None = None,
    trimmed_length_cm: Fraction | None = None,
    catheter: CatheterModel | None = None,
    volume_per_cm: Volume | None = None,
    tubing_volume: Volume | None = None,
    pump: PumpModel | None = None,
) -> FluidPath:
    """The fluid path from what is given, completed from the catheter and pump models.

    Missing or doubly given inputs raise `MissingOrConflictingInput` (`BOTH_LENGTHS`,
    `TRIMMED_NEEDS_CATHETER_LENGTH`, `NO_IMPLANTED_LENGTH`, `NO_VOLUME_PER_CM`,
    `NO_TUBING_VOLUME`); lengths and volumes a catheter cannot have raise
    `CalculatorInputError` naming the field.
    """
    provenance: dict[str, str] = {}
    full = catheter_length_cm
    if full is not None:
        provenance["catheter_length"] = GIVEN
    elif catheter is not None:
        full = catheter.length_cm.value
        provenance["catheter_length"] = f"{catheter.id}: {catheter.length_cm.provenance}"
    if implanted_length_cm is not None and trimmed_length_cm is not None:
        raise MissingOrConflictingInput(InputProblem.BOTH_LENGTHS, "implanted_length")
    if implanted_length_cm is not None:
        length = implanted_length_cm
        provenance["implanted_length"] = GIVEN
    elif trimmed_length_cm is not None:
        if full is None:
            raise MissingOrConflictingInput(
                InputProblem.TRIMMED_NEEDS_CATHETER_LENGTH, "catheter_length"
            )
        length = implanted_of(full, trimmed_length_cm)
        provenance["implanted_length"] = "catheter length − trimmed length"
    else:
        raise MissingOrConflictingInput(InputProblem.NO_IMPLANTED_LENGTH, "implanted_length")
    if volume_per_cm is not None:
        per_cm = volume_per_cm
        provenance["catheter_volume_per_cm"] = GIVEN
    elif catheter is not None:
        per_cm = catheter.volume_per_cm.value
        provenance["catheter_volume_per_cm"] = f"{catheter.id}: {catheter.volume_per_cm.provenance}"
    else:
        raise MissingOrConflictingInput(InputProblem.NO_VOLUME_PER_CM, "catheter_volume_per_cm")
    if tubing_volume is not None:
        tubing = tubing_volume
        provenance["tubing_volume"] = GIVEN
    elif pump is not None:
        tubing = pump.tubing_volume.value
        provenance["tubing_volume"] = f"{pump.id}: {pump.tubing_volume.provenance}"
    else:
        raise MissingOrConflictingInput(InputProblem.NO_TUBING_VOLUME, "tubing_volume")
    checked_catheter_volume(length, per_cm, tubing, full)  # the priming bolus's own checks
    return FluidPath(length, per_cm, full, tubing, provenance)
