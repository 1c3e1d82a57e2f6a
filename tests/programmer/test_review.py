"""The mandatory side-by-side review of pending against current settings."""

from __future__ import annotations

from pathlib import Path

from thecal.programmer.review import review, side_by_side
from thecal.therapy.library import default_library
from thecal.therapy.prescription import FlexStep, Mode, Prescription, TimeOfDay
from thecal.therapy.prescription_toml import read_prescription
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.quantities import Concentration, DoseRate
from thecal.therapy.safety import Context, Outcome, Rule

EXAMPLES = Path(__file__).parents[2] / "examples"
PUMP = find_pump_model("peristaltic-20")


def _morphine(mg_per_day: str) -> Prescription:
    return Prescription(
        "morphine",
        Concentration.from_mg_per_ml(10),
        Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate.from_mg_per_day(mg_per_day),
    )


def test_every_changed_setting_is_marked_and_unchanged_ones_are_not() -> None:
    rows = {r.setting: r for r in side_by_side(_morphine("2"), _morphine("3"), PUMP)}
    assert rows["rate"].changed and rows["rate"].current == "2 mg/day"
    assert rows["rate"].pending == "3 mg/day"
    assert rows["programmed daily dose"].changed
    assert rows["average volume rate"].pending == "0.3 mL/day"
    assert not rows["drug"].changed and not rows["concentration"].changed


def test_settings_only_in_the_current_prescription_still_appear() -> None:
    flex = Prescription(
        "morphine",
        Concentration.from_mg_per_ml(10),
        Mode.FLEX,
        steps=(
            FlexStep(TimeOfDay(0), DoseRate.from_mg_per_day(2)),
            FlexStep(TimeOfDay(8 * 60), DoseRate.from_mg_per_day(3)),
        ),
    )
    rows = {r.setting: r for r in side_by_side(flex, _morphine("2"), PUMP)}
    assert rows["flex step from 08:00"].current == "3 mg/day"
    assert rows["flex step from 08:00"].pending is None


def test_first_programming_shows_nothing_as_current() -> None:
    rx = read_prescription(EXAMPLES / "morphine-cancer-pain-ptm.toml")
    result = review(rx, default_library(), Context(pump=PUMP))
    assert all(row.current is None for row in result.rows)
    assert any(row.setting == "patient bolus lockout" for row in result.rows)


def test_a_soft_limit_needs_a_reason_before_it_is_confirmed() -> None:
    current = _morphine("10")
    proposed = _morphine("13")  # +30 %: above the 20 % soft titration step, below 50 % hard
    result = review(proposed, default_library(), Context(current, pump=PUMP))
    assert result.needs_reasons, "expected at least one soft-limit warning"
    assert not result.confirm({}).confirmed
    reasons = {rule: "discussed with the patient" for rule in result.needs_reasons}
    assert result.confirm(reasons).confirmed


def test_a_hard_limit_cannot_be_confirmed_with_any_reason() -> None:
    proposed = _morphine("500")
    result = review(proposed, default_library(), Context(_morphine("5"), pump=PUMP))
    assert not result.evaluation.allowed
    reasons = {rule: "insisting" for rule in Rule}
    assert not result.confirm(reasons).confirmed
    assert any(v.outcome is Outcome.REFUSED for v in result.evaluation.verdicts)
    assert result.content_hash == proposed.content_hash
