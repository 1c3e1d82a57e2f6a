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
from thecal.therapy.sourced import Sourced

__all__ = ["RefillPlan", "plan_refill", "stability_limit"]


@dataclass(frozen=True)
class RefillPlan:
    """A reservoir projection with the stability limit that capped it, and warnings."""

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


def plan_refill(
    pattern: VolumePattern,
    fill: Volume,
    alarm_threshold: Volume,
    start: datetime,
    stability: Sourced[Duration] | None = None,
    pump: PumpModel | None = None,
    includes_patient_boluses: bool = True,
) -> RefillPlan:
    """Project a reservoir of `fill` mL from `start`; refill by the alarm or stability limit.

    With `pump`, a fill above the pump's reservoir is refused: overfilling is a
    known cause of over-infusion (S11).
    """
    if fill.amount <= 0:
        raise CalculatorInputError("reservoir", f"{fill} is empty", "a fill volume above 0 mL")
    if pump is not None and fill > pump.reservoir.value:
        raise CalculatorInputError(
            "reservoir",
            f"{fill} is more than {pump.label} holds; overfilling causes over-infusion",
            f"at most {pump.reservoir.value}",
        )
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
    return RefillPlan(projection, stability, tuple(warnings))
