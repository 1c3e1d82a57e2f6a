"""How the service writes a quantity for people: exact when it can be, otherwise marked
"≈" and never more than the real value."""

from __future__ import annotations

from fractions import Fraction

from thecal.clinic.service.common import quantity_text
from thecal.therapy.quantities import DoseRate, Volume


def test_an_exact_value_is_written_exactly() -> None:
    assert quantity_text(DoseRate(Fraction(500))) == "500 mcg/day"


def test_an_inexact_dose_shows_five_significant_digits_truncated() -> None:
    # 452.0833... mcg/day: truncated, never rounded up
    assert quantity_text(DoseRate(Fraction(10850, 24))) == "≈ 452.08 mcg/day"
    assert quantity_text(DoseRate(Fraction(2, 3))) == "≈ 0.666666 mcg/day"


def test_a_small_inexact_volume_keeps_six_decimal_places() -> None:
    assert quantity_text(Volume(Fraction(1, 24))) == "≈ 0.041666 mL"


def test_nothing_is_written_for_no_value() -> None:
    assert quantity_text(None) is None
