"""Refill reconciliation: the aspirated volume against the pump's estimate."""

from __future__ import annotations

from fractions import Fraction

import pytest

from thecal.programmer.reconciliation import (
    SYRINGE_ALLOWANCE,
    Direction,
    check_fill,
    reconcile,
)
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.quantities import Volume

PUMP = find_pump_model("peristaltic-20")  # ±14.5 %


def ml(text: str) -> Volume:
    return Volume(Fraction(text))


# 16 mL delivered since the fill: tolerance = 14.5 % × 16 + 0.5 = 2.82 mL
@pytest.mark.parametrize(
    ("aspirated", "direction"),
    [
        ("4", Direction.WITHIN_TOLERANCE),
        ("1.18", Direction.WITHIN_TOLERANCE),  # exactly the tolerance below
        ("1.17", Direction.LESS_THAN_EXPECTED),
        ("6.82", Direction.WITHIN_TOLERANCE),  # exactly the tolerance above
        ("6.83", Direction.MORE_THAN_EXPECTED),
    ],
)
def test_discrepancy_boundaries(aspirated: str, direction: Direction) -> None:
    result = reconcile(ml("4"), ml(aspirated), ml("16"), PUMP)
    assert result.tolerance == ml("2.82")
    assert result.direction is direction


def test_refill_discrepancy_flags_possible_pocket_fill_and_over_infusion() -> None:
    result = reconcile(ml("6"), ml("1"), ml("14"), PUMP)
    assert result.flagged
    causes = " ".join(result.likely_causes)
    assert "pocket fill" in causes and "over-infusion" in causes
    assert "DISCREPANCY" in result.message()


def test_refill_discrepancy_flags_possible_occlusion_or_catheter_tip_mass() -> None:
    result = reconcile(ml("2"), ml("9"), ml("18"), PUMP)
    causes = " ".join(result.likely_causes)
    assert "occlusion" in causes and "catheter tip" in causes and "motor stall" in causes


def test_the_syringe_allowance_applies_even_when_nothing_was_delivered() -> None:
    result = reconcile(ml("20"), ml("20") - SYRINGE_ALLOWANCE, ml("0"), PUMP)
    assert not result.flagged


@pytest.mark.parametrize(("fill", "refused"), [("20", False), ("20.001", True), ("0", True)])
def test_refuses_to_fill_beyond_capacity(fill: str, refused: bool) -> None:
    problem = check_fill(ml(fill), PUMP)
    assert (problem is not None) is refused
