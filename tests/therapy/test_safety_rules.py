"""The safety evaluator, rule by rule: equal to a limit is within it, just past it is not."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from thecal.therapy.library import default_library
from thecal.therapy.prescription import Prescription
from thecal.therapy.pump_models import PumpModel, find_pump_model
from thecal.therapy.quantities import Duration
from thecal.therapy.safety import (
    HARD_LIMIT_RULES,
    Context,
    Outcome,
    Rule,
    Verdict,
    confirm,
    evaluate,
    evaluate_hard_limits,
)
from thecal.therapy.sourced import Sourced
from thecal.therapy.units import (
    parse_concentration,
    parse_dose_rate,
    parse_mass,
    parse_volume_rate,
)

from .builders import PUMP, T0, continuous, flex, minimum, patient, periodic, single, stopped

LIBRARY = default_library()
ALLOWED, WARNING, REFUSED = Outcome.ALLOWED, Outcome.WARNING, Outcome.REFUSED


def judge(
    rx: Prescription,
    rule: Rule,
    current: Prescription | None = None,
    pump: PumpModel | None = PUMP,
    last: datetime | None = None,
    now: datetime | None = None,
) -> Verdict | None:
    return evaluate(rx, LIBRARY, Context(current, last, now, pump)).verdict(rule)


def outcome(*args: object, **kwargs: object) -> Outcome | None:
    verdict = judge(*args, **kwargs)  # type: ignore[arg-type]
    return verdict.outcome if verdict is not None else None


# --- library ------------------------------------------------------------------------


def test_a_drug_missing_from_the_library_is_refused_with_the_accepted_drugs() -> None:
    verdict = judge(continuous("aspirin", "10 mg/mL", "1 mg/day"), Rule.DRUG_IN_LIBRARY)
    assert verdict is not None and verdict.outcome is REFUSED
    assert verdict.value == "aspirin"
    assert "accepted: morphine" in verdict.message


@pytest.mark.parametrize(
    ("concentration", "expected"),
    [("10 mg/mL", ALLOWED), ("25 mg/mL", ALLOWED), ("10.001 mg/mL", REFUSED), ("9 mg/mL", REFUSED)],
)
def test_only_library_concentrations_are_allowed(concentration: str, expected: Outcome) -> None:
    rx = continuous("morphine", concentration, "1 mg/day")
    assert outcome(rx, Rule.CONCENTRATION_IN_LIBRARY) is expected


def test_a_refused_concentration_lists_the_accepted_ones_in_the_drugs_unit() -> None:
    verdict = judge(continuous("baclofen", "1 mg/mL", "100 mcg/day"), Rule.CONCENTRATION_IN_LIBRARY)
    assert verdict is not None
    assert verdict.value == parse_concentration("1 mg/mL")
    assert verdict.bound == tuple(
        parse_concentration(c) for c in ("50 mcg/mL", "500 mcg/mL", "2000 mcg/mL")
    )
    # The wording is the behaviour here: the pharmacist reads baclofen in mcg only.
    assert verdict.message == (
        "1000 mcg/mL is not a library concentration of baclofen; "
        "accepted: 50 mcg/mL, 500 mcg/mL, 2000 mcg/mL"
    )


# --- off-label ---------------------------------------------------------------------

HYDRO = continuous("hydromorphone", "2 mg/mL", "1 mg/day")


def test_an_approved_drug_is_allowed() -> None:
    assert outcome(continuous("morphine", "10 mg/mL", "1 mg/day"), Rule.OFF_LABEL) is ALLOWED


def test_an_off_label_drug_warns_and_cites_its_source() -> None:
    verdict = judge(HYDRO, Rule.OFF_LABEL)
    assert verdict is not None and verdict.outcome is WARNING
    assert verdict.source == "S74"
    assert verdict.citation is not None and verdict.citation.startswith("S74: ")


def test_continuing_the_current_off_label_drug_does_not_warn_again() -> None:
    assert outcome(HYDRO, Rule.OFF_LABEL, current=HYDRO) is ALLOWED


# --- pump capability ---------------------------------------------------------------


def test_a_constant_flow_pump_cannot_be_programmed() -> None:
    rx = continuous("morphine", "10 mg/mL", "1 mg/day")
    assert outcome(rx, Rule.PUMP_PROGRAMMABLE, pump=find_pump_model("constant-flow-30")) is REFUSED


def steps(count: int) -> Prescription:
    starts = (f"{m // 60:02d}:{m % 60:02d}" for m in range(0, count * 30, 30))
    return flex("morphine", "10 mg/mL", *((start, "1 mg/day") for start in starts))


@pytest.mark.parametrize(("count", "expected"), [(24, ALLOWED), (25, REFUSED)])
def test_a_flex_schedule_holds_no_more_steps_than_the_pump(count: int, expected: Outcome) -> None:
    pump = find_pump_model("valve-accumulator-20")
    verdict = judge(steps(count), Rule.FLEX_STEPS, pump=pump)
    assert verdict is not None
    assert (verdict.outcome, verdict.value, verdict.bound) == (expected, count, 24)


@pytest.mark.parametrize(
    ("rate", "expected", "bound"),
    [("0.48 mg/day", ALLOWED, "24 mL/day"), ("0.479 mg/day", REFUSED, "0.048 mL/day"),
     ("240 mg/day", ALLOWED, "24 mL/day"), ("240.01 mg/day", REFUSED, "24 mL/day")],
)  # fmt: skip
def test_basal_volume_rates_must_lie_in_the_pumps_range(
    rate: str, expected: Outcome, bound: str
) -> None:
    verdict = judge(continuous("morphine", "10 mg/mL", rate), Rule.PUMP_RATE)
    assert verdict is not None
    assert (verdict.outcome, verdict.bound) == (expected, parse_volume_rate(bound))
    assert verdict.value == parse_dose_rate(rate).to_volume_rate(parse_concentration("10 mg/mL"))


def test_minimum_rate_mode_runs_at_the_pumps_own_minimum() -> None:
    assert outcome(minimum("morphine", "10 mg/mL"), Rule.PUMP_RATE) is ALLOWED


FAST_BOLUS_PUMP = dataclasses.replace(
    PUMP, max_bolus_volume_rate=Sourced(parse_volume_rate("48 mL/day"), site_default=True)
)


@pytest.mark.parametrize(
    ("rx", "expected"),
    [(continuous("morphine", "10 mg/mL", "300 mg/day"), REFUSED),  # basal 30 mL/day > 24
     (single("morphine", "10 mg/mL", "12.5 mg", "1 h"), ALLOWED),  # bolus 30 mL/day <= 48
     (single("morphine", "10 mg/mL", "20 mg", "1 h"), ALLOWED),  # bolus exactly 48 mL/day
     (single("morphine", "10 mg/mL", "20.01 mg", "1 h"), REFUSED)],
)  # fmt: skip
def test_bolus_rates_are_held_to_the_bolus_ceiling_and_basal_rates_to_the_basal(
    rx: Prescription, expected: Outcome
) -> None:
    assert outcome(rx, Rule.PUMP_RATE, pump=FAST_BOLUS_PUMP) is expected


def test_without_a_pump_model_capability_is_not_checked_and_the_evaluation_says_so() -> None:
    evaluation = evaluate(continuous("morphine", "10 mg/mL", "1 mg/day"), LIBRARY)
    assert evaluation.verdict(Rule.PUMP_RATE) is None
    assert any("no pump model" in note for note in evaluation.notes)


# --- daily and bolus doses ---------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected", "bound"),
    [("20 mg/day", ALLOWED, "20 mg/day"), ("20.001 mg/day", WARNING, "20 mg/day"),
     ("25 mg/day", WARNING, "20 mg/day"), ("25.001 mg/day", REFUSED, "25 mg/day")],
)  # fmt: skip
def test_daily_dose_soft_and_hard_limits(rate: str, expected: Outcome, bound: str) -> None:
    verdict = judge(continuous("morphine", "25 mg/mL", rate), Rule.DAILY_DOSE)
    assert verdict is not None
    assert (verdict.outcome, verdict.value, verdict.bound) == (
        expected, parse_dose_rate(rate), parse_dose_rate(bound)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rate", "expected", "bound", "source"),
    [("19.2 mcg/day", ALLOWED, "19.2 mcg/day", "S46"),
     ("19.201 mcg/day", WARNING, "19.2 mcg/day", "S46"),
     ("21.6 mcg/day", WARNING, "19.2 mcg/day", "S46"),
     ("21.601 mcg/day", REFUSED, "21.6 mcg/day", "S47")],
)  # fmt: skip
def test_ziconotide_daily_limits_are_the_us_and_eu_label_maxima(
    rate: str, expected: Outcome, bound: str, source: str
) -> None:
    verdict = judge(continuous("ziconotide", "100 mcg/mL", rate), Rule.DAILY_DOSE)
    assert verdict is not None
    assert (verdict.outcome, verdict.bound, verdict.source) == (
        expected, parse_dose_rate(bound), source
    )  # fmt: skip


def test_worst_case_patient_boluses_count_toward_the_daily_dose() -> None:
    plain = continuous("morphine", "10 mg/mL", "19 mg/day")
    with_boluses = continuous("morphine", "10 mg/mL", "19 mg/day",
                              patient("0.25 mg", "10 min", "3 h", 6))  # fmt: skip
    assert outcome(plain, Rule.DAILY_DOSE) is ALLOWED
    verdict = judge(with_boluses, Rule.DAILY_DOSE)
    assert verdict is not None and verdict.outcome is WARNING
    assert verdict.value == parse_dose_rate("20.5 mg/day")


def test_a_daily_dose_verdict_reads_in_the_drugs_one_unit() -> None:
    verdict = judge(continuous("morphine", "10 mg/mL", "0.5 mg/day"), Rule.DAILY_DOSE)
    assert verdict is not None
    assert (verdict.value_text, verdict.bound_text) == ("0.5 mg/day", "20 mg/day")
    assert "0.5 mg/day is within limits" in verdict.message


@pytest.mark.parametrize(
    ("dose", "expected", "bound"),
    [("0.5 mg", ALLOWED, "0.5 mg"), ("0.501 mg", WARNING, "0.5 mg"),
     ("1 mg", WARNING, "0.5 mg"), ("1.001 mg", REFUSED, "1 mg")],
)  # fmt: skip
def test_bolus_soft_and_hard_limits(dose: str, expected: Outcome, bound: str) -> None:
    rx = continuous("morphine", "10 mg/mL", "1 mg/day", patient(dose, "10 min", "24 h", 1))
    verdict = judge(rx, Rule.BOLUS_DOSE)
    assert verdict is not None
    assert (verdict.outcome, verdict.value, verdict.bound) == (
        expected, parse_mass(dose), parse_mass(bound)
    )  # fmt: skip


def test_the_worst_bolus_verdict_is_the_one_reported() -> None:
    rx = periodic("morphine", "10 mg/mL", "2 mg", "1 h", "24 h")
    verdict = judge(rx, Rule.BOLUS_DOSE)
    assert verdict is not None
    assert (verdict.outcome, verdict.value, verdict.bound) == (
        REFUSED, parse_mass("2 mg"), parse_mass("1 mg")
    )  # fmt: skip


# --- start and restart -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"), [("2.4 mcg/day", ALLOWED), ("2.401 mcg/day", WARNING)]
)
def test_a_ziconotide_start_is_held_to_the_label_start_dose(rate: str, expected: Outcome) -> None:
    verdict = judge(continuous("ziconotide", "25 mcg/mL", rate), Rule.START_DOSE)
    assert verdict is not None
    assert (verdict.outcome, verdict.value, verdict.bound, verdict.source) == (
        expected, parse_dose_rate(rate), parse_dose_rate("2.4 mcg/day"), "S46"
    )  # fmt: skip


def test_a_running_ziconotide_therapy_is_not_a_start() -> None:
    running = continuous("ziconotide", "25 mcg/mL", "4.8 mcg/day")
    rx = continuous("ziconotide", "25 mcg/mL", "7.2 mcg/day")
    assert judge(rx, Rule.START_DOSE, current=running) is None


def test_a_restart_after_a_stop_is_held_to_the_start_dose() -> None:
    rx = continuous("ziconotide", "25 mcg/mL", "4.8 mcg/day")
    assert outcome(rx, Rule.START_DOSE, current=stopped("prialt", "25 mcg/mL")) is WARNING


def test_restarting_a_drug_without_a_start_limit_asks_for_a_reason() -> None:
    rx = continuous("morphine", "10 mg/mL", "1 mg/day")
    verdict = judge(rx, Rule.START_DOSE, current=stopped("morphine", "10 mg/mL"))
    assert verdict is not None and verdict.outcome is WARNING
    assert (verdict.value, verdict.bound) == (parse_dose_rate("1 mg/day"), None)
    assert "tolerance may have fallen" in verdict.message


def test_an_infusion_after_a_trial_bolus_is_a_start_not_a_percentage_step() -> None:
    trial = single("morphine", "10 mg/mL", "0.2 mg", "10 min")
    evaluation = evaluate(morphine("0.5 mg/day"), LIBRARY, Context(trial, pump=PUMP))
    assert evaluation.verdict(Rule.TITRATION_STEP).outcome is ALLOWED  # type: ignore[union-attr]
    assert evaluation.verdict(Rule.START_DOSE).outcome is WARNING  # type: ignore[union-attr]
    assert evaluation.verdict(Rule.WITHDRAWAL_RISK) is None


def test_a_new_start_of_a_drug_without_a_start_limit_gives_no_start_verdict() -> None:
    assert judge(continuous("morphine", "10 mg/mL", "1 mg/day"), Rule.START_DOSE) is None


# --- changes against the current prescription ---------------------------------------

MORPHINE_NOW = continuous("morphine", "10 mg/mL", "1 mg/day")


def morphine(rate: str) -> Prescription:
    return continuous("morphine", "10 mg/mL", rate)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("9.999 mg/day", ALLOWED), ("10 mg/day", REFUSED),  # ×10 or more: refused
     ("0.1001 mg/day", ALLOWED), ("0.1 mg/day", WARNING)],  # ÷10 or less: warning
)  # fmt: skip
def test_a_tenfold_change_is_caught(rate: str, expected: Outcome) -> None:
    verdict = judge(morphine(rate), Rule.TENFOLD_CHANGE, current=MORPHINE_NOW)
    assert verdict is not None and verdict.outcome is expected
    assert verdict.value == parse_dose_rate(rate).ratio(parse_dose_rate("1 mg/day"))


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("19.999 mg/day", ALLOWED), ("20 mg/day", REFUSED), ("24 mg/day", REFUSED),
     ("28 mg/day", REFUSED), ("28.001 mg/day", ALLOWED),
     ("0.05 mg/day", WARNING), ("0.0501 mg/day", ALLOWED),
     ("0.035714 mg/day", ALLOWED), ("0.035715 mg/day", WARNING)],
)  # fmt: skip
def test_a_per_hour_value_entered_per_day_is_caught(rate: str, expected: Outcome) -> None:
    assert outcome(morphine(rate), Rule.HOUR_DAY_SLIP, current=MORPHINE_NOW) is expected


def test_the_slip_is_caught_when_the_current_prescription_names_the_drug_by_an_alias() -> None:
    current = continuous("infumorph", "10 mg/mL", "0.5 mg/day")
    evaluation = evaluate(morphine("12 mg/day"), LIBRARY, Context(current, pump=PUMP))
    assert {v.rule for v in evaluation.refusals} >= {Rule.HOUR_DAY_SLIP, Rule.TENFOLD_CHANGE}
    assert evaluation.verdict(Rule.BRIDGE_BOLUS).outcome is ALLOWED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("4.8 mcg/day", ALLOWED), ("4.801 mcg/day", REFUSED)],  # +2.4 mcg/day hard step
)
def test_a_ziconotide_step_is_at_most_2_4_mcg_per_day(rate: str, expected: Outcome) -> None:
    current = continuous("ziconotide", "25 mcg/mL", "2.4 mcg/day")
    rx = continuous("ziconotide", "25 mcg/mL", rate)
    verdict = judge(rx, Rule.TITRATION_STEP, current=current)
    assert verdict is not None
    increase = parse_dose_rate(rate) - parse_dose_rate("2.4 mcg/day")
    assert (verdict.outcome, verdict.value, verdict.bound, verdict.source) == (
        expected, increase, parse_dose_rate("2.4 mcg/day"), "S46"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rate", "expected", "bound"),
    [("6 mg/day", ALLOWED, "1 mg/day"), ("6.001 mg/day", WARNING, "1 mg/day"),  # +20 % soft
     ("7.5 mg/day", WARNING, "1 mg/day"), ("7.501 mg/day", REFUSED, "2.5 mg/day")],  # +50 % hard
)  # fmt: skip
def test_percentage_titration_steps(rate: str, expected: Outcome, bound: str) -> None:
    current = continuous("morphine", "10 mg/mL", "5 mg/day")
    verdict = judge(morphine(rate), Rule.TITRATION_STEP, current=current)
    assert verdict is not None
    assert (verdict.outcome, verdict.bound) == (expected, parse_dose_rate(bound))


def test_a_crossed_percentage_step_is_named_as_the_library_writes_it() -> None:
    current = continuous("morphine", "10 mg/mL", "5 mg/day")
    verdict = judge(morphine("7.501 mg/day"), Rule.TITRATION_STEP, current=current)
    assert verdict is not None
    assert "is larger than the hard titration step 50 % (site default)" in verdict.message


def test_a_restart_is_not_refused_by_a_percentage_of_nothing() -> None:
    verdict = judge(
        morphine("1 mg/day"), Rule.TITRATION_STEP, current=stopped("morphine", "10 mg/mL")
    )
    assert verdict is not None and verdict.outcome is ALLOWED
    assert (verdict.value, verdict.bound) == (parse_dose_rate("1 mg/day"), None)
    assert "restart" in verdict.message


def test_a_restart_from_minimum_rate_is_judged_as_a_restart() -> None:
    evaluation = evaluate(morphine("4 mg/day"), LIBRARY,
                          Context(minimum("morphine", "10 mg/mL"), pump=PUMP))  # fmt: skip
    assert evaluation.verdict(Rule.TITRATION_STEP).outcome is ALLOWED  # type: ignore[union-attr]
    assert evaluation.verdict(Rule.START_DOSE).outcome is WARNING  # type: ignore[union-attr]


def test_an_absolute_step_still_bounds_a_restart() -> None:
    rx = continuous("ziconotide", "25 mcg/mL", "2.5 mcg/day")
    current = stopped("ziconotide", "25 mcg/mL")
    assert outcome(rx, Rule.TITRATION_STEP, current=current) is REFUSED


def test_a_decrease_is_not_a_titration_step() -> None:
    assert judge(morphine("0.9 mg/day"), Rule.TITRATION_STEP, current=MORPHINE_NOW) is None


ZICO_NOW = continuous("ziconotide", "25 mcg/mL", "2.4 mcg/day")
ZICO_UP = continuous("ziconotide", "25 mcg/mL", "4.8 mcg/day")


@pytest.mark.parametrize(
    ("since", "expected", "bound_hours"),
    [(timedelta(hours=48), ALLOWED, 48), (timedelta(hours=48) - timedelta(seconds=1), WARNING, 48),
     (timedelta(hours=24), WARNING, 48), (timedelta(hours=24) - timedelta(seconds=1), REFUSED, 24)],
)  # fmt: skip
def test_ziconotide_increases_are_at_least_24_h_apart_and_48_h_is_recommended(
    since: timedelta, expected: Outcome, bound_hours: int
) -> None:
    verdict = judge(ZICO_UP, Rule.TITRATION_INTERVAL, current=ZICO_NOW, last=T0, now=T0 + since)
    assert verdict is not None
    assert (verdict.outcome, verdict.value, verdict.bound, verdict.source) == (
        expected, Duration.from_timedelta(since), Duration.from_hours(bound_hours), "S47"
    )  # fmt: skip


def test_without_an_earlier_increase_the_interval_is_not_limiting() -> None:
    assert outcome(ZICO_UP, Rule.TITRATION_INTERVAL, current=ZICO_NOW) is ALLOWED


def test_a_known_last_increase_without_the_time_now_cannot_be_checked_and_warns() -> None:
    verdict = judge(ZICO_UP, Rule.TITRATION_INTERVAL, current=ZICO_NOW, last=T0)
    assert verdict is not None and verdict.outcome is WARNING
    assert "no current time" in verdict.message


def test_a_last_increase_in_the_future_is_refused_as_a_clock_problem() -> None:
    result = outcome(ZICO_UP, Rule.TITRATION_INTERVAL, current=ZICO_NOW, last=T0,
                     now=T0 - timedelta(minutes=1))  # fmt: skip
    assert result is REFUSED


def test_mixing_a_zoned_and_an_unzoned_time_is_refused_as_misuse() -> None:
    with pytest.raises(ValueError, match="one has a time zone"):
        judge(ZICO_UP, Rule.TITRATION_INTERVAL, current=ZICO_NOW,
              last=T0.replace(tzinfo=UTC), now=T0 + timedelta(days=3))  # fmt: skip


def test_zoned_times_are_compared_on_real_elapsed_time() -> None:
    # 47 h of wall-clock difference but 48 h of real time across an offset change.
    last = datetime(2026, 3, 28, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    now = datetime(2026, 3, 30, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert (
        outcome(ZICO_UP, Rule.TITRATION_INTERVAL, current=ZICO_NOW, last=last, now=now) is WARNING
    )
    later = now + timedelta(hours=1)
    assert (
        outcome(ZICO_UP, Rule.TITRATION_INTERVAL, current=ZICO_NOW, last=last, now=later) is ALLOWED
    )


# --- bridge and withdrawal ----------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "expected"),
    [(continuous("morphine", "10 mg/mL", "1 mg/day"), ALLOWED),
     (continuous("Infumorph", "10 mg/mL", "1 mg/day"), ALLOWED),
     (continuous("morphine", "25 mg/mL", "1 mg/day"), WARNING),
     (continuous("hydromorphone", "10 mg/mL", "0.2 mg/day"), WARNING)],
)  # fmt: skip
def test_a_drug_or_concentration_change_needs_a_bridge(
    current: Prescription, expected: Outcome
) -> None:
    assert outcome(morphine("1 mg/day"), Rule.BRIDGE_BOLUS, current=current) is expected


BACLOFEN_NOW = continuous("baclofen", "500 mcg/mL", "400 mcg/day")


@pytest.mark.parametrize(
    ("proposed", "expected"),
    [(continuous("baclofen", "500 mcg/mL", "400 mcg/day"), ALLOWED),
     (stopped("baclofen", "500 mcg/mL"), WARNING),
     (minimum("baclofen", "500 mcg/mL"), WARNING),
     (single("baclofen", "500 mcg/mL", "50 mcg", "1 h"), WARNING),
     (continuous("clonidine", "100 mcg/mL", "100 mcg/day"), WARNING)],
)  # fmt: skip
def test_ending_baclofen_therapy_warns_of_life_threatening_withdrawal(
    proposed: Prescription, expected: Outcome
) -> None:
    verdict = judge(proposed, Rule.WITHDRAWAL_RISK, current=BACLOFEN_NOW)
    assert verdict is not None and verdict.outcome is expected
    assert verdict.source == "S59"


def test_stopping_an_already_stopped_baclofen_pump_is_not_a_new_withdrawal() -> None:
    current = stopped("baclofen", "500 mcg/mL")
    assert (
        outcome(stopped("baclofen", "500 mcg/mL"), Rule.WITHDRAWAL_RISK, current=current) is ALLOWED
    )


def test_drugs_without_a_withdrawal_hazard_give_no_withdrawal_verdict() -> None:
    assert (
        judge(stopped("morphine", "10 mg/mL"), Rule.WITHDRAWAL_RISK, current=MORPHINE_NOW) is None
    )


# --- the evaluation as a whole ------------------------------------------------------


def test_the_firmware_recheck_runs_only_the_history_free_rules() -> None:
    rx = continuous("hydromorphone", "2 mg/mL", "1 mg/day")
    evaluation = evaluate_hard_limits(rx, LIBRARY, PUMP)
    assert {verdict.rule for verdict in evaluation.verdicts} <= HARD_LIMIT_RULES
    assert evaluation.verdict(Rule.DAILY_DOSE) is not None


def test_confirming_needs_a_reason_for_every_warning_and_no_refusal() -> None:
    evaluation = evaluate(HYDRO, LIBRARY, Context(pump=PUMP))
    assert not confirm(evaluation, {}).confirmed
    assert confirm(evaluation, {}).missing_reasons == (Rule.OFF_LABEL,)
    assert not confirm(evaluation, {"off_label": "   "}).confirmed
    done = confirm(evaluation, {Rule.OFF_LABEL: "failed morphine, consent recorded"})
    assert done.confirmed and done.overrides == {
        Rule.OFF_LABEL: "failed morphine, consent recorded"
    }


def test_a_refusal_cannot_be_confirmed_with_any_reason() -> None:
    current = continuous("morphine", "10 mg/mL", "0.5 mg/day")
    evaluation = evaluate(morphine("12 mg/day"), LIBRARY, Context(current, pump=PUMP))
    reasons = {rule: "because" for rule in Rule}
    result = confirm(evaluation, reasons)
    assert not result.confirmed
    assert "refused by tenfold_change" in result.explain()
