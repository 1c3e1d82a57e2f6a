"""The spinal canal as the model sees it: a 1-D line of finite volumes.

x runs along the neuraxis from the foramen magnum (x = 0, where the canal meets
the well-mixed cranial compartment) to the closed end of the dural sac
(x = L). Each cell holds the cross-section-averaged CSF concentration.

Geometry and CSF motion set the drug-independent part of the effective axial
dispersion (cm^2/s):

    D_osc(x) = beta * s(x)^2 * omega,    s(x) = SV(x) / A(x)

with A(x) the subarachnoid cross-section (cm^2), SV(x) the cardiac stroke
volume through the section at x (mL/cycle), s the stroke length (cm) and
omega = 2 pi f. SV is the measured cervical value scaled by the CSF volume
caudal of x (uniform compliance: each section carries the volume change of
the canal below it), so it falls to zero at the closed end of the sac, where
Enzmann 1991 saw essentially no flow. A uniform background mixing
D_mix (respiration, posture changes, nerve-root micro-mixing) is added; beta
and D_mix are calibrated (see `thecal.science.calibration`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from thecal.science.parameters import ModelParameters

__all__ = [
    "CanalGrid",
    "area_at",
    "build_grid",
    "caudal_volume_at",
    "pulsatile_dispersion_at",
    "stroke_volume_at",
    "uniform_grid",
]

FloatArray = NDArray[np.float64]


def area_at(x_cm: FloatArray | float, params: ModelParameters) -> FloatArray:
    """Subarachnoid cross-section A(x) in cm^2 (linear between the profile points)."""
    xs = np.array([p[0] for p in params.area_points])
    areas = np.array([p[1] for p in params.area_points])
    return np.asarray(np.interp(x_cm, xs, areas), dtype=np.float64)


def _cumulative_volume(params: ModelParameters) -> tuple[FloatArray, FloatArray]:
    """Fine mesh x (cm) and the CSF volume (mL) between 0 and x on it (exact for linear A)."""
    x = np.linspace(0.0, params.canal_length_cm, 6101)
    a = area_at(x, params)
    volume = np.concatenate(([0.0], np.cumsum(0.5 * (a[1:] + a[:-1]) * np.diff(x))))
    return x, volume


def caudal_volume_at(x_cm: FloatArray | float, params: ModelParameters) -> FloatArray:
    """CSF volume (mL) of the canal caudal of x."""
    x, volume = _cumulative_volume(params)
    return np.asarray(volume[-1] - np.interp(x_cm, x, volume), dtype=np.float64)


def stroke_volume_at(x_cm: FloatArray | float, params: ModelParameters) -> FloatArray:
    """Cardiac stroke volume SV(x) in mL per cycle (uniform-compliance profile)."""
    reference = caudal_volume_at(params.stroke_reference_cm, params)
    return params.cervical_stroke_volume_ml * caudal_volume_at(x_cm, params) / reference


def pulsatile_dispersion_at(x_cm: FloatArray | float, params: ModelParameters) -> FloatArray:
    """Drug-independent effective dispersion D_osc(x) + D_mix in cm^2/s."""
    stroke_length = stroke_volume_at(x_cm, params) / area_at(x_cm, params)
    omega = 2.0 * math.pi * params.pulsation_hz
    d_osc = params.pulsation_coefficient * stroke_length**2 * omega
    return np.asarray(d_osc + params.mixing_diffusivity_cm2_s, dtype=np.float64)


@dataclass(frozen=True, eq=False, slots=True)
class CanalGrid:
    """A cell-centred finite-volume grid of the canal plus its cranial compartment.

    Arrays: `centres` (n, cm), `faces` (n+1, cm; face 0 is the foramen magnum,
    face n the closed end), `areas` and `face_areas` (cm^2), `volumes` (mL),
    `face_dispersion` (n+1, cm^2/s, drug-independent part).
    """

    dx_cm: float
    centres: FloatArray
    faces: FloatArray
    areas: FloatArray
    face_areas: FloatArray
    volumes: FloatArray
    face_dispersion: FloatArray
    cranial_volume_ml: float
    csf_production_ml_s: float
    drift_velocity_cm_s: float
    bolus_entrainment: float

    @property
    def cells(self) -> int:
        return int(self.centres.size)

    @property
    def length_cm(self) -> float:
        return float(self.faces[-1])

    @property
    def canal_volume_ml(self) -> float:
        return float(self.volumes.sum())

    def area_at(self, x_cm: float) -> float:
        """Cross-section at x by interpolation between cell centres (cm^2)."""
        return float(np.interp(x_cm, self.centres, self.areas))


def build_grid(params: ModelParameters, resolution_cm: float = 0.1) -> CanalGrid:
    """The canal of `params` cut into cells of about `resolution_cm` (default 1 mm)."""
    if not 0.0 < resolution_cm <= 5.0:
        raise ValueError(f"grid resolution must be in (0, 5] cm, not {resolution_cm}")
    length = params.canal_length_cm
    n = max(round(length / resolution_cm), 4)
    faces = np.linspace(0.0, length, n + 1)
    centres = 0.5 * (faces[1:] + faces[:-1])
    dx = length / n
    areas = area_at(centres, params)
    return CanalGrid(
        dx_cm=dx,
        centres=centres,
        faces=faces,
        areas=areas,
        face_areas=area_at(faces, params),
        volumes=areas * dx,
        face_dispersion=pulsatile_dispersion_at(faces, params),
        cranial_volume_ml=params.cranial_volume_ml,
        csf_production_ml_s=params.csf_production_ml_s,
        drift_velocity_cm_s=params.drift_velocity_cm_s,
        bolus_entrainment=params.bolus_entrainment,
    )


def uniform_grid(
    length_cm: float,
    resolution_cm: float,
    area_cm2: float,
    dispersion_cm2_s: float,
    *,
    cranial_volume_ml: float = 75.0,
    csf_production_ml_s: float = 0.0,
    drift_velocity_cm_s: float = 0.0,
    bolus_entrainment: float = 10.0,
) -> CanalGrid:
    """A canal of constant cross-section and dispersion (for checks against theory)."""
    n = max(round(length_cm / resolution_cm), 4)
    faces = np.linspace(0.0, length_cm, n + 1)
    centres = 0.5 * (faces[1:] + faces[:-1])
    dx = length_cm / n
    areas = np.full(n, area_cm2)
    return CanalGrid(
        dx_cm=dx,
        centres=centres,
        faces=faces,
        areas=areas,
        face_areas=np.full(n + 1, area_cm2),
        volumes=areas * dx,
        face_dispersion=np.full(n + 1, dispersion_cm2_s),
        cranial_volume_ml=cranial_volume_ml,
        csf_production_ml_s=csf_production_ml_s,
        drift_velocity_cm_s=drift_velocity_cm_s,
        bolus_entrainment=bolus_entrainment,
    )
