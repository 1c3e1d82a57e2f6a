"""Refill reconciliation: what was aspirated against what the pump expected to be left.

The pump's reservoir volume is an estimate computed from programmed delivery; refill is
the one moment the truth is measured. A difference beyond the pump's labelled accuracy
(applied to the volume delivered since the last fill) plus a syringe-reading allowance
is flagged with the causes that fit its direction:

* **less** left than expected: the pump delivered more than programmed
  (over-infusion), or drug never reached the reservoir at the last refill (pocket
  fill), or aspiration was incomplete;
* **more** left than expected: the pump delivered less (under-infusion): catheter
  occlusion or kink, an inflammatory mass at the catheter tip, or a stalled motor.

Sources: disparity between expected and actual volume is a warning sign of
over-infusion or catheter-tip granuloma/occlusion (devices.md [S10], [S75c]); pocket
fill [S21]; the accuracy band is the pump model's (`PumpModel.accuracy_percent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Volume

__all__ = [
    "SYRINGE_ALLOWANCE",
    "Direction",
    "Reconciliation",
    "check_fill",
    "reconcile",
]

SYRINGE_ALLOWANCE = Volume(Fraction(1, 2))
"""Profile parameter: reading a syringe and aspirating to the last drop are imprecise
(devices.md [S28] attributes part of measured discrepancies to both); no public number
was found, so 0.5 mL is allowed on top of the accuracy band."""


class Direction(StrEnum):
    WITHIN_TOLERANCE = "within_tolerance"
    LESS_THAN_EXPECTED = "less_than_expected"
    MORE_THAN_EXPECTED = "more_than_expected"


LESS_CAUSES = (
    "over-infusion: the pump delivered more than programmed",
    "pocket fill at an earlier refill: drug went into the pocket, not the reservoir",
    "incomplete aspiration: solution left in the reservoir",
)
MORE_CAUSES = (
    "under-infusion: catheter occlusion or kink",
    "inflammatory mass (granuloma) at the catheter tip: check for loss of effect and new "
    "neurological signs",
    "motor stall or stopped pump: check the event log",
)


@dataclass(frozen=True)
class Reconciliation:
    expected_remaining: Volume
    aspirated: Volume
    expected_delivered: Volume
    tolerance: Volume
    direction: Direction
    likely_causes: tuple[str, ...]

    @property
    def difference(self) -> Volume:
        """Aspirated minus expected (negative: less was left than expected)."""
        return self.aspirated - self.expected_remaining

    @property
    def flagged(self) -> bool:
        return self.direction is not Direction.WITHIN_TOLERANCE

    def message(self) -> str:
        if not self.flagged:
            return (
                f"aspirated {self.aspirated}, expected {self.expected_remaining}: "
                f"within ±{self.tolerance}"
            )
        word = "less" if self.direction is Direction.LESS_THAN_EXPECTED else "more"
        return (
            f"DISCREPANCY: aspirated {self.aspirated} but expected {self.expected_remaining} "
            f"({Volume(abs(self.difference.amount))} {word} than expected; "
            f"tolerance ±{self.tolerance}). Likely causes: " + "; ".join(self.likely_causes)
        )


def reconcile(
    expected_remaining: Volume,
    aspirated: Volume,
    expected_delivered: Volume,
    pump: PumpModel,
    allowance: Volume = SYRINGE_ALLOWANCE,
) -> Reconciliation:
    """Compare the aspirated volume with the pump's expected remaining volume.

    Tolerance = accuracy % of the volume delivered since the last fill + `allowance`.
    A difference equal to the tolerance is within it.
    """
    if aspirated.is_negative():
        raise ValueError("aspirated volume cannot be negative")
    band = expected_delivered.scaled(pump.accuracy_percent.value / 100)
    tolerance = Volume(abs(band.amount)) + allowance
    difference = aspirated - expected_remaining
    if abs(difference.amount) <= tolerance.amount:
        return Reconciliation(
            expected_remaining, aspirated, expected_delivered, tolerance,
            Direction.WITHIN_TOLERANCE, (),
        )  # fmt: skip
    if difference.is_negative():
        return Reconciliation(
            expected_remaining, aspirated, expected_delivered, tolerance,
            Direction.LESS_THAN_EXPECTED, LESS_CAUSES,
        )  # fmt: skip
    return Reconciliation(
        expected_remaining, aspirated, expected_delivered, tolerance,
        Direction.MORE_THAN_EXPECTED, MORE_CAUSES,
    )  # fmt: skip


def check_fill(new_volume: Volume, pump: PumpModel) -> str | None:
    """None if `new_volume` fits the reservoir; otherwise why it is refused.
    Exactly the capacity is allowed; overfilling is a risk factor for over-infusion."""
    capacity = pump.reservoir.value
    if new_volume.is_negative() or new_volume.is_zero():
        return "the fill volume must be more than zero"
    if new_volume > capacity:
        return (
            f"{new_volume} exceeds the reservoir capacity {capacity} of {pump.label}; "
            "overfilling is a risk factor for over-infusion"
        )
    return None
