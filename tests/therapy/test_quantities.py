"""Exact quantities: physics-shaped arithmetic, no floats, rounding that never goes up."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.therapy.quantities import (
    Concentration,
    DoseRate,
    Duration,
    Mass,
    Volume,
    VolumeRate,
    decimal_text,
    exact,
    floor_fraction,
)

fractions = st.fractions(min_value=0, max_value=10**6, max_denominator=10**6)
steps = st.fractions(min_value=Fraction(1, 1000), max_value=1000, max_denominator=1000)


def test_a_float_is_refused_because_it_is_already_inexact() -> None:
    with pytest.raises(TypeError, match="not float"):
        Mass(0.1)  # type: ignore[arg-type]


def test_a_bool_is_not_a_quantity() -> None:
    with pytest.raises(TypeError):
        exact(True)


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity", "abc", ""])
def test_non_numbers_and_non_finite_text_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        exact(text)


def test_absurd_exponents_are_refused_instead_of_building_huge_integers() -> None:
    with pytest.raises(ValueError, match="out of range"):
        exact("1e999999999")


def test_decimal_text_and_decimal_build_the_same_exact_value() -> None:
    assert exact("0.1") == exact(Decimal("0.1")) == Fraction(1, 10)


def test_dose_rate_over_concentration_is_a_volume_rate() -> None:
    rate = DoseRate.from_mg_per_day(4) / Concentration.from_mg_per_ml(10)
    assert rate == VolumeRate.from_ml_per_day("0.4")


def test_mass_over_concentration_is_a_volume_and_back() -> None:
    volume = Mass.from_mcg(174) / Concentration.from_mcg_per_ml(500)
    assert volume == Volume.from_ml("0.348")
    assert volume.times(Concentration.from_mcg_per_ml(500)) == Mass.from_mcg(174)


def test_mixing_kinds_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Mass.from_mcg(1) + Volume.from_ml(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        assert Mass.from_mcg(1) < Volume.from_ml(1)  # type: ignore[operator]


def test_a_dose_rate_over_a_day_is_its_daily_mass() -> None:
    assert DoseRate.from_mcg_per_hour(1).over(Duration.from_days(1)) == Mass.from_mcg(24)


def test_a_volume_over_its_rate_is_the_time_it_takes() -> None:
    assert Volume.from_ml(18) / VolumeRate.from_ml_per_day("0.5") == Duration.from_days(36)


def test_durations_read_in_hours_below_three_days_and_in_days_from_there() -> None:
    assert str(Duration.from_seconds(38571)) == "10.7141 h"
    assert str(Duration.from_days(2)) == "48 h"
    assert str(Duration.from_days(14)) == "14 days"
    assert str(Duration.from_minutes(10)) == "10 min"


@given(fractions, steps)
@settings(max_examples=200)
def test_floor_never_rounds_up_and_stays_within_one_step(value: Fraction, step: Fraction) -> None:
    floored = floor_fraction(value, step)
    assert floored <= value
    assert value - floored < step
    assert (floored / step).denominator == 1


@given(fractions, steps)
@settings(max_examples=100)
def test_rounding_a_dose_never_increases_it(value: Fraction, step: Fraction) -> None:
    dose = DoseRate(value)
    assert dose.floor_to(DoseRate(step)) <= dose


@given(st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=10**7))
@settings(max_examples=200)
def test_decimal_text_truncates_toward_zero_and_never_shows_more(value: Fraction) -> None:
    shown = Fraction(Decimal(decimal_text(value, 6)))
    assert abs(shown) <= abs(value)
    assert abs(value - shown) < Fraction(1, 10**6)


def test_decimal_text_is_exact_when_the_value_terminates() -> None:
    assert decimal_text(Fraction(389583333, 1000000)) == "389.583333"
    assert decimal_text(Fraction(1, 2)) == "0.5"
    assert decimal_text(Fraction(-1, 3), 2) == "-0.33"


def test_the_rounding_step_must_be_positive() -> None:
    with pytest.raises(ValueError):
        floor_fraction(Fraction(1), Fraction(0))
