"""Invariants of the one safety evaluator, over many generated prescriptions."""

from __future__ import annotations

import copy
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.therapy.library import default_library
from thecal.therapy.prescription import Prescription
from thecal.therapy.pump_models import pump_models
from thecal.therapy.safety import (
    HARD_LIMIT_RULES,
    Context,
    Outcome,
    Rule,
    evaluate,
    evaluate_hard_limits,
)

from .builders import T0
from .strategies import prescriptions

LIBRARY = default_library()
pumps = st.sampled_from(pump_models())
contexts = st.builds(
    Context,
    current=st.none() | prescriptions(),
    last_increase_at=st.none() | st.just(T0),
    now=st.none() | st.integers(0, 200).map(lambda h: T0 + timedelta(hours=h)),
    pump=st.none() | pumps,
)


@given(prescriptions(), contexts)
@settings(max_examples=150, deadline=None)
def test_the_evaluator_is_deterministic_and_changes_nothing(
    rx: Prescription, context: Context
) -> None:
    before = copy.deepcopy(rx)
    first = evaluate(rx, LIBRARY, context)
    second = evaluate(copy.deepcopy(rx), LIBRARY, copy.deepcopy(context))
    assert first == second
    assert rx == before


@given(prescriptions(), contexts)
@settings(max_examples=150, deadline=None)
def test_allowed_means_nothing_was_refused_and_every_verdict_names_its_rule(
    rx: Prescription, context: Context
) -> None:
    evaluation = evaluate(rx, LIBRARY, context)
    assert evaluation.allowed == all(v.outcome is not Outcome.REFUSED for v in evaluation.verdicts)
    for verdict in evaluation.verdicts:
        assert verdict.message
        assert len({v.rule for v in evaluation.verdicts}) == len(evaluation.verdicts)


@given(prescriptions(), pumps)
@settings(max_examples=150, deadline=None)
def test_the_firmware_recheck_refuses_exactly_what_the_full_evaluation_refuses_on_its_rules(
    rx: Prescription, pump: object
) -> None:
    full = evaluate(rx, LIBRARY, Context(pump=pump))  # type: ignore[arg-type]
    hard = evaluate_hard_limits(rx, LIBRARY, pump)  # type: ignore[arg-type]
    assert hard.verdicts == tuple(v for v in full.verdicts if v.rule in HARD_LIMIT_RULES)


@given(st.integers(1, 250_000), st.integers(1, 250_000), st.sampled_from(["10 mg/mL", "25 mg/mL"]))
@settings(max_examples=100, deadline=None)
def test_every_morphine_verdict_reads_in_mg_and_every_baclofen_verdict_in_mcg(
    new: int, old: int, strength: str
) -> None:
    from .builders import PUMP, continuous

    for drug, strength_text, unit, other in (
        ("morphine", strength, "mg", "mcg"),
        ("baclofen", "2000 mcg/mL", "mcg", "mg"),
    ):
        proposed = continuous(drug, strength_text, f"{new / 100} mcg/day")
        current = continuous(drug, strength_text, f"{old / 100} mcg/day")
        evaluation = evaluate(proposed, LIBRARY, Context(current, pump=PUMP))
        for verdict in evaluation.verdicts:
            for text in (verdict.message, verdict.value_text or "", verdict.bound_text or ""):
                assert f" {other}/" not in text and not text.endswith(f" {other}"), text
        daily = evaluation.verdict(Rule.DAILY_DOSE)
        assert daily is not None and daily.value_text is not None
        assert f" {unit}/day" in daily.value_text
