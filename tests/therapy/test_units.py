"""Parsing human dosing text once at the edge: equal spellings, and every bad input named."""

from __future__ import annotations

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
)
from thecal.therapy.units import (
    QuantityParseError,
    format_quantity,
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_length_cm,
    parse_mass,
    parse_volume,
    parse_volume_per_cm,
    parse_volume_rate,
)


@pytest.mark.parametrize("text", ["500 mcg/mL", "500 ug/mL", "500 µg/mL", "500 μg/mL",
                                  "0.5 mg/mL", "0.5 mg/ml", "500000 ng/mL", "0.5 mg per mL",
                                  "0.5mg/mL", "5e2 mcg/mL"])  # fmt: skip
def test_every_spelling_of_500_mcg_per_ml_is_the_same_concentration(text: str) -> None:
    assert parse_concentration(text) == Concentration.from_mcg_per_ml(500)


@pytest.mark.parametrize(
    ("text", "mcg_per_day"),
    [("0.5 mg/day", 500), ("20 mcg/h", 480), ("20 mcg/hour", 480), ("1 mcg/min", 1440),
     ("1 mg per day", 1000), ("2 mg/d", 2000), ("1 mg/Day", 1000), ("1 mcg/H", 24),
     ("0 mg/day", 0)],
)  # fmt: skip
def test_dose_rates_parse_from_every_accepted_time_unit(text: str, mcg_per_day: int) -> None:
    assert parse_dose_rate(text) == DoseRate.from_mcg_per_day(mcg_per_day)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("8 h", 28800), ("8 H", 28800), ("15 min", 900), ("2 days", 172800), ("1 week", 604800),
     ("30 s", 30), ("1.5 hours", 5400)],
)  # fmt: skip
def test_durations_parse_case_free(text: str, seconds: int) -> None:
    assert parse_duration(text) == Duration.from_seconds(seconds)


def test_volumes_and_volume_rates_parse_in_ml_and_microlitres() -> None:
    assert parse_volume("140 µL") == parse_volume("0.14 mL") == parse_volume("140 uL")
    assert parse_volume_rate("20 uL/h") == VolumeRate.from_ml_per_day("0.48")


def test_mass_units_keep_their_case_so_mg_is_never_guessed() -> None:
    with pytest.raises(QuantityParseError, match="unknown unit 'Mg'"):
        parse_mass("5 Mg")


BAD_INPUTS = [
    (parse_mass, "", "is empty"),
    (parse_mass, "   ", "is empty"),
    (parse_mass, "5", "has no unit"),
    (parse_mass, "-5 mg", "is negative"),
    (parse_mass, "mg", "does not start with a number"),
    (parse_mass, "5 kg", "unknown unit 'kg'"),
    (parse_mass, "5 mL", "is a volume, not a mass"),
    (parse_mass, "1e999999999 mg", "is out of range"),
    (parse_mass, 5, "is not text"),
    (parse_volume, "5 mg", "is a mass, not a volume"),
    (parse_duration, "5 mg", "is a mass, not a duration"),
    (parse_duration, "5 fortnights", "unknown unit"),
    (parse_concentration, "5 mg", "is a mass, not a concentration"),
    (parse_concentration, "5 mg/day", "is a dose rate, not a concentration"),
    (parse_concentration, "5 mg/kg", "unknown unit"),
    (parse_dose_rate, "5 mg/mL", "is a concentration, not a dose rate"),
    (parse_dose_rate, "5 mL/day", "is a volume rate, not a dose rate"),
    (parse_dose_rate, "5 mg/week", "unknown unit"),
    (parse_dose_rate, "5 mg", "is a mass, not a dose rate"),
    (parse_volume_rate, "5 mg/day", "is a dose rate, not a volume rate"),
    (parse_length_cm, "5 mg", "is a mass, not a length"),
    (parse_length_cm, "-5", "is negative"),
    (parse_volume_per_cm, "0.0026 mg/cm", "is a mass, not a volume"),
]


@pytest.mark.parametrize(("parse", "text", "problem"), BAD_INPUTS)
def test_bad_input_names_the_field_the_problem_and_what_is_accepted(
    parse: object, text: object, problem: str
) -> None:
    with pytest.raises(QuantityParseError) as caught:
        parse(text, "the field")  # type: ignore[operator]
    message = str(caught.value)
    assert message.startswith("the field: ")
    assert problem in message
    assert "accepted: " in message


def test_a_parse_error_is_a_value_error_for_callers_that_catch_those() -> None:
    assert issubclass(QuantityParseError, ValueError)


def test_catheter_lengths_read_bare_numbers_as_centimetres() -> None:
    assert parse_length_cm("80") == parse_length_cm("80 cm") == parse_length_cm("800 mm") == 80
    assert parse_volume_per_cm("0.0026 mL/cm") == parse_volume_per_cm("2.6 µL per cm")


amounts = (
    st.fractions(min_value=0, max_value=10**7)
    .filter(lambda f: all(f.denominator % p for p in (3, 7, 11, 13)))
    .map(lambda f: Fraction(round(f * 10**6), 10**6))
)
KINDS = [
    (Mass, parse_mass),
    (Volume, parse_volume),
    (Duration, parse_duration),
    (Concentration, parse_concentration),
    (DoseRate, parse_dose_rate),
    (VolumeRate, parse_volume_rate),
]


@pytest.mark.parametrize(("kind", "parse"), KINDS)
@given(amount=amounts)
@settings(max_examples=60)
def test_format_then_parse_gives_back_the_same_exact_value(
    kind: type, parse: object, amount: Fraction
) -> None:
    value = kind(amount)
    assert parse(format_quantity(value)) == value  # type: ignore[operator]


def test_a_value_without_an_exact_decimal_must_be_rounded_before_it_is_written() -> None:
    with pytest.raises(ValueError, match="round it explicitly"):
        format_quantity(Mass(Fraction(1, 3)))
