"""Refill reconciliation: does the volume drawn back out of the pump match what it should hold?

A pump only estimates its reservoir from programmed delivery; the volume aspirated at a
refill is the clinic's real measurement. A disparity is a warning sign (devices.md §1.5):

- less came back than expected: over-infusion, or drug lost into the subcutaneous pocket
  at the previous refill ("pocket fill");
- more came back than expected: under-delivery (catheter occlusion, catheter-tip mass,
  motor stall).

Expected is a range: from the last known content, programmed delivery alone leaves the
most; programmed delivery plus every allowed patient bolus leaves the least. The range
is widened by the pump model's accuracy band on the delivered volume and by a minimum
tolerance for syringe reading (policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from thecal.clinic.refill_schedule import DeliveryPeriod, ReservoirAnchor, volume_moved
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Volume

__all__ = ["Discrepancy", "Expectation", "Reconciliation", "expected_volume", "reconcile"]


class Discrepancy(StrEnum):
    NONE = "none"
    LESS_THAN_EXPECTED = "less_than_expected"
    MORE_THAN_EXPECTED = "more_than_expected"


@dataclass(frozen=True)
class Expectation:
    """What the reservoir should hold at `at`: between `low` and `high` (tolerance included)."""

    at: datetime
    most_likely: Volume
    """Programmed delivery only (no patient boluses), floored at zero."""
    low: Volume
    high: Volume


@dataclass(frozen=True)
class Reconciliation:
    expectation: Expectation
    aspirated: Volume
    discrepancy: Discrepancy
    difference: Volume
    """aspirated − most likely (negative: less came back)."""
    message: str


def expected_volume(
    anchor: ReservoirAnchor,
    at: datetime,
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    tz: tzinfo,
    minimum_tolerance: Volume,
) -> Expectation:
    """The range the reservoir content should lie in at `at`."""
    programmed = volume_moved(anchor.at, at, deliveries, pump, tz, include_patient_boluses=False)
    worst = volume_moved(anchor.at, at, deliveries, pump, tz, include_patient_boluses=True)
    accuracy = programmed.scaled(pump.accuracy_percent.value / 100)
    tolerance = max(accuracy, minimum_tolerance)
    zero = Volume.zero()
    most = max(anchor.volume - programmed, zero)
    least = max(anchor.volume - worst - tolerance, zero)
    return Expectation(at, most, least, most + tolerance)


def reconcile(expectation: Expectation, aspirated: Volume) -> Reconciliation:
    """Compare the aspirated volume with the expectation; on the bounds is not a discrepancy."""
    difference = aspirated - expectation.most_likely
    if aspirated < expectation.low:
        kind = Discrepancy.LESS_THAN_EXPECTED
        message = (
            f"{aspirated} returned, expected at least {expectation.low}: possible over-infusion "
            "or drug lost into the pocket at the last refill (pocket fill); assess the patient "
            "and interrogate the pump"
        )
    elif aspirated > expectation.high:
        kind = Discrepancy.MORE_THAN_EXPECTED
        message = (
            f"{aspirated} returned, expected at most {expectation.high}: possible "
            "under-delivery (catheter occlusion, catheter-tip mass, motor stall); assess the "
            "patient and interrogate the pump"
        )
    else:
        kind = Discrepancy.NONE
        message = (
            f"{aspirated} returned, within the expected {expectation.low} to {expectation.high}"
        )
    return Reconciliation(expectation, aspirated, kind, difference, message)
