"""Run a fleet: split it into seeded blocks, simulate them, combine, summarise.

`run_fleet` simulates the blocks one after another on this machine;
`thecal.science.fleet_dask.run_fleet_on_dask` hands the same blocks to a Dask
cluster. Both give the blocks' outcomes in block order and `combine` concatenates
them, so the summary is the same bit for bit for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thecal.science.fleet_model import BlockOutcome, months_in, simulate_block
from thecal.science.fleet_parameters import FleetParameters, fleet_parameters
from thecal.science.fleet_population import BLOCK_SIZE, block_count
from thecal.science.fleet_stats import Estimate, mean_per_patient, proportion, rate

__all__ = [
    "DISCLAIMER",
    "MAX_PATIENT_YEARS",
    "FleetResult",
    "block_sizes",
    "combine",
    "run_fleet",
    "summarise",
    "validate_request",
]

DISCLAIMER = (
    "Population model for research and teaching, not a medical device: attendance, dose, "
    "mix and accuracy distributions are model parameters (data/fleet.toml)."
)
MAX_PATIENTS = 10_000_000
MAX_YEARS = 50.0
MAX_PATIENT_YEARS = 1e8

Progress = Callable[[int, int], None]  # (blocks done, blocks in all)


def validate_request(patients: int, years: float, seed: int) -> None:
    """`ValueError` naming what is accepted for a bad fleet size, horizon or seed."""
    if patients < 1 or patients > MAX_PATIENTS:
        raise ValueError(f"--patients: {patients} must be from 1 to {MAX_PATIENTS}")
    if not 0 < years <= MAX_YEARS:
        raise ValueError(f"--years: {years:g} must be more than 0 and at most {MAX_YEARS:g}")
    if patients * years > MAX_PATIENT_YEARS:
        raise ValueError(
            f"--patients x --years is {patients * years:.3g} patient-years; at most "
            f"{MAX_PATIENT_YEARS:.0e} (split the run)"
        )
    if seed < 0 or seed >= 2**63:
        raise ValueError(f"--seed: {seed} must be from 0 to 2^63 - 1")


def block_sizes(patients: int) -> list[int]:
    """Patients in each block (all full but the last)."""
    count = block_count(patients)
    return [min(BLOCK_SIZE, patients - b * BLOCK_SIZE) for b in range(count)]


@dataclass(frozen=True)
class FleetResult:
    """The whole fleet's per-patient outcomes (in patient order) and monthly counts."""

    patients: int
    years: float
    seed: int
    drug: NDArray[np.int8]
    pump: NDArray[np.int8]
    refills: NDArray[np.int64]
    replacements: NDArray[np.int64]
    dry_events: NDArray[np.int64]
    intervals: NDArray[np.int64]
    dry_intervals: NDArray[np.int64]
    low_alarm_days: NDArray[np.float64]
    no_drug_days: NDArray[np.float64]
    end_of_service_days: NDArray[np.float64]
    programmed_volume: NDArray[np.float64]
    delivered_volume: NDArray[np.float64]
    first_eri_day: NDArray[np.float64]
    refills_by_month: NDArray[np.int64]
    replacements_by_month: NDArray[np.int64]


def combine(
    outcomes: Sequence[BlockOutcome], patients: int, years: float, seed: int
) -> FleetResult:
    """Concatenate block outcomes (they must be in block order)."""
    firsts = [o.first for o in outcomes]
    if firsts != [b * BLOCK_SIZE for b in range(len(outcomes))]:
        raise ValueError("block outcomes are missing or out of order")

    def cat(name: str) -> Any:
        return np.concatenate([getattr(o, name) for o in outcomes])

    return FleetResult(
        patients=patients,
        years=years,
        seed=seed,
        drug=cat("drug"),
        pump=cat("pump"),
        refills=cat("refills"),
        replacements=cat("replacements"),
        dry_events=cat("dry_events"),
        intervals=cat("intervals"),
        dry_intervals=cat("dry_intervals"),
        low_alarm_days=cat("low_alarm_days"),
        no_drug_days=cat("no_drug_days"),
        end_of_service_days=cat("end_of_service_days"),
        programmed_volume=cat("programmed_volume"),
        delivered_volume=cat("delivered_volume"),
        first_eri_day=cat("first_eri_day"),
        refills_by_month=np.sum([o.refills_by_month for o in outcomes], axis=0),
        replacements_by_month=np.sum([o.replacements_by_month for o in outcomes], axis=0),
    )


def run_fleet(
    patients: int,
    years: float,
    seed: int,
    params: FleetParameters | None = None,
    progress: Progress | None = None,
) -> FleetResult:
    """Simulate `patients` patients for `years` years on this machine (block by block)."""
    validate_request(patients, years, seed)
    params = params if params is not None else fleet_parameters()
    sizes = block_sizes(patients)
    outcomes = []
    for block, size in enumerate(sizes):
        outcomes.append(simulate_block(params, seed, block, size, years))
        if progress is not None:
            progress(block + 1, len(sizes))
    return combine(outcomes, patients, years, seed)


def _with_affected(estimate: Estimate, values: NDArray[np.float64]) -> dict[str, Any]:
    data: dict[str, Any] = estimate.as_dict()
    affected = proportion((values > 0).astype(np.int64), np.ones(values.shape[0], dtype=np.int64))
    data["patients_affected"] = affected.as_dict()
    return data


def summarise(
    result: FleetResult, params: FleetParameters | None = None, backend: str = "local"
) -> dict[str, Any]:
    """The JSON-able summary (keys documented in docs/science.md, "Fleet simulation")."""
    params = params if params is not None else fleet_parameters()
    years = result.years
    n = result.patients
    patient_years = np.full(n, years)
    patient_months = np.full(n, years * 12)
    months = months_in(years)
    by_drug = []
    for d, mix in enumerate(params.drugs):
        mine = result.drug == d
        if not mine.any():
            continue
        by_drug.append(
            {
                "drug": mix.id,
                "patients": int(mine.sum()),
                "dry_reservoir_per_refill": proportion(
                    result.dry_intervals[mine], result.intervals[mine]
                ).as_dict(),
                "low_reservoir_alarm_days_per_patient_year": mean_per_patient(
                    result.low_alarm_days[mine], years
                ).as_dict(),
                "days_without_drug_per_patient_year": mean_per_patient(
                    result.no_drug_days[mine], years
                ).as_dict(),
            }
        )
    baclofen = next((d for d, m in enumerate(params.drugs) if m.id == "baclofen"), None)
    bac = result.drug == baclofen if baclofen is not None else np.zeros(n, dtype=bool)
    per_refill = proportion(result.dry_intervals, result.intervals)
    dry: dict[str, Any] = per_refill.as_dict()
    dry["unit"] = "probability that a fill runs dry before the next fill (per refill interval)"
    dry["per_patient_year"] = rate(result.dry_events, patient_years).as_dict()
    dry["per_patient_year"]["unit"] = "dry reservoirs per patient-year"
    alarm = _with_affected(mean_per_patient(result.low_alarm_days, years), result.low_alarm_days)
    alarm["unit"] = "days with the low-reservoir alarm active, per patient-year"
    if bac.any():
        without = _with_affected(
            mean_per_patient(result.no_drug_days[bac], years), result.no_drug_days[bac]
        )
    else:
        without = {
            "estimate": None,
            "ci_low": None,
            "ci_high": None,
            "method": "no baclofen patients",
        }
    without["unit"] = (
        "days with no drug delivered (reservoir dry or pump stopped), per baclofen patient-year"
    )
    without["patients"] = int(bac.sum())

    def monthly(
        per_patient: NDArray[np.int64], series: NDArray[np.int64], what: str
    ) -> dict[str, Any]:
        data: dict[str, Any] = rate(per_patient, patient_months).as_dict()
        data["unit"] = f"{what} per patient per month"
        data["per_1000_patients"] = {
            key: data[key] * 1000 for key in ("estimate", "ci_low", "ci_high")
        }
        data["fleet_series"] = [int(c) for c in series]
        data["series_months"] = months
        return data

    delivered = float(result.delivered_volume.sum())
    programmed = float(result.programmed_volume.sum())
    return {
        "patients": n,
        "years": years,
        "seed": result.seed,
        "patient_years": n * years,
        "backend": backend,
        "blocks": len(block_sizes(n)),
        "block_size": BLOCK_SIZE,
        "dry_reservoir_probability": dry,
        "low_reservoir_alarm_days": alarm,
        "baclofen_days_without_drug": without,
        "refills_per_month": monthly(result.refills, result.refills_by_month, "refills"),
        "battery_replacements_per_month": monthly(
            result.replacements, result.replacements_by_month, "battery replacements"
        ),
        "totals": {
            "refills": int(result.refills.sum()),
            "battery_replacements": int(result.replacements.sum()),
            "dry_reservoirs": int(result.dry_events.sum()),
            "complete_refill_intervals": int(result.intervals.sum()),
            "end_of_service_days": float(result.end_of_service_days.sum()),
            "programmed_volume_ml": programmed,
            "delivered_volume_ml": delivered,
            "delivered_per_programmed": delivered / programmed if programmed > 0 else None,
        },
        "by_drug": by_drug,
        "confidence_level": 0.95,
        "disclaimer": DISCLAIMER,
    }
