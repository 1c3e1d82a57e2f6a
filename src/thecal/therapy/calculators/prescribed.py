"""What a calculator reads from a prescription: the pump's minimum rate (for
minimum-rate mode) and the daily dose it programs.

A minimum-rate prescription has no rate of its own: it runs at the pump model's
minimum rate, so without a pump model its volume and dose cannot be known.
"""

from __future__ import annotations

from thecal.therapy.calculators.errors import InputProblem, MissingOrConflictingInput
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import DoseRate, VolumeRate

__all__ = ["programmed_dose_rate", "pump_minimum_rate"]


def pump_minimum_rate(
    prescription: Prescription, pump: PumpModel | None, field: str = "pump"
) -> VolumeRate | None:
    """The pump model's minimum-rate volume rate (mL/day), None without a pump.

    `MissingOrConflictingInput` (`MINIMUM_RATE_NEEDS_PUMP`, naming `field`) when the
    prescription is in minimum-rate mode and no pump model is given.
    """
    if pump is None:
        if prescription.mode is Mode.MINIMUM_RATE:
            raise MissingOrConflictingInput(InputProblem.MINIMUM_RATE_NEEDS_PUMP, field)
        return None
    return pump.minimum_rate.value


def programmed_dose_rate(
    prescription: Prescription, pump: PumpModel | None, field: str = "pump"
) -> DoseRate:
    """The daily dose (mcg/day) the prescription programs, without patient boluses; a
    single bolus counts as its whole dose. Minimum-rate mode needs `pump` (see
    `pump_minimum_rate`)."""
    minimum = pump_minimum_rate(prescription, pump, field)
    return DoseRate(programmed_daily_dose(prescription, minimum).amount)
