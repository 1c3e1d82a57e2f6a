"""Refill date: when the low-reservoir alarm sounds, when the pump runs dry, and the
date a refill is due, capped by the drug's stability in the pump.

    refill by = min(low-reservoir alarm time, fill time + stability limit)

The alarm and empty times come from `thecal.therapy.projection` (closed form over
the schedule, worst-case patient boluses by default); the stability limit from the
drug library (the concentration's own limit, else the drug's; on a first fill the
drug's first-fill limit when shorter, e.g. ziconotide 14 days, S45).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.library import DrugEntry
from thecal.therapy.projection import ReservoirProjection, VolumePattern, project_reservoir
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Concentration, Duration, Volume
from thecal.therapy.refill import check_refill_volumes
from thecal.therapy.sourced import Sourced

__all__ = ["RefillDate", "refill_date", "stability_limit"]


@dataclass(frozen=True)
class RefillDate:
    """A reservoir projection (alarm, empty, refill-by) with the stability limit that
    capped it, and warnings."""

    projection: ReservoirProjection
    stability: Sourced[Duration] | None
    warnings: tuple[str, ...] = ()


def stability_limit(
    drug: DrugEntry, concentration: Concentration, first_fill: bool = False
) -> tuple[Sourced[Duration], tuple[str, ...]]:
    """The longest a fill of `drug` at `concentration` may stay in the pump, and warnings."""
    warnings: list[str] = []
    if drug.concentration_entry(concentration) is None:
        warnings.append(
            f"{drug.show(concentration)} is not a library concentration of {drug.id}: "
            "the drug's general stability limit is used"
        )
    if first_fill and drug.first_fill_max_interval is None:
        warnings.append(f"{drug.id} has no first-fill limit in the library")
    return drug.refill_limit(concentration, first_fill), tuple(warnings)


def refill_date(
    pattern: VolumePattern,
    fill: Volume,
    alarm_threshold: Volume,
    start: datetime,
    stability: Sourced[Duration] | None = None,
    pump: PumpModel | None = None,
    includes_patient_boluses: bool = True,
) -> RefillDate:
    """Project a reservoir of `fill` mL from `start`; refill by the alarm or stability limit.

    The fill must hold something; with `pump`, a fill above the pump's reservoir is
    refused (overfilling is a known cause of over-infusion): the refill rules'
    `check_refill_volumes`, as at every refill.
    """
    capacity = pump.reservoir.value if pump is not None else None
    for refusal in check_refill_volumes(capacity, fill):
        raise CalculatorInputError("reservoir", refusal.message, refusal.accepted)
    warnings: list[str] = []
    if alarm_threshold >= fill:
        warnings.append(
            f"the fill {fill} is at or below the alarm threshold {alarm_threshold}: "
            "the low-reservoir alarm sounds at once"
        )
    if pattern.per_period == 0:
        warnings.append("the prescription moves no fluid: only the stability limit applies")
    projection = project_reservoir(
        pattern,
        fill,
        alarm_threshold,
        start,
        stability.value if stability is not None else None,
        includes_patient_boluses,
    )
    return RefillDate(projection, stability, tuple(warnings))
