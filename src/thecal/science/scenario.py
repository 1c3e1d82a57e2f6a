"""One spread question end to end: drug, tip level, deliveries, hours -> answer.

This is what the CLI (and later the clinic service) calls: it builds the canal
grid from the shipped parameters, probes every cord segment and vertebral
level, runs the solver and maps the result to segments and dermatomes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from thecal.science.coverage import Coverage, coverage, segment_positions_cm
from thecal.science.geometry import build_grid
from thecal.science.parameters import DrugTransport, ModelParameters, model_parameters
from thecal.science.spread import Delivery, SpreadResult, simulate
from thecal.therapy import anatomy
from thecal.therapy.anatomy import Vertebra

__all__ = [
    "ProfilePoint",
    "ScenarioResult",
    "canal_tip_cm",
    "run_scenario",
]


@dataclass(frozen=True, slots=True)
class ProfilePoint:
    """Final concentration (microgram/mL) at one vertebral level inside the sac."""

    vertebra: Vertebra
    position_cm: float
    concentration: float


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """The solver result with its coverage and the final per-level profile."""

    tip: Vertebra
    result: SpreadResult
    coverage: Coverage
    profile: tuple[ProfilePoint, ...]


def canal_tip_cm(tip: Vertebra) -> float:
    """Where a catheter tip at vertebral level `tip` sits along the canal (cm).

    Refuses levels below the end of the dural sac: there is no CSF there.
    """
    end = anatomy.canal_landmarks().dural_sac_end_cm
    if tip.position_cm >= end:
        inside = [v.name for v in anatomy.vertebrae() if v.position_cm < end]
        raise ValueError(
            f"catheter tip: {tip.name} lies below the end of the dural sac "
            f"({float(end):.1f} cm from the foramen magnum), where there is no CSF; "
            f"accepted tip levels: {inside[0]}-{inside[-1]}"
        )
    return float(tip.position_cm)


def run_scenario(
    drug: DrugTransport,
    tip: Vertebra,
    deliveries: Sequence[Delivery],
    hours: float,
    *,
    resolution_cm: float = 0.1,
    params: ModelParameters | None = None,
    samples: int = 97,
    progress: Callable[[float], None] | None = None,
) -> ScenarioResult:
    """Simulate `deliveries` at `tip` for `hours` and report segments and profile."""
    if not hours > 0:
        raise ValueError(f"hours must be positive, not {hours}")
    tip_cm = canal_tip_cm(tip)
    grid = build_grid(params or model_parameters(), resolution_cm)
    end = anatomy.canal_landmarks().dural_sac_end_cm
    levels = [v for v in anatomy.vertebrae() if v.position_cm < end]
    level_positions = np.array([float(v.position_cm) for v in levels])
    probes = np.concatenate((segment_positions_cm(), level_positions))
    result = simulate(
        grid,
        drug,
        tip_cm,
        deliveries,
        hours * 3600.0,
        probes_cm=probes,
        samples=samples,
        progress=progress,
    )
    final = result.concentration_at(level_positions)
    profile = tuple(
        ProfilePoint(v, float(x), float(c))
        for v, x, c in zip(levels, level_positions, final, strict=True)
    )
    return ScenarioResult(tip, result, coverage(result), profile)
