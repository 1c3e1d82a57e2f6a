"""Model and drug parameters of the CSF spread model, read from the data files.

``data/csf_model.toml`` holds the geometry, CSF-motion and calibrated
parameters; ``data/csf_drugs.toml`` the per-drug transport data. Every number
there carries its source and a kind ("published", "derived" or "model
parameter"); `parameter_table()` returns them for documentation.

Units: cm, s, mL, microgram; diffusivities cm^2/s; rates 1/s.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from thecal.therapy import anatomy

__all__ = [
    "DrugTransport",
    "ModelParameters",
    "Parameter",
    "accepted_drug_names",
    "drug_transport",
    "model_parameters",
    "model_sources",
    "parameter_table",
    "stored_loss_rates_per_h",
    "transport_drugs",
]


@dataclass(frozen=True, slots=True)
class Parameter:
    """One documented model parameter: value, unit, kind and sources."""

    name: str
    value: Any
    unit: str
    kind: str
    sources: tuple[str, ...]
    note: str


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """Everything the canal model needs apart from the drug.

    Lengths cm, areas cm^2, volumes mL, times s, diffusivities cm^2/s.
    """

    canal_length_cm: float
    """Foramen magnum to the end of the dural sac (anatomy landmark)."""
    area_points: tuple[tuple[float, float], ...]
    """(position cm, subarachnoid cross-section cm^2), linear in between."""
    stroke_reference_cm: float
    """Where the cervical stroke volume was measured (C2)."""
    cervical_stroke_volume_ml: float
    pulsation_hz: float
    pulsation_coefficient: float
    """beta in D_osc = beta * s(x)^2 * omega (calibrated)."""
    mixing_diffusivity_cm2_s: float
    """Uniform background mixing (respiration, posture, nerve roots; calibrated)."""
    cranial_volume_ml: float
    csf_production_ml_s: float
    drift_velocity_cm_s: float
    bolus_entrainment: float
    default_bolus_duration_s: float
    calibration_grid_cm: float


@dataclass(frozen=True, slots=True)
class DrugTransport:
    """How one drug behaves in the CSF.

    `loss_rate_per_s` is the calibrated first-order loss from the CSF (1/s);
    `effective_concentration` (microgram/mL) is the level a segment must reach
    to count as covered, `None` for a tracer.
    """

    key: str
    label: str
    aliases: tuple[str, ...]
    molecular_weight: float
    molecular_diffusivity_cm2_s: float
    diffusivity_source: str
    csf_half_life_h: float
    half_life_kind: str
    half_life_source: str
    loss_rate_per_s: float
    effective_concentration: float | None
    effective_basis: str | None

    @property
    def nominal_loss_rate_per_s(self) -> float:
        """ln 2 / the whole-CSF half-life: the loss rate before calibration."""
        return math.log(2) / (self.csf_half_life_h * 3600.0)


def _read(name: str) -> dict[str, Any]:
    text = resources.files("thecal.science").joinpath("data", name).read_text("utf-8")
    return tomllib.loads(text)


@cache
def _model_data() -> dict[str, Any]:
    return _read("csf_model.toml")


@cache
def _drug_data() -> dict[str, Any]:
    return _read("csf_drugs.toml")


def _value(name: str) -> Any:
    try:
        return _model_data()["parameters"][name]["value"]
    except KeyError:
        raise ValueError(f"csf_model.toml: parameter {name!r} is missing") from None


def parameter_table() -> tuple[Parameter, ...]:
    """Every model parameter with its unit, kind, sources and note (for docs)."""
    rows: list[Parameter] = []
    for name, entry in _model_data()["parameters"].items():
        rows.append(
            Parameter(
                name=name,
                value=entry["value"],
                unit=entry.get("unit", ""),
                kind=entry["kind"],
                sources=tuple(entry["sources"]),
                note=entry.get("note", ""),
            )
        )
    calibrated = _model_data()["calibrated"]
    rows.append(
        Parameter(
            "pulsation_coefficient",
            calibrated["pulsation_coefficient"],
            "1",
            "model parameter",
            ("thecal", "kroin1993", "nordberg1984"),
            "calibrated (beta in D_osc = beta s^2 omega)",
        )
    )
    rows.append(
        Parameter(
            "mixing_diffusivity",
            calibrated["mixing_diffusivity_cm2_s"],
            "cm^2/s",
            "model parameter",
            ("thecal", "kroin1993", "nordberg1984"),
            "calibrated (uniform background mixing)",
        )
    )
    return tuple(rows)


def model_sources() -> Mapping[str, Mapping[str, str]]:
    """Source id -> {'citation', 'url'?} for the model data file."""
    result: dict[str, Mapping[str, str]] = dict(_model_data()["sources"])
    return result


@cache
def model_parameters() -> ModelParameters:
    """The model parameters as shipped (with the stored calibration)."""
    calibrated = _model_data()["calibrated"]
    landmarks = anatomy.canal_landmarks()
    points = tuple((float(x), float(a)) for x, a in _value("area_profile"))
    length = float(landmarks.dural_sac_end_cm)
    if abs(points[-1][0] - length) > 1e-9 or points[0][0] != 0.0:
        raise ValueError("csf_model.toml: the area profile must run from 0 to the end of the sac")
    return ModelParameters(
        canal_length_cm=length,
        area_points=points,
        stroke_reference_cm=float(anatomy.parse_vertebra("C2").position_cm),
        cervical_stroke_volume_ml=float(_value("cervical_stroke_volume")),
        pulsation_hz=float(_value("pulsation_frequency")),
        pulsation_coefficient=float(calibrated["pulsation_coefficient"]),
        mixing_diffusivity_cm2_s=float(calibrated["mixing_diffusivity_cm2_s"]),
        cranial_volume_ml=float(_value("cranial_volume")),
        csf_production_ml_s=float(_value("csf_production")) / 60.0,
        drift_velocity_cm_s=float(_value("drift_velocity")),
        bolus_entrainment=float(_value("bolus_entrainment")),
        default_bolus_duration_s=float(_value("default_bolus_duration")) * 60.0,
        calibration_grid_cm=float(calibrated["grid_cm"]),
    )


def stored_loss_rates_per_h() -> Mapping[str, float]:
    """The calibrated first-order loss rates (1/h) stored in the data file."""
    rates = _model_data()["calibrated"]["loss_rate_per_h"]
    return {str(k): float(v) for k, v in rates.items()}


@cache
def transport_drugs() -> tuple[DrugTransport, ...]:
    """Every drug the spread model knows, in data-file order."""
    rates = stored_loss_rates_per_h()
    drugs: list[DrugTransport] = []
    for key, entry in _drug_data()["drugs"].items():
        if key not in rates:
            raise ValueError(f"csf_model.toml: no calibrated loss rate for drug {key!r}")
        effective = entry.get("effective_concentration")
        drugs.append(
            DrugTransport(
                key=key,
                label=entry["label"],
                aliases=tuple(entry.get("aliases", ())),
                molecular_weight=float(entry["molecular_weight"]),
                molecular_diffusivity_cm2_s=float(entry["molecular_diffusivity"]),
                diffusivity_source=entry["diffusivity_source"],
                csf_half_life_h=float(entry["csf_half_life_h"]),
                half_life_kind=entry["half_life_kind"],
                half_life_source=entry["half_life_source"],
                loss_rate_per_s=rates[key] / 3600.0,
                effective_concentration=None if effective is None else float(effective),
                effective_basis=entry.get("effective_basis"),
            )
        )
    return tuple(drugs)


def accepted_drug_names() -> str:
    """Human list of accepted --drug names."""
    return ", ".join(d.key for d in transport_drugs())


def drug_transport(name: str) -> DrugTransport:
    """The drug called `name` (key or alias, any case); `ValueError` listing accepted names."""
    wanted = name.strip().lower()
    for drug in transport_drugs():
        if wanted == drug.key or wanted in drug.aliases:
            return drug
    raise ValueError(
        f"drug: {name!r} has no CSF transport data; accepted: {accepted_drug_names()} "
        "(lipophilic drugs such as bupivacaine, fentanyl, sufentanil and clonidine lack "
        "usable CSF kinetics and are not modelled)"
    )
