"""The vectorised fleet model: closed-form pieces, booking, attendance, determinism."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.pump.battery import project_battery
from thecal.science.fleet_model import (
    DAYS_PER_YEAR,
    attendance_delay_days,
    booked_visit,
    cumulative,
    simulate_block,
    time_to_reach,
)
from thecal.science.fleet_parameters import fleet_parameters
from thecal.science.fleet_population import block_generator, block_population
from thecal.therapy.quantities import VolumeRate

# A flex day: 0.2 mL from 00:00 to 06:00, nothing until 12:00, 0.6 mL until midnight.
DAY_X = np.array([[0.0, 0.25, 0.5, 1.0]])
DAY_Y = np.array([[0.0, 0.2, 0.2, 0.8]])
DAILY = np.array([0.8])


def one(values: float) -> np.ndarray:
    return np.array([values])


@pytest.mark.parametrize(
    ("t", "volume"),
    [(0.0, 0.0), (0.25, 0.2), (0.4, 0.2), (0.75, 0.5), (1.0, 0.8), (2.125, 1.7)],
)
def test_cumulative_volume_follows_the_day_table_and_repeats_daily(t: float, volume: float) -> None:
    assert cumulative(DAY_X, DAY_Y, DAILY, one(t))[0] == pytest.approx(volume)


def test_time_to_reach_skips_a_stopped_stretch_to_its_end() -> None:
    """0.2 mL is reached at 06:00 (the start of the pause), a hair more only at noon."""
    assert time_to_reach(DAY_X, DAY_Y, DAILY, one(0.2))[0] == pytest.approx(0.25)
    assert time_to_reach(DAY_X, DAY_Y, DAILY, one(0.2 + 1e-9))[0] == pytest.approx(0.5, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-3, max_value=400.0))
def test_time_to_reach_inverts_cumulative(volume: float) -> None:
    t = time_to_reach(DAY_X, DAY_Y, DAILY, one(volume))
    assert cumulative(DAY_X, DAY_Y, DAILY, t)[0] == pytest.approx(volume, rel=1e-9, abs=1e-9)
    earlier = cumulative(DAY_X, DAY_Y, DAILY, t - 1e-6)[0]
    assert earlier <= volume + 1e-9


@pytest.mark.parametrize(
    ("fill_day", "days_to_alarm", "stability", "expected_day"),
    [
        (0, 30.5, 90.0, 23),  # refill-by on day 30 (16:00): booked a week before
        (0, 30.5, 20.0, 13),  # stability binds: refill-by on day 20 10:00
        (0, 3.0, 90.0, 1),  # never before the next day
        (5, 10.0, 90.0, 8),  # from a fill on day 5: by day 15, booked day 8
    ],
)
def test_clinic_books_the_refill_by_day_minus_the_margin(
    fill_day: int, days_to_alarm: float, stability: float, expected_day: int
) -> None:
    hour = 10 / 24
    booked = booked_visit(one(fill_day + hour), one(days_to_alarm), one(stability), 7, hour)
    assert booked[0] == pytest.approx(expected_day + hour)


def test_attendance_delay_is_misses_times_rebooking_plus_a_postponement() -> None:
    params = dataclasses.replace(
        fleet_parameters(),
        no_show_probability=0.5,
        rebook_days=7,
        delay_probability=0.2,
        delay_days_max=14,
        max_no_shows=3,
    )
    u = np.array([0.0, 0.5, 0.75, 0.9999, 0.2])
    no_delay = np.array([0.5, 0.5, 0.5, 0.5, 0.1])
    first_day = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    delays = attendance_delay_days(params, u, no_delay, first_day)
    # misses: P(at least k) = 0.5^k; capped at 3. The last one is postponed by 1 day.
    assert list(delays) == [0.0, 7.0, 14.0, 21.0, 1.0]


def test_no_show_free_attendance_adds_no_delay() -> None:
    params = dataclasses.replace(fleet_parameters(), no_show_probability=0.0, delay_probability=0.0)
    u = np.linspace(0, 0.999, 11)
    assert np.all(attendance_delay_days(params, u, u, u) == 0)


def test_same_seed_gives_identical_outcomes_and_another_seed_does_not() -> None:
    params = fleet_parameters()
    a = simulate_block(params, 5, 1, 300, 2.0)
    b = simulate_block(params, 5, 1, 300, 2.0)
    c = simulate_block(params, 6, 1, 300, 2.0)
    for name in ("refills", "dry_events", "low_alarm_days", "delivered_volume", "first_eri_day"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert not np.array_equal(a.delivered_volume, c.delivered_volume)


def test_perfect_attendance_and_exact_pumps_never_run_dry() -> None:
    """Booked a week before the low-reservoir alarm, always attended, replaced before
    end of service: no patient goes without drug."""
    params = dataclasses.replace(
        fleet_parameters(),
        no_show_probability=0.0,
        delay_probability=0.0,
        replacement_delay_days_max=60,
        accuracy_mean={"peristaltic": 0.0, "valve_accumulator": 0.0},
        accuracy_sd={"peristaltic": 1e-6, "valve_accumulator": 1e-6},
    )
    out = simulate_block(params, 2, 0, 2000, 8.0)
    assert out.dry_events.sum() == 0
    assert out.no_drug_days.sum() == 0
    assert out.low_alarm_days.sum() == 0
    assert out.replacements.sum() > 100


def test_missed_appointments_make_dry_reservoirs() -> None:
    base = fleet_parameters()
    careless = dataclasses.replace(base, no_show_probability=0.4, low_alarm_report_probability=0.0)
    usual = simulate_block(base, 4, 0, 3000, 2.0)
    worse = simulate_block(careless, 4, 0, 3000, 2.0)
    assert worse.dry_events.sum() > 2 * usual.dry_events.sum()


def test_volumes_and_days_stay_within_what_is_physically_possible() -> None:
    params = fleet_parameters()
    out = simulate_block(params, 8, 0, 2000, 3.0)
    population = block_population(params, 0, 2000, block_generator(8, 0))
    capacity = np.array([20.0 if p.id.endswith("20") else 40.0 for p in params.pumps])[out.pump]
    fills = 1 + out.refills + out.replacements
    assert np.all(out.delivered_volume <= fills * capacity + 1e-9)
    horizon = 3.0 * DAYS_PER_YEAR
    for days in (out.low_alarm_days, out.no_drug_days, out.end_of_service_days):
        assert np.all((days >= 0) & (days <= horizon))
    assert np.all(out.end_of_service_days <= out.no_drug_days + 1e-9)
    same_pump = out.replacements == 0  # a new pump draws a new accuracy factor
    ratio = out.delivered_volume / out.programmed_volume
    assert np.all(ratio[same_pump] <= population.factor[same_pump] + 1e-9)


def test_eri_comes_when_the_twins_battery_projection_says() -> None:
    """With perfect attendance a continuous, bolus-free patient pumps its daily volume
    steadily; the model sees ERI at the first whole hour at or after `project_battery`."""
    params = dataclasses.replace(fleet_parameters(), no_show_probability=0.0, delay_probability=0.0)
    n = 600
    out = simulate_block(params, 12, 0, n, 8.0)
    population = block_population(params, 0, n, block_generator(12, 0))
    continuous = params.schedule_index("continuous")
    start = datetime(2026, 1, 5, params.visit_hour)
    checked = 0
    for j in range(n):
        if population.schedule[j] != continuous or population.uses[j] != 0:
            continue
        projection = project_battery(
            params.pumps[int(population.pump[j])].id,
            start,
            VolumeRate(Fraction(population.daily_volume[j])),
            Fraction(int(population.charge_units[j]), 1_000_000),
        )
        assert projection.days_to_eri is not None
        expected = params.visit_hour / 24 + float(projection.days_to_eri)
        if expected >= 8.0 * DAYS_PER_YEAR:
            continue
        assert expected <= out.first_eri_day[j] + 1e-9
        assert out.first_eri_day[j] - expected <= 1 / 24 + 1e-9
        checked += 1
    assert checked > 100
