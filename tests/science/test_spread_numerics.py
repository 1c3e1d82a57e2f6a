"""The solver against theory: analytic profile, mass conservation, convergence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.science.geometry import build_grid, uniform_grid
from thecal.science.parameters import DrugTransport, drug_transport, model_parameters
from thecal.science.spread import Delivery, simulate, steady_state

D_UNIFORM = 0.01  # cm^2/s
K_UNIFORM = 1e-4  # 1/s  -> lambda = sqrt(D/k) = 10 cm
AREA = 1.5  # cm^2
LUMBAR_TIP_CM = 47.2  # L3 in the anatomy table


def exact_profile(x: np.ndarray, tip: float, rate: float) -> np.ndarray:
    """Steady 1-D dispersion with first-order loss from a point source on an infinite line."""
    lam = math.sqrt(D_UNIFORM / K_UNIFORM)
    return rate / (2 * AREA * math.sqrt(D_UNIFORM * K_UNIFORM)) * np.exp(-np.abs(x - tip) / lam)


def away_from_tip(tip: float) -> np.ndarray:
    return np.concatenate([np.linspace(tip - 40, tip - 2, 39), np.linspace(tip + 2, tip + 40, 39)])


def test_steady_solution_matches_the_analytic_exponential_profile_in_a_uniform_canal(
    plain_drug: DrugTransport,
) -> None:
    grid = uniform_grid(200.0, 0.1, AREA, D_UNIFORM)
    steady = steady_state(grid, plain_drug, 100.0, 1.0)
    x = away_from_tip(100.0)
    exact = exact_profile(x, 100.0, 1.0)
    assert np.max(np.abs(steady.concentration_at(x) - exact) / exact) < 1e-4


def test_steady_profile_has_e_folding_length_sqrt_d_over_k(plain_drug: DrugTransport) -> None:
    grid = uniform_grid(200.0, 0.1, AREA, D_UNIFORM)
    steady = steady_state(grid, plain_drug, 100.0, 1.0)
    c_near, c_far = steady.concentration_at(np.array([110.0, 130.0]))
    assert 20.0 / math.log(c_near / c_far) == pytest.approx(10.0, rel=1e-4)


def test_steady_error_shrinks_at_second_order_under_grid_refinement(
    plain_drug: DrugTransport,
) -> None:
    x = away_from_tip(100.0)
    exact = exact_profile(x, 100.0, 1.0)
    errors = []
    for dx in (0.8, 0.4, 0.2):
        steady = steady_state(uniform_grid(200.0, dx, AREA, D_UNIFORM), plain_drug, 100.0, 1.0)
        errors.append(float(np.max(np.abs(steady.concentration_at(x) - exact) / exact)))
    assert errors[0] / errors[1] > 3.5
    assert errors[1] / errors[2] > 3.5


def test_long_infusion_settles_on_the_steady_state(plain_drug: DrugTransport) -> None:
    grid = uniform_grid(120.0, 0.2, AREA, D_UNIFORM)
    hours = 48.0  # 17 loss half-lives
    run = simulate(grid, plain_drug, 60.0, [Delivery(0, hours * 3600, 1.0, 0.0)], hours * 3600)
    steady = steady_state(grid, plain_drug, 60.0, 1.0)
    assert np.allclose(run.final_canal, steady.canal, rtol=1e-5, atol=1e-9 * steady.canal.max())


def test_mass_is_conserved_to_round_off_during_a_realistic_infusion(
    morphine: DrugTransport,
) -> None:
    grid = build_grid(model_parameters(), 0.1)
    run = simulate(grid, morphine, LUMBAR_TIP_CM, [Delivery(0, 72 * 3600, 0.01, 1e-5)], 72 * 3600)
    assert run.mass.infused_ug == pytest.approx(0.01 * 72 * 3600, rel=1e-12)
    assert run.mass.relative_residual < 1e-11
    assert run.mass.lost_in_canal_ug > 0 and run.mass.cleared_by_csf_outflow_ug > 0


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 20),  # start h
            st.floats(0.01, 8),  # duration h
            st.floats(0, 5),  # drug microgram/s
            st.floats(0, 1e-3),  # fluid mL/s
            st.booleans(),  # bolus
        ),
        min_size=1,
        max_size=5,
    ),
    st.floats(-2e-3, 2e-3),  # drift cm/s
    st.sampled_from([8.0, 31.0, 47.2, 60.5]),  # tip cm
)
def test_mass_is_conserved_for_any_schedule_of_boluses_and_infusions(
    pieces: list[tuple[float, float, float, float, bool]],
    drift: float,
    tip: float,
) -> None:
    morphine = drug_transport("morphine")
    grid = dataclasses.replace(build_grid(model_parameters(), 0.5), drift_velocity_cm_s=drift)
    deliveries = [
        Delivery(s * 3600, (s + d) * 3600, rate, fluid, bolus)
        for s, d, rate, fluid, bolus in pieces
    ]
    run = simulate(grid, morphine, tip, deliveries, 24 * 3600, samples=5)
    expected = sum(
        d.drug_rate_ug_s * (min(d.end_s, 24 * 3600) - min(d.start_s, 24 * 3600)) for d in deliveries
    )
    assert run.mass.infused_ug == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert abs(run.mass.residual_ug) <= 1e-10 * max(run.mass.infused_ug, 1.0)
    assert run.canal_history.min() >= -1e-12 * max(run.canal_history.max(), 1e-30)


def test_realistic_profile_converges_under_grid_refinement(morphine: DrugTransport) -> None:
    params = model_parameters()
    deliveries = [
        Delivery(0, 600, 500 / 600, 1 / 600, bolus=True),
        Delivery(0, 24 * 3600, 1000 / 86400, 0.1 / 86400),
    ]
    x = np.linspace(1.0, 60.0, 60)
    profiles = {}
    for dx in (0.4, 0.2, 0.1, 0.05):
        run = simulate(build_grid(params, dx), morphine, LUMBAR_TIP_CM, deliveries, 24 * 3600)
        profiles[dx] = run.concentration_at(x)
    finest = profiles[0.05]
    errors = [float(np.max(np.abs(profiles[dx] - finest) / finest)) for dx in (0.4, 0.2, 0.1)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-4  # 1 mm is converged for the profile


def test_halving_the_time_step_changes_the_result_by_less_than_a_tenth_of_a_percent(
    morphine: DrugTransport,
) -> None:
    grid = build_grid(model_parameters(), 0.2)
    deliveries = [Delivery(0, 600, 500 / 600, 1 / 600, bolus=True)]
    probes = [14.7, 32.5, 47.2]
    coarse = simulate(grid, morphine, LUMBAR_TIP_CM, deliveries, 12 * 3600, probes_cm=probes)
    fine = simulate(
        grid,
        morphine,
        LUMBAR_TIP_CM,
        deliveries,
        12 * 3600,
        probes_cm=probes,
        max_step_s=150.0,
        first_step_s=1.0,
    )
    assert np.allclose(coarse.probe_final, fine.probe_final, rtol=1e-3)
    assert np.allclose(coarse.probe_peak, fine.probe_peak, rtol=1e-3)


def test_nothing_delivered_means_nothing_anywhere(morphine: DrugTransport) -> None:
    run = simulate(build_grid(model_parameters(), 0.5), morphine, 30.0, [], 3600.0)
    assert not run.canal_history.any() and run.final_cranial == 0.0
    assert run.mass.infused_ug == 0.0


def test_a_tip_outside_the_canal_is_refused(morphine: DrugTransport) -> None:
    grid = build_grid(model_parameters(), 0.5)
    with pytest.raises(ValueError, match="outside the canal"):
        simulate(grid, morphine, 70.0, [Delivery(0, 10, 1, 0)], 100.0)


@pytest.mark.parametrize(
    ("start", "end", "rate", "fluid"),
    [(10.0, 10.0, 1.0, 0.0), (10.0, 5.0, 1.0, 0.0), (0.0, 1.0, -1.0, 0.0), (0.0, 1.0, 1.0, -1.0)],
)
def test_a_malformed_delivery_is_refused(
    start: float, end: float, rate: float, fluid: float
) -> None:
    with pytest.raises(ValueError):
        Delivery(start, end, rate, fluid)
