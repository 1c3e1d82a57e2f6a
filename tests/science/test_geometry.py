"""The canal geometry and CSF motion against the cited anatomy and physiology."""

from __future__ import annotations

import numpy as np
import pytest

from thecal.science.geometry import (
    area_at,
    build_grid,
    caudal_volume_at,
    pulsatile_dispersion_at,
    stroke_volume_at,
)
from thecal.science.parameters import drug_transport, model_parameters
from thecal.therapy.anatomy import canal_landmarks, parse_vertebra

T11_T12_DISC_CM = float(parse_vertebra("T11").position_cm + parse_vertebra("T12").position_cm) / 2


def test_canal_runs_from_the_foramen_magnum_to_the_end_of_the_dural_sac() -> None:
    grid = build_grid(model_parameters(), 0.1)
    assert grid.faces[0] == 0.0
    assert grid.length_cm == pytest.approx(float(canal_landmarks().dural_sac_end_cm))
    assert grid.cells == 610


def test_area_profile_holds_the_cited_spinal_csf_volume_of_97_ml() -> None:
    params = model_parameters()
    total = float(caudal_volume_at(0.0, params))
    assert total == pytest.approx(97.3, rel=0.02)  # Sass 2017
    assert build_grid(params, 0.1).canal_volume_ml == pytest.approx(97.3, rel=0.02)


def test_area_profile_holds_the_cited_lumbosacral_csf_volume_of_50_ml() -> None:
    lumbosacral = float(caudal_volume_at(T11_T12_DISC_CM, model_parameters()))
    assert lumbosacral == pytest.approx(49.9, rel=0.02)  # Hogan 1996


def test_mean_area_is_within_the_derived_1_5_to_1_8_cm2() -> None:
    params = model_parameters()
    mean = float(caudal_volume_at(0.0, params)) / params.canal_length_cm
    assert 1.5 <= mean <= 1.8


def test_stroke_volume_is_the_cervical_measurement_at_c2_and_vanishes_at_the_closed_end() -> None:
    params = model_parameters()
    c2 = float(parse_vertebra("C2").position_cm)
    assert float(stroke_volume_at(c2, params)) == pytest.approx(0.65)  # Enzmann 1993
    assert float(stroke_volume_at(params.canal_length_cm, params)) == pytest.approx(0.0, abs=1e-9)
    x = np.linspace(c2, params.canal_length_cm, 50)
    assert np.all(np.diff(stroke_volume_at(x, params)) < 0)


def test_pulsatile_dispersion_decays_from_the_thorax_to_the_lumbar_sac() -> None:
    params = model_parameters()
    at = {lv: float(pulsatile_dispersion_at(float(parse_vertebra(lv).position_cm), params))
          for lv in ("T6", "T12", "L3", "S1")}  # fmt: skip
    assert at["T6"] > at["T12"] > at["L3"] > at["S1"] >= params.mixing_diffusivity_cm2_s


def test_effective_dispersion_is_over_a_thousand_times_molecular_in_the_thorax() -> None:
    params = model_parameters()
    thoracic = float(pulsatile_dispersion_at(float(parse_vertebra("T6").position_cm), params))
    molecular = drug_transport("morphine").molecular_diffusivity_cm2_s
    assert thoracic / molecular > 1e3  # Stockman 2007: > 10^3 x molecular


def test_area_is_positive_everywhere_in_the_canal() -> None:
    params = model_parameters()
    x = np.linspace(0, params.canal_length_cm, 1000)
    assert np.all(area_at(x, params) > 0)


def test_grid_resolution_outside_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="resolution"):
        build_grid(model_parameters(), 0.0)
