"""A drug's doses read in one unit, exact or visibly truncated, never rounded up."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.therapy.display import DoseUnit, format_dose, infer_dose_unit, parse_dose_unit
from thecal.therapy.library import default_library
from thecal.therapy.quantities import Concentration, DoseRate, Mass, Volume


def test_morphine_reads_in_mg_even_below_one_mg() -> None:
    morphine = default_library().get("morphine")
    assert morphine.show(DoseRate.from_mcg_per_day(500)) == "0.5 mg/day"
    assert morphine.show(DoseRate.from_mg_per_day(12)) == "12 mg/day"


def test_baclofen_reads_in_mcg_even_above_one_mg() -> None:
    baclofen = default_library().get("baclofen")
    assert baclofen.show(DoseRate.from_mg_per_day(2)) == "2000 mcg/day"
    assert baclofen.show(Concentration.from_mg_per_ml(2)) == "2000 mcg/mL"
    assert baclofen.show(Mass.from_mcg(50)) == "50 mcg"


@pytest.mark.parametrize(
    ("drug", "unit"),
    [("morphine", "mg"), ("hydromorphone", "mg"), ("bupivacaine", "mg"), ("baclofen", "mcg"),
     ("ziconotide", "mcg"), ("clonidine", "mcg"), ("fentanyl", "mcg"), ("sufentanil", "mcg")],
)  # fmt: skip
def test_every_reference_drug_names_its_display_unit(drug: str, unit: str) -> None:
    entry = default_library().get(drug)
    assert entry.dose_unit is not None
    assert entry.display_unit.value == unit


def test_a_truncated_value_is_marked_and_never_shown_larger() -> None:
    assert format_dose(DoseRate(Fraction(1000, 3)), DoseUnit.MG) == "0.333333… mg/day"
    assert format_dose(DoseRate(Fraction(2000, 3)), DoseUnit.MCG) == "666.666666… mcg/day"


def test_an_exact_value_carries_no_truncation_mark() -> None:
    assert format_dose(DoseRate.from_mcg_per_day("2.4"), DoseUnit.MCG) == "2.4 mcg/day"


@given(st.fractions(min_value=0, max_value=10**8, max_denominator=10**6))
@settings(max_examples=200)
def test_displayed_dose_is_never_above_the_real_one(amount: Fraction) -> None:
    for unit in DoseUnit:
        text = format_dose(DoseRate(amount), unit).split(" ")[0].rstrip("…")
        assert Fraction(Decimal(text)) * unit.mcg <= amount


def test_only_masses_rates_and_concentrations_have_a_dose_unit() -> None:
    with pytest.raises(TypeError):
        format_dose(Volume.from_ml(1), DoseUnit.MG)  # type: ignore[arg-type]


@pytest.mark.parametrize(("hard", "unit"), [("10 mg/day", "mg"), ("9999 mcg/day", "mcg")])
def test_a_library_without_a_dose_unit_infers_it_from_the_hard_maximum(
    hard: str, unit: str
) -> None:
    from thecal.therapy.units import parse_dose_rate

    assert infer_dose_unit(parse_dose_rate(hard)).value == unit


@pytest.mark.parametrize("raw", ["g", "MG", "", 5])
def test_an_unknown_dose_unit_is_refused_with_the_accepted_units(raw: object) -> None:
    with pytest.raises(ValueError, match="accepted: mg, mcg"):
        parse_dose_unit(raw)
