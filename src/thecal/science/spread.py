"""The CSF spread solver: drug concentration along the canal over time.

Conservative finite-volume form, one unknown per cell plus the cranial
compartment (node 0):

    V_i dc_i/dt = J_{i-1/2} - J_{i+1/2} - k V_i c_i + S_i
    V_cr dc_cr/dt = -J_{-1/2}... (flux through the foramen magnum)
                    - (k V_cr + Q_out) c_cr

with the face flux J of dispersion plus bulk flow F (mL/s, + caudal) in
Scharfetter-Gummel (exponential-fitting) form, J = G [B(-P) c_L - B(P) c_R],
G = A D / h, P = F / G, B(z) = z / (e^z - 1): exact for steady 1-D
advection-dispersion across a face and exactly conservative.

* D at a face = geometry's pulsatile + background dispersion + the drug's
  molecular diffusivity, plus a near-tip boost while a bolus runs.
* F = the pump's own flow, which must leave through the cranium (the sac is
  closed), on the faces cranial of the tip, plus an optional drift velocity.
* k = the drug's calibrated first-order loss; Q_out = CSF production + pump
  flow, absorbed from the cranial compartment.
* S = the drug entering at the tip, shared linearly between the two cells
  whose centres bracket it (keeps second-order accuracy in x).

The cranial node couples only to cell 0, so the system is tridiagonal. Time
stepping is TR-BDF2 (L-stable, second order; both stages share one matrix),
from event to event: every change of delivery restarts a geometric step
ramp, and steps never cross an event or sample time. Mass is tracked with the
same two-stage recurrences, so infused = canal + cranium + lost holds to
round-off. For constant infusion `steady_state` solves K c = -S directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_banded

from thecal.science.geometry import CanalGrid
from thecal.science.parameters import DrugTransport
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass

__all__ = [
    "Delivery",
    "MassBalance",
    "SpreadResult",
    "SteadyState",
    "bolus_delivery",
    "continuous_delivery",
    "dense_operator",
    "simulate",
    "steady_state",
]

FloatArray = NDArray[np.float64]

_GAMMA = 2.0 - math.sqrt(2.0)
_A = 1.0 / (_GAMMA * (2.0 - _GAMMA))
_B = (1.0 - _GAMMA) ** 2 / (_GAMMA * (2.0 - _GAMMA))
_W = (1.0 - _GAMMA) / (2.0 - _GAMMA)  # equals _GAMMA / 2: both stages share a matrix


@dataclass(frozen=True, slots=True)
class Delivery:
    """Drug entering the CSF at the catheter tip at a constant rate over [start_s, end_s).

    `drug_rate_ug_s`: microgram/s; `fluid_rate_ml_s`: infusate volume rate, mL/s.
    A `bolus` also stirs the CSF near the tip while it runs.
    """

    start_s: float
    end_s: float
    drug_rate_ug_s: float
    fluid_rate_ml_s: float
    bolus: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)):
            raise ValueError("delivery times must be finite")
        if self.end_s <= self.start_s:
            raise ValueError("a delivery must end after it starts")
        if self.drug_rate_ug_s < 0 or self.fluid_rate_ml_s < 0:
            raise ValueError("delivery rates must not be negative")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def drug_ug(self) -> float:
        return self.drug_rate_ug_s * self.duration_s

    @property
    def volume_ml(self) -> float:
        return self.fluid_rate_ml_s * self.duration_s


def continuous_delivery(
    dose: DoseRate, concentration: Concentration, duration: Duration, start: Duration | None = None
) -> Delivery:
    """A constant infusion of `dose` at `concentration` for `duration` (from `start`)."""
    if concentration.amount <= 0:
        raise ValueError("concentration must be positive")
    if duration.amount <= 0:
        raise ValueError("duration must be positive")
    begin = 0.0 if start is None else float(start.seconds)
    volume_rate = dose.to_volume_rate(concentration)
    return Delivery(
        start_s=begin,
        end_s=begin + float(duration.seconds),
        drug_rate_ug_s=float(dose.mcg_per_day) / 86400.0,
        fluid_rate_ml_s=float(volume_rate.amount) / 86400.0,
    )


def bolus_delivery(
    dose: Mass, concentration: Concentration, duration: Duration, start: Duration | None = None
) -> Delivery:
    """A bolus of `dose` at `concentration` delivered evenly over `duration`."""
    if concentration.amount <= 0:
        raise ValueError("concentration must be positive")
    if duration.amount <= 0:
        raise ValueError("bolus duration must be positive")
    if dose.amount <= 0:
        raise ValueError("bolus dose must be positive")
    begin = 0.0 if start is None else float(start.seconds)
    seconds = float(duration.seconds)
    volume = float((dose / concentration).ml)
    return Delivery(
        start_s=begin,
        end_s=begin + seconds,
        drug_rate_ug_s=float(dose.mcg) / seconds,
        fluid_rate_ml_s=volume / seconds,
        bolus=True,
    )


@dataclass(frozen=True, slots=True)
class MassBalance:
    """Where the drug went, in microgram. `residual_ug` is round-off only."""

    infused_ug: float
    in_canal_ug: float
    in_cranium_ug: float
    lost_in_canal_ug: float
    lost_in_cranium_ug: float
    cleared_by_csf_outflow_ug: float

    @property
    def accounted_ug(self) -> float:
        return (
            self.in_canal_ug
            + self.in_cranium_ug
            + self.lost_in_canal_ug
            + self.lost_in_cranium_ug
            + self.cleared_by_csf_outflow_ug
        )

    @property
    def residual_ug(self) -> float:
        return self.infused_ug - self.accounted_ug

    @property
    def relative_residual(self) -> float:
        scale = max(abs(self.infused_ug), 1e-300)
        return abs(self.residual_ug) / scale


@dataclass(frozen=True, eq=False, slots=True)
class SpreadResult:
    """The outcome of `simulate`. Concentrations microgram/mL, times s, positions cm.

    `probe_*` arrays follow `probes_cm`; peaks are taken over every time step,
    not only the samples.
    """

    grid: CanalGrid
    drug: DrugTransport
    tip_cm: float
    duration_s: float
    times_s: FloatArray
    canal_history: FloatArray
    """(samples, cells)"""
    cranial_history: FloatArray
    probes_cm: FloatArray
    probe_history: FloatArray
    """(samples, probes)"""
    probe_peak: FloatArray
    probe_peak_time_s: FloatArray
    cranial_peak: float
    mass: MassBalance
    steps: int

    @property
    def final_canal(self) -> FloatArray:
        return np.asarray(self.canal_history[-1], dtype=np.float64)

    @property
    def final_cranial(self) -> float:
        return float(self.cranial_history[-1])

    @property
    def probe_final(self) -> FloatArray:
        return np.asarray(self.probe_history[-1], dtype=np.float64)

    def concentration_at(self, x_cm: float | FloatArray, sample: int = -1) -> FloatArray:
        """Concentration at positions `x_cm` for one sample (default: final)."""
        return np.asarray(
            np.interp(x_cm, self.grid.centres, self.canal_history[sample]), dtype=np.float64
        )


@dataclass(frozen=True, eq=False, slots=True)
class SteadyState:
    """The steady profile under a constant infusion (microgram/mL)."""

    grid: CanalGrid
    tip_cm: float
    canal: FloatArray
    cranial: float

    def concentration_at(self, x_cm: float | FloatArray) -> FloatArray:
        return np.asarray(np.interp(x_cm, self.grid.centres, self.canal), dtype=np.float64)


# ---------------------------------------------------------------------------
# Operator assembly
# ---------------------------------------------------------------------------


def _bernoulli(z: FloatArray) -> FloatArray:
    """B(z) = z / (e^z - 1), with B(0) = 1, stable for any z."""
    small = np.abs(z) < 1e-8
    safe = np.where(small, 1.0, z)
    value = safe / np.expm1(safe)
    return np.asarray(np.where(small, 1.0 - 0.5 * z, value), dtype=np.float64)


def _tip_weights(grid: CanalGrid, tip_cm: float) -> tuple[int, int, float, float]:
    """Cells (j, j+1) sharing the source at `tip_cm`, and their weights."""
    if not 0.0 <= tip_cm <= grid.length_cm:
        raise ValueError(
            f"catheter tip at {tip_cm:.1f} cm is outside the canal (0-{grid.length_cm:.1f} cm)"
        )
    s = tip_cm / grid.dx_cm - 0.5
    n = grid.cells
    if s <= 0.0:
        return 0, 1, 1.0, 0.0
    if s >= n - 1:
        return n - 2, n - 1, 0.0, 1.0
    j = math.floor(s)
    frac = s - j
    return j, j + 1, 1.0 - frac, frac


@dataclass(frozen=True, eq=False, slots=True)
class _Operator:
    """Banded K (3, n+1) for `solve_banded`, the source vector and loss weights."""

    band: FloatArray
    source: FloatArray
    canal_loss: FloatArray
    cranial_loss_k: float
    cranial_outflow: float

    def apply(self, c: FloatArray) -> FloatArray:
        """K @ c for the tridiagonal K in `band`."""
        upper, diag, lower = self.band
        out: FloatArray = diag * c
        out[:-1] += upper[1:] * c[1:]
        out[1:] += lower[:-1] * c[:-1]
        return out

    def losses(self, c: FloatArray) -> tuple[float, float, float]:
        """(canal k-loss, cranial k-loss, cranial outflow) rates in microgram/s."""
        return (
            float(self.canal_loss @ c[1:]),
            self.cranial_loss_k * float(c[0]),
            self.cranial_outflow * float(c[0]),
        )


def _operator(
    grid: CanalGrid,
    drug: DrugTransport,
    tip_cm: float,
    drug_rate_ug_s: float,
    fluid_rate_ml_s: float,
    bolus: Delivery | None,
) -> _Operator:
    n = grid.cells
    j0, j1, w0, w1 = _tip_weights(grid, tip_cm)

    dispersion = grid.face_dispersion + drug.molecular_diffusivity_cm2_s
    if bolus is not None and bolus.volume_ml > 0:
        # Near-tip mixing while a bolus runs: it stirs about `entrainment` times
        # its own volume of CSF, a length ell of canal on each side of the tip,
        # within its duration -> a dispersion boost of ell^2 / (2 T) there.
        ell = grid.bolus_entrainment * bolus.volume_ml / grid.area_at(tip_cm)
        boost = ell**2 / (2.0 * bolus.duration_s)
        near = np.abs(grid.faces - tip_cm) <= ell
        dispersion = dispersion + np.where(near, boost, 0.0)

    # Distances between the nodes a face joins: dx inside, dx/2 from cell 0 to
    # the well-mixed cranium (its "centre" is the foramen magnum itself).
    spacing = np.full(n + 1, grid.dx_cm)
    spacing[0] = 0.5 * grid.dx_cm
    conductance = grid.face_areas * dispersion / spacing

    # Bulk flow on each face (+ caudal): the pump's fluid leaves cranially, so a
    # face carries -q times the share of the source lying caudal of it.
    caudal_share = np.zeros(n + 1)
    caudal_share[: j0 + 1] += w0
    caudal_share[: j1 + 1] += w1
    flow = -fluid_rate_ml_s * caudal_share + grid.drift_velocity_cm_s * grid.face_areas
    flow[-1] = 0.0  # the sac is closed
    conductance[-1] = 0.0

    # Faces 0..n-1 join node f (cranial side) and node f+1 (caudal side).
    g = conductance[:n]
    with np.errstate(divide="ignore", invalid="ignore"):
        peclet = np.where(g > 0, flow[:n] / np.where(g > 0, g, 1.0), 0.0)
    from_left = g * _bernoulli(-peclet)
    from_right = g * _bernoulli(peclet)
    # Where g == 0 (never in practice) fall back to pure upwinding.
    from_left = np.where(g > 0, from_left, np.maximum(flow[:n], 0.0))
    from_right = np.where(g > 0, from_right, np.maximum(-flow[:n], 0.0))

    diag = np.zeros(n + 1)
    upper = np.zeros(n + 1)  # band[0, f+1] = K[f, f+1]
    lower = np.zeros(n + 1)  # band[2, f] = K[f+1, f]
    diag[:n] -= from_left
    diag[1:] -= from_right
    upper[1:] = from_right
    lower[:n] = from_left

    k = drug.loss_rate_per_s
    canal_loss = k * grid.volumes
    outflow = grid.csf_production_ml_s + fluid_rate_ml_s
    cranial_k = k * grid.cranial_volume_ml
    diag[1:] -= canal_loss
    diag[0] -= cranial_k + outflow

    source = np.zeros(n + 1)
    source[1 + j0] += w0 * drug_rate_ug_s
    source[1 + j1] += w1 * drug_rate_ug_s
    return _Operator(np.stack([upper, diag, lower]), source, canal_loss, cranial_k, outflow)


def _volumes(grid: CanalGrid) -> FloatArray:
    return np.concatenate(([grid.cranial_volume_ml], grid.volumes))


def dense_operator(
    grid: CanalGrid,
    drug: DrugTransport,
    tip_cm: float,
    drug_rate_ug_s: float,
    fluid_rate_ml_s: float = 0.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(K, V, S) as dense arrays, node 0 the cranium: V dc/dt = K c + S.

    For checks and benchmarks against simple reference methods; the solver
    itself keeps K banded.
    """
    op = _operator(grid, drug, tip_cm, drug_rate_ug_s, fluid_rate_ml_s, None)
    upper, diag, lower = op.band
    k = np.diag(diag) + np.diag(upper[1:], 1) + np.diag(lower[:-1], -1)
    return k, _volumes(grid), op.source.copy()


# ---------------------------------------------------------------------------
# Steady state
# ---------------------------------------------------------------------------


def steady_state(
    grid: CanalGrid,
    drug: DrugTransport,
    tip_cm: float,
    drug_rate_ug_s: float,
    fluid_rate_ml_s: float = 0.0,
) -> SteadyState:
    """The profile a constant infusion tends to (microgram/mL): solves K c = -S."""
    op = _operator(grid, drug, tip_cm, drug_rate_ug_s, fluid_rate_ml_s, None)
    c = solve_banded((1, 1), op.band, -op.source, check_finite=False)
    return SteadyState(grid, tip_cm, np.asarray(c[1:]), float(c[0]))


# ---------------------------------------------------------------------------
# Time stepping
# ---------------------------------------------------------------------------


def _boundaries(
    deliveries: Sequence[Delivery], duration_s: float, sample_times: FloatArray
) -> tuple[list[float], set[float]]:
    changes = {0.0}
    for d in deliveries:
        for t in (d.start_s, d.end_s):
            if 0.0 < t < duration_s:
                changes.add(t)
    points = sorted(changes | {float(t) for t in sample_times} | {duration_s})
    return points, changes


def _inputs_at(
    deliveries: Sequence[Delivery], t_mid: float
) -> tuple[float, float, Delivery | None]:
    drug = fluid = 0.0
    strongest: Delivery | None = None
    for d in deliveries:
        if d.start_s <= t_mid < d.end_s:
            drug += d.drug_rate_ug_s
            fluid += d.fluid_rate_ml_s
            if d.bolus and (strongest is None or d.volume_ml > strongest.volume_ml):
                strongest = d
    return drug, fluid, strongest


def simulate(
    grid: CanalGrid,
    drug: DrugTransport,
    tip_cm: float,
    deliveries: Sequence[Delivery],
    duration_s: float,
    *,
    probes_cm: Sequence[float] | FloatArray = (),
    samples: int = 97,
    max_step_s: float = 300.0,
    first_step_s: float = 2.0,
    progress: Callable[[float], None] | None = None,
) -> SpreadResult:
    """Concentrations along the canal from an empty start over `duration_s` seconds.

    `deliveries` may overlap (rates add). `samples` evenly spaced snapshots
    (including t = 0 and the end) are kept; peaks at `probes_cm` are tracked at
    every step. Steps grow geometrically from `first_step_s` after every change
    of delivery up to `max_step_s`. `progress(fraction)` is called as time
    advances.
    """
    if not duration_s > 0:
        raise ValueError("duration must be positive")
    if samples < 2:
        raise ValueError("keep at least two samples")
    _tip_weights(grid, tip_cm)  # validates the tip position
    probes = np.asarray(probes_cm, dtype=np.float64)
    n = grid.cells
    volumes = _volumes(grid)
    sample_times = np.linspace(0.0, duration_s, samples)
    points, changes = _boundaries(deliveries, duration_s, sample_times)

    # Linear interpolation of the canal cells at the probes, precomputed.
    s = np.clip(probes / grid.dx_cm - 0.5, 0.0, n - 1.0)
    lo = np.minimum(np.floor(s).astype(np.int64), n - 2)
    frac = s - lo

    def at_probes(c: FloatArray) -> FloatArray:
        cells = c[1:]
        return np.asarray(cells[lo] * (1.0 - frac) + cells[lo + 1] * frac, dtype=np.float64)

    c = np.zeros(n + 1)
    canal_history = np.zeros((samples, n))
    cranial_history = np.zeros(samples)
    probe_history = np.zeros((samples, probes.size))
    peak = np.zeros(probes.size)
    peak_time = np.zeros(probes.size)
    cranial_peak = 0.0
    lost = np.zeros(3)  # canal k-loss, cranial k-loss, outflow
    infused = 0.0
    steps = 0
    sample_index = {float(t): i for i, t in enumerate(sample_times)}

    t = 0.0
    step = first_step_s
    op: _Operator | None = None
    cache_key: tuple[float, float, int] | None = None
    matrix_cache: dict[float, FloatArray] = {}
    for t_next in points[1:]:
        if t in changes:
            step = first_step_s
        drug_rate, fluid_rate, bolus = _inputs_at(deliveries, 0.5 * (t + t_next))
        key = (drug_rate, fluid_rate, id(bolus))
        if key != cache_key:
            op = _operator(grid, drug, tip_cm, drug_rate, fluid_rate, bolus)
            cache_key = key
            matrix_cache = {}
        assert op is not None
        total_source = float(op.source.sum())
        while t < t_next - 1e-9 * max(1.0, t_next):
            h = min(step, t_next - t)
            factor = 0.5 * _GAMMA * h
            band = matrix_cache.get(h)
            if band is None:
                band = -factor * op.band
                band[1] += volumes
                matrix_cache[h] = band
            # Stage 1: trapezoidal rule to t + gamma h.
            loss0 = np.array(op.losses(c))
            rhs = volumes * c + factor * (op.apply(c) + 2.0 * op.source)
            c1 = solve_banded((1, 1), band, rhs, check_finite=False)
            loss1 = np.array(op.losses(c1))
            lost1 = lost + factor * (loss0 + loss1)
            # Stage 2: BDF2 through t, t + gamma h, t + h.
            rhs = volumes * (_A * c1 - _B * c) + _W * h * op.source
            c2 = solve_banded((1, 1), band, rhs, check_finite=False)
            lost = _A * lost1 - _B * lost + _W * h * np.array(op.losses(c2))
            infused += h * total_source
            c = c2
            t += h
            steps += 1
            step = min(2.0 * step, max_step_s)
            values = at_probes(c)
            higher = values > peak
            peak = np.where(higher, values, peak)
            peak_time = np.where(higher, t, peak_time)
            cranial_peak = max(cranial_peak, float(c[0]))
        t = t_next
        index = sample_index.get(t_next)
        if index is not None:
            canal_history[index] = c[1:]
            cranial_history[index] = c[0]
            probe_history[index] = at_probes(c)
        if progress is not None:
            progress(t / duration_s)

    mass = MassBalance(
        infused_ug=infused,
        in_canal_ug=float(grid.volumes @ c[1:]),
        in_cranium_ug=grid.cranial_volume_ml * float(c[0]),
        lost_in_canal_ug=float(lost[0]),
        lost_in_cranium_ug=float(lost[1]),
        cleared_by_csf_outflow_ug=float(lost[2]),
    )
    return SpreadResult(
        grid=grid,
        drug=drug,
        tip_cm=tip_cm,
        duration_s=duration_s,
        times_s=sample_times,
        canal_history=canal_history,
        cranial_history=cranial_history,
        probes_cm=probes,
        probe_history=probe_history,
        probe_peak=peak,
        probe_peak_time_s=peak_time,
        cranial_peak=cranial_peak,
        mass=mass,
        steps=steps,
    )
