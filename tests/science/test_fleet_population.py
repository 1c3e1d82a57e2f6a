"""Virtual patients: seeded, valid prescriptions, day tables from the therapy core."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import numpy as np
import pytest

from thecal.science.fleet_model import cumulative, time_to_reach
from thecal.science.fleet_parameters import fleet_parameters
from thecal.science.fleet_population import (
    FleetPopulation,
    block_generator,
    block_population,
    prescription_of,
    pump_constants,
)
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.library import default_library
from thecal.therapy.projection import prescription_pattern
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.safety import evaluate_hard_limits

MIDNIGHT = datetime(2026, 1, 5)
DAY_US = 86_400_000_000


@pytest.fixture(scope="module")
def population() -> FleetPopulation:
    return block_population(fleet_parameters(), 0, 400, block_generator(3, 0))


def test_same_seed_and_block_draw_the_same_patients() -> None:
    params = fleet_parameters()
    one = block_population(params, 2, 50, block_generator(9, 2))
    two = block_population(params, 2, 50, block_generator(9, 2))
    other = block_population(params, 2, 50, block_generator(10, 2))
    assert np.array_equal(one.dose_units, two.dose_units)
    assert np.array_equal(one.factor_units, two.factor_units)
    assert not np.array_equal(one.dose_units, other.dose_units)


def test_every_patient_prescription_passes_the_pump_hard_limits(population) -> None:
    params = fleet_parameters()
    library = default_library()
    for j in range(population.size):
        rx = prescription_of(params, population, j)
        pump = find_pump_model(params.pumps[int(population.pump[j])].id)
        evaluation = evaluate_hard_limits(rx, library, pump)
        assert not evaluation.refusals, (j, [v.message for v in evaluation.refusals])


def test_daily_volume_is_the_day_profile_plus_habitual_boluses(population) -> None:
    params = fleet_parameters()
    for j in range(population.size):
        rx = prescription_of(params, population, j)
        basal = programmed_daily_dose(rx).amount / rx.concentration.amount
        bolus = Fraction(0)
        if rx.patient_bolus is not None:
            bolus = int(population.uses[j]) * rx.patient_bolus.dose.amount / rx.concentration.amount
        assert population.daily_volume[j] == pytest.approx(float(basal + bolus), rel=1e-12)


def test_day_table_follows_the_prescription_pattern_through_the_day(population) -> None:
    """Without habitual boluses the table is the core's closed-form pattern from midnight."""
    params = fleet_parameters()
    plain = [j for j in range(population.size) if population.uses[j] == 0][:40]
    moments = np.linspace(0.0, 3.0, 37)[1:]
    for j in plain:
        pattern = prescription_pattern(
            prescription_of(params, population, j), MIDNIGHT, include_patient_boluses=False
        )
        rows = np.full(moments.shape[0], j)
        ours = cumulative(
            population.day_x[rows], population.day_y[rows], population.daily_volume[rows], moments
        )
        exact = [
            float(pattern.volume_until(Fraction(t).limit_denominator(10**6) * DAY_US))
            for t in moments
        ]
        assert ours == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_worst_case_table_is_the_projection_pattern_from_the_visit_hour(population) -> None:
    params = fleet_parameters()
    with_bolus = [j for j in range(population.size) if population.bolus_units[j] > 0][:25]
    assert with_bolus
    visit = MIDNIGHT.replace(hour=params.visit_hour)
    for j in with_bolus:
        pattern = prescription_pattern(prescription_of(params, population, j), visit)
        assert population.worst_y[j, -1] == pytest.approx(float(pattern.per_period), rel=1e-12)
        for volume in (0.01, 0.5 * float(pattern.per_period), 7.3):
            rows = np.array([j])
            ours = time_to_reach(
                population.worst_x[rows],
                population.worst_y[rows],
                population.worst_y[rows, -1],
                np.array([volume]),
            )[0]
            exact = pattern.time_to_move(Fraction(volume))
            assert exact is not None
            assert ours == pytest.approx(float(exact) / DAY_US, abs=1e-9)


def test_pump_accuracy_stays_inside_each_model_band(population) -> None:
    params = fleet_parameters()
    band = pump_constants(tuple(p.id for p in params.pumps)).band[population.pump]
    assert np.all(np.abs(population.factor - 1) <= band + 1e-4)
    assert population.factor.std() > 0.01


def test_batteries_start_above_eri_and_volumes_within_the_clinic_limit(population) -> None:
    params = fleet_parameters()
    eri = pump_constants(tuple(p.id for p in params.pumps)).eri_level[population.pump]
    assert np.all(population.charge > eri)
    assert np.all(population.charge <= 1)
    basal = population.dose / population.concentration
    assert np.all(basal <= float(params.max_daily_volume_ml) + 1e-12)


def test_doses_stay_within_the_drug_mix_bounds(population) -> None:
    params = fleet_parameters()
    for d, mix in enumerate(params.drugs):
        doses = population.dose[population.drug == d]
        if doses.size:
            assert doses.min() >= float(mix.dose_min) - 1e-9
            assert doses.max() <= float(mix.dose_max) + 1e-9
