"""Refill date: when the low-reservoir alarm sounds, when the pump runs dry, and the
date a refill is due, capped by the drug's stability in the pump.

    refill by = min(low-reservoir alarm time, fill time + stability limit)

The alarm and empty times come from `thecal.therapy.projection` (closed form over
the schedule, worst-case patient boluses by default); the stability limit from the
drug library (the concentration's own limit, else the drug's; on a first fill the
drug's first-fill limit when shorter, e.g. ziconotide 14 days, S45).

`refill_forecast` is the whole calculation from what is at hand: a prescription (its
schedule, with or without worst-case patient boluses, and its drug) or a constant
volume rate with an optional drug and concentration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from thecal.therapy.calculators.errors import (
    CalculatorInputError,
    InputProblem,
    MissingOrConflictingInput,
)
from thecal.therapy.calculators.prescribed import pump_minimum_rate
from thecal.therapy.library import DrugEntry, DrugLibrary
from thecal.therapy.prescription import Prescription
from thecal.therapy.projection import (
    ReservoirProjection,
    VolumePattern,
    constant_pattern,
    prescription_pattern,
    project_reservoir,
)
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Concentration, Duration, Volume, VolumeRate
from thecal.therapy.refill import check_refill_volumes
from thecal.therapy.sourced import Sourced

__all__ = ["RefillDate", "RefillForecast", "refill_date", "refill_forecast", "stability_limit"]


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


@dataclass(frozen=True)
class RefillForecast:
    """A refill plan with the drug it was planned for, its warnings and notes."""

    plan: RefillDate
    drug: DrugEntry | None
    """The drug whose stability capped the plan (None: not capped by stability)."""
    first_fill: bool
    patient_boluses_counted: bool | None
    """For a schedule with patient boluses: True when every allowed bolus is counted, as
    early as possible (the worst case); False when they are left out. None without them."""
    warnings: tuple[str, ...]
    """Findings that need attention (a fill at the alarm threshold, stability fallbacks)."""
    notes: tuple[str, ...]
    """What was assumed (no drug, a drug outside the library)."""

    @property
    def projection(self) -> ReservoirProjection:
        return self.plan.projection


def refill_forecast(
    library: DrugLibrary,
    fill: Volume,
    alarm_threshold: Volume,
    start: datetime,
    *,
    prescription: Prescription | None = None,
    volume_rate: VolumeRate | None = None,
    drug: DrugEntry | None = None,
    concentration: Concentration | None = None,
    include_patient_boluses: bool = True,
    first_fill: bool = False,
    pump: PumpModel | None = None,
) -> RefillForecast:
    """Low-reservoir alarm, empty and refill-by times for `fill` mL from `start`.

    From `prescription` (its schedule; worst-case patient boluses unless
    `include_patient_boluses` is False; its drug and concentration set the stability
    limit) or from a constant `volume_rate` (exactly one is given), optionally with
    `drug` and `concentration` for the stability limit. Inputs that do not fit raise
    `MissingOrConflictingInput`: `DRUG_DIFFERS` / `CONCENTRATION_DIFFERS` from the
    prescription's, `DRUG_WITHOUT_CONCENTRATION` without a prescription,
    `MINIMUM_RATE_NEEDS_PUMP`.
    """
    if (prescription is None) == (volume_rate is None):
        raise TypeError("refill_forecast takes exactly one of prescription and volume_rate")
    notes: list[str] = []
    warnings: list[str] = []
    pattern: VolumePattern
    counted: bool | None = None
    if prescription is not None:
        prescribed = library.find(prescription.drug)
        if drug is not None and drug is not prescribed:
            raise MissingOrConflictingInput(InputProblem.DRUG_DIFFERS, "drug")
        if concentration is not None and concentration != prescription.concentration:
            raise MissingOrConflictingInput(InputProblem.CONCENTRATION_DIFFERS, "concentration")
        drug, concentration = prescribed, prescription.concentration
        if drug is None:
            notes.append(f"{prescription.drug} is not in the library: no stability limit")
        minimum = pump_minimum_rate(prescription, pump)
        pattern = prescription_pattern(prescription, start, minimum, include_patient_boluses)
        if prescription.patient_bolus is not None:
            counted = include_patient_boluses
    else:
        assert volume_rate is not None
        if (drug is None) != (concentration is None):
            raise MissingOrConflictingInput(InputProblem.DRUG_WITHOUT_CONCENTRATION, "drug")
        pattern = constant_pattern(volume_rate)
    stability = None
    if drug is not None and concentration is not None:
        stability, found = stability_limit(drug, concentration, first_fill)
        warnings.extend(found)
    else:
        drug = None
        notes.append("no drug given: the refill date is not capped by drug stability")
    plan = refill_date(pattern, fill, alarm_threshold, start, stability, pump,
                       include_patient_boluses)  # fmt: skip
    warnings.extend(plan.warnings)
    return RefillForecast(plan, drug, first_fill, counted, tuple(warnings), tuple(notes))
