"""One limit type: a soft and a hard bound, one direction, one classification.

Equal to a bound is within it; just past it is not. A limit that cannot be meant is
refused when it is built, never discovered when a patient's dose is judged.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thecal.therapy.library import TitrationStep
from thecal.therapy.limits import (
    Classification,
    Direction,
    Limit,
    LimitError,
    LimitProblem,
)
from thecal.therapy.quantities import DoseRate, Duration, Mass
from thecal.therapy.sourced import Sourced
from thecal.therapy.units import parse_dose_rate, parse_duration

WITHIN, SOFT, HARD = (
    Classification.WITHIN,
    Classification.SOFT_EXCEEDED,
    Classification.HARD_EXCEEDED,
)


def rate(text: str) -> DoseRate:
    return parse_dose_rate(text)


def hours(text: str) -> Duration:
    return parse_duration(text)


SOFT_DAILY = Sourced(rate("20 mg/day"), "S51")
HARD_DAILY = Sourced(rate("25 mg/day"), site_default=True)
DAILY = Limit.maximum(SOFT_DAILY, HARD_DAILY)

SOFT_GAP = Sourced(hours("48 h"), "S47")
HARD_GAP = Sourced(hours("24 h"), "S47")
GAP = Limit.minimum(SOFT_GAP, HARD_GAP)


@pytest.mark.parametrize(
    ("value", "expected", "bound"),
    [("19.999 mg/day", WITHIN, SOFT_DAILY),
     ("20 mg/day", WITHIN, SOFT_DAILY),  # exactly at soft
     ("20.000001 mg/day", SOFT, SOFT_DAILY),  # just over soft
     ("25 mg/day", SOFT, SOFT_DAILY),  # exactly at hard
     ("25.000001 mg/day", HARD, HARD_DAILY)],  # just over hard
)  # fmt: skip
def test_an_upper_limit_classifies_each_boundary(
    value: str, expected: Classification, bound: Sourced[DoseRate]
) -> None:
    check = DAILY.classify(rate(value))
    assert (check.classification, check.bound, check.value) == (expected, bound, rate(value))
    assert check.direction is Direction.UPPER


@pytest.mark.parametrize(
    ("value", "expected", "bound"),
    [("49 h", WITHIN, SOFT_GAP),
     ("48 h", WITHIN, SOFT_GAP),  # exactly at soft
     ("47.999 h", SOFT, SOFT_GAP),  # just under the soft minimum
     ("24 h", SOFT, SOFT_GAP),  # exactly at hard
     ("23.999 h", HARD, HARD_GAP)],  # just under the hard minimum
)  # fmt: skip
def test_a_lower_limit_classifies_each_boundary(
    value: str, expected: Classification, bound: Sourced[Duration]
) -> None:
    check = GAP.classify(hours(value))
    assert (check.classification, check.bound) == (expected, bound)
    assert check.exceeded is (expected is not WITHIN)


@pytest.mark.parametrize(
    ("limit", "value", "expected"),
    [(Limit.maximum(hard=Sourced(Mass.from_mg(1), "S1")), Mass.from_mg(1), WITHIN),
     (Limit.maximum(hard=Sourced(Mass.from_mg(1), "S1")), Mass.from_ng(1_000_001), HARD),
     (Limit.maximum(soft=Sourced(Mass.from_mg(1), "S1")), Mass.from_mg(1000), SOFT),
     (Limit.minimum(hard=Sourced(3, "S1")), 2, HARD),
     (Limit.minimum(soft=Sourced(3, "S1")), 2, SOFT),
     (Limit.minimum(soft=Sourced(3, "S1")), 3, WITHIN)],
)  # fmt: skip
def test_a_limit_with_one_bound_classifies_against_that_bound(
    limit: Limit[object], value: object, expected: Classification
) -> None:
    assert limit.classify(value).classification is expected  # type: ignore[arg-type]


def test_a_soft_and_a_hard_bound_may_coincide_and_then_only_the_hard_one_is_crossed() -> None:
    same = Sourced(rate("10 mg/day"), "S1")
    limit = Limit.maximum(same, same)
    assert limit.classify(rate("10.001 mg/day")).classification is HARD


@pytest.mark.parametrize(
    ("build", "problem"),
    [(lambda: Limit.maximum(), LimitProblem.NO_BOUND),
     (lambda: Limit.maximum(HARD_DAILY, SOFT_DAILY), LimitProblem.SOFT_OUTSIDE_HARD),
     (lambda: Limit.minimum(HARD_GAP, SOFT_GAP), LimitProblem.SOFT_OUTSIDE_HARD),
     (lambda: Limit.maximum(Sourced(Mass.from_mg(1), "S1"), HARD_DAILY),
      LimitProblem.MIXED_KINDS),
     (lambda: Limit.maximum(hard=Sourced(0.5, "S1")), LimitProblem.INEXACT),
     (lambda: Limit.maximum(hard=Sourced(DoseRate(-1), "S1")), LimitProblem.BELOW_ZERO),
     (lambda: Limit.minimum(soft=Sourced(Fraction(-1, 2), "S1")), LimitProblem.BELOW_ZERO)],
)  # fmt: skip
def test_a_limit_that_cannot_be_meant_is_refused_when_built(
    build: object, problem: LimitProblem
) -> None:
    with pytest.raises(LimitError) as raised:
        build()  # type: ignore[operator]
    assert raised.value.problem is problem


def test_a_refused_limit_keeps_the_bounds_it_was_given_for_the_reader_to_word() -> None:
    with pytest.raises(LimitError) as raised:
        Limit.maximum(HARD_DAILY, SOFT_DAILY)
    assert (raised.value.soft, raised.value.hard) == (HARD_DAILY, SOFT_DAILY)
    assert raised.value.direction is Direction.UPPER


def test_bounds_must_be_sourced_and_the_direction_a_direction() -> None:
    with pytest.raises(TypeError):
        Limit.maximum(hard=rate("1 mg/day"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Limit("upper", hard=HARD_DAILY)  # type: ignore[arg-type]


def test_classifying_a_value_of_another_kind_is_misuse() -> None:
    with pytest.raises(TypeError):
        DAILY.classify(Mass.from_mg(30))  # type: ignore[arg-type]


def test_a_limit_names_the_sources_of_its_bounds_once_each() -> None:
    assert DAILY.sources == ("S51",)
    assert GAP.sources == ("S47",)


# --- resolving bounds that only mean something in context ---------------------------

PERCENT = Limit.maximum(
    Sourced(TitrationStep(percent=Fraction(20)), site_default=True),
    Sourced(TitrationStep(percent=Fraction(50)), site_default=True),
)


def test_percentage_steps_resolve_to_the_increase_they_allow_today() -> None:
    resolved = PERCENT.resolved(lambda step: step.bound_for(rate("5 mg/day")))
    assert resolved is not None
    assert (resolved.soft, resolved.hard) == (
        Sourced(rate("1 mg/day"), site_default=True),
        Sourced(rate("2.5 mg/day"), site_default=True),
    )


def test_a_bound_resolved_to_nothing_is_dropped_and_no_bound_left_is_no_limit() -> None:
    assert PERCENT.resolved(lambda step: None) is None
    mixed = Limit.maximum(
        Sourced(TitrationStep(percent=Fraction(20)), site_default=True),
        Sourced(TitrationStep(absolute=rate("2.4 mcg/day")), "S46"),
    )
    only_absolute = mixed.resolved(lambda s: None if s.percent is not None else s.absolute)
    assert only_absolute is not None
    assert (only_absolute.soft, only_absolute.hard) == (None, Sourced(rate("2.4 mcg/day"), "S46"))


def test_a_soft_bound_that_resolves_beyond_the_hard_one_is_dropped_as_never_first() -> None:
    # Soft 20 %, hard 2 mg/day: at 50 mg/day the soft step allows 10 mg/day, past the hard.
    mixed = Limit.maximum(
        Sourced(TitrationStep(percent=Fraction(20)), site_default=True),
        Sourced(TitrationStep(absolute=rate("2 mg/day")), "S1"),
    )
    resolved = mixed.resolved(lambda step: step.bound_for(rate("50 mg/day")))
    assert resolved is not None and resolved.soft is None
    assert resolved.classify(rate("2.001 mg/day")).classification is HARD
    assert resolved.classify(rate("2 mg/day")).classification is WITHIN


@pytest.mark.parametrize(
    ("a", "b", "less", "greater"),
    [(TitrationStep(percent=Fraction(20)), TitrationStep(percent=Fraction(50)), True, False),
     (TitrationStep(absolute=rate("3 mg/day")), TitrationStep(absolute=rate("2 mg/day")),
      False, True),
     (TitrationStep(percent=Fraction(20)), TitrationStep(absolute=rate("2 mg/day")),
      False, False)],
)  # fmt: skip
def test_titration_steps_are_ordered_only_within_one_kind(
    a: TitrationStep, b: TitrationStep, less: bool, greater: bool
) -> None:
    assert (a < b, a > b) == (less, greater)


# --- invariants ---------------------------------------------------------------------

RANK = {WITHIN: 0, SOFT: 1, HARD: 2}
amounts = st.integers(min_value=0, max_value=10_000)


@st.composite
def limits(draw: st.DrawFn) -> Limit[DoseRate]:
    direction = draw(st.sampled_from(Direction))
    soft, hard = sorted(draw(st.lists(amounts, min_size=2, max_size=2)))
    if direction is Direction.LOWER:
        soft, hard = hard, soft
    keep = draw(st.sampled_from(["both", "soft", "hard"]))
    return Limit(
        direction,
        Sourced(DoseRate(soft), "S1") if keep != "hard" else None,
        Sourced(DoseRate(hard), "S2") if keep != "soft" else None,
    )


@given(limits(), amounts, amounts)
def test_classification_is_monotone_in_the_value(
    limit: Limit[DoseRate], first: int, second: int
) -> None:
    low, high = sorted((first, second))
    further, nearer = (high, low) if limit.direction is Direction.UPPER else (low, high)
    assert (
        RANK[limit.classify(DoseRate(further)).classification]
        >= RANK[limit.classify(DoseRate(nearer)).classification]
    )


@given(limits(), amounts)
def test_a_crossed_bound_is_one_the_value_lies_beyond(limit: Limit[DoseRate], amount: int) -> None:
    check = limit.classify(DoseRate(amount))
    expected = {SOFT: limit.soft, HARD: limit.hard, WITHIN: limit.soft or limit.hard}
    assert check.bound is expected[check.classification]
    assert check.exceeded is limit.direction.beyond(DoseRate(amount), check.bound.value)
