"""The refill rules (`thecal.therapy.refill`): capacity, the prescribed solution, what the
reservoir should hold, and the one reconciliation every layer calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.therapy.builders import PUMP, continuous, patient
from thecal.therapy.calculators.data import DataFileError, read_packaged
from thecal.therapy.library import default_library
from thecal.therapy.pump_models import find_pump_model, pump_models
from thecal.therapy.quantities import Volume
from thecal.therapy.refill import (
    AnchorKind,
    DeliveryPeriod,
    Discrepancy,
    DryEvidence,
    ExpectationBasis,
    InterruptionRisk,
    RecordedBolus,
    RefillVolume,
    ReservoirAnchor,
    Solution,
    SolutionMismatch,
    ToleranceBound,
    VolumeRule,
    check_refill_volumes,
    check_solution,
    drug_identity,
    expect_from_deliveries,
    expect_from_pump,
    interruption_risk,
    likely_causes,
    parse_refill_rules,
    reconcile,
    refill_rules,
    same_drug,
    time_moved,
    volume_moved,
)
from thecal.therapy.units import parse_concentration

LIBRARY = default_library()
T0 = datetime(2026, 3, 2, 8, 0)  # the pump's clock
BACLOFEN = LIBRARY.get("baclofen")
MORPHINE = LIBRARY.get("morphine")
ONE_ML_A_DAY_BACLOFEN = continuous("baclofen", "500 mcg/mL", "500 mcg/day")
# 1 mL/day of morphine 10 mg/mL; the patient may take 4 boluses of 0.1 mL a day.
MORPHINE_WITH_BOLUSES = continuous(
    "morphine", "10 mg/mL", "10 mg/day", patient("1 mg", "10 min", "6 h", 4)
)


def ml(text: str) -> Volume:
    return Volume.from_ml(text)


def days(n: float | str) -> timedelta:
    return timedelta(days=float(n))


# -- capacity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aspirated", "fill", "refused"),
    [
        ("20", "20", ()),  # exactly the capacity: accepted
        ("0", "0.001", ()),
        ("20.001", "20", ((RefillVolume.ASPIRATED, VolumeRule.OVER_CAPACITY),)),
        ("25", "20", ((RefillVolume.ASPIRATED, VolumeRule.OVER_CAPACITY),)),
        ("3", "20.001", ((RefillVolume.FILL, VolumeRule.OVER_CAPACITY),)),
        ("3", "0", ((RefillVolume.FILL, VolumeRule.EMPTY_FILL),)),
        ("-0.1", "20", ((RefillVolume.ASPIRATED, VolumeRule.NEGATIVE),)),
        (
            "21",
            "22",
            (
                (RefillVolume.ASPIRATED, VolumeRule.OVER_CAPACITY),
                (RefillVolume.FILL, VolumeRule.OVER_CAPACITY),
            ),
        ),
    ],
)
def test_an_aspirate_or_fill_above_the_reservoir_capacity_is_refused(
    aspirated: str, fill: str, refused: tuple[tuple[RefillVolume, VolumeRule], ...]
) -> None:
    refusals = check_refill_volumes(ml("20"), ml(fill), ml(aspirated))
    assert tuple((r.volume, r.rule) for r in refusals) == refused


def test_a_capacity_refusal_names_the_value_and_the_bound() -> None:
    (refusal,) = check_refill_volumes(ml("20"), ml("20"), ml("25"))
    assert (refusal.value, refusal.bound) == (ml("25"), ml("20"))
    assert "25 mL" in refusal.message and "20 mL" in refusal.message
    assert refusal.accepted == "from 0 mL to at most 20 mL"


def test_the_pump_may_register_a_reservoir_emptied_on_purpose() -> None:
    assert check_refill_volumes(ml("20"), ml("0"), ml("5"), fill_may_be_empty=True) == ()


# -- the prescribed solution ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("lioresal", "baclofen", True),
        (" Lioresal ", "BACLOFEN", True),
        ("gablofen", "lioresal", True),
        ("Infumorph", "morphine sulfate", True),
        ("prialt", "ziconotide", True),
        ("morphine", "hydromorphone", False),
        ("baclofen", "clonidine", False),
        ("Compounded-X ", "compounded-x", True),  # unknown to the library: as written
        ("compounded-x", "compounded-y", False),
    ],
)
def test_a_drug_is_the_same_by_its_library_name_or_alias_in_any_case(
    first: str, second: str, same: bool
) -> None:
    assert same_drug(LIBRARY, first, second) is same


def test_an_alias_stands_for_the_library_id() -> None:
    assert drug_identity(LIBRARY, "  LIORESAL") == "baclofen"


@pytest.mark.parametrize(
    ("given_drug", "given_concentration", "mismatches"),
    [
        ("lioresal", "500 mcg/mL", ()),
        ("baclofen", "0.5 mg/mL", ()),  # the same concentration in another unit
        ("baclofen", "2000 mcg/mL", (SolutionMismatch.CONCENTRATION,)),
        ("baclofen", "500.001 mcg/mL", (SolutionMismatch.CONCENTRATION,)),
        ("morphine", "500 mcg/mL", (SolutionMismatch.DRUG,)),
        ("morphine", "10 mg/mL", (SolutionMismatch.DRUG, SolutionMismatch.CONCENTRATION)),
    ],
)
def test_a_solution_matches_the_prescription_by_drug_identity_and_exact_concentration(
    given_drug: str, given_concentration: str, mismatches: tuple[SolutionMismatch, ...]
) -> None:
    expected = Solution("baclofen", parse_concentration("500 mcg/mL"))
    check = check_solution(
        LIBRARY, expected, Solution(given_drug, parse_concentration(given_concentration))
    )
    assert check.mismatches == mismatches
    assert check.matches is (not mismatches)


# -- what the reservoir should hold --------------------------------------------------------


def baclofen_expectation(after: timedelta, fill: str = "20"):  # type: ignore[no-untyped-def]
    return expect_from_deliveries(
        ReservoirAnchor(T0, ml(fill)),
        T0 + after,
        [DeliveryPeriod(T0, ONE_ML_A_DAY_BACLOFEN)],
        PUMP,
        None,
    )


def test_without_patient_boluses_the_expectation_is_programmed_delivery() -> None:
    expectation = baclofen_expectation(days(10))
    assert expectation.most_likely == ml("10")
    assert expectation.basis is ExpectationBasis.NO_PATIENT_BOLUSES
    assert expectation.unrecorded_allowance == Volume.zero()


def test_the_expected_volume_uses_the_boluses_the_pump_recorded() -> None:
    boluses = [RecordedBolus(T0 + days(2), ml("0.1")), RecordedBolus(T0 + days(6), ml("0.1"))]
    expectation = expect_from_deliveries(
        ReservoirAnchor(T0, ml("20")),
        T0 + days(10),
        [DeliveryPeriod(T0, MORPHINE_WITH_BOLUSES)],
        PUMP,
        None,
        recorded_boluses=boluses,
    )
    assert expectation.basis is ExpectationBasis.PUMP_RECORD
    assert expectation.most_likely == ml("9.8")
    assert expectation.unrecorded_allowance == Volume.zero()


def test_without_a_record_every_allowed_bolus_widens_the_expectation() -> None:
    expectation = expect_from_deliveries(
        ReservoirAnchor(T0, ml("20")),
        T0 + days(10),
        [DeliveryPeriod(T0, MORPHINE_WITH_BOLUSES)],
        PUMP,
        None,
    )
    assert expectation.basis is ExpectationBasis.ALLOWED_BOLUSES
    assert expectation.most_likely == ml("10")
    assert expectation.unrecorded_allowance == ml("4")  # 4 × 0.1 mL a day for 10 days


def test_a_two_millilitre_loss_is_seen_with_the_pump_record_and_hidden_by_the_worst_case() -> None:
    anchor = ReservoirAnchor(T0, ml("20"))
    periods = [DeliveryPeriod(T0, MORPHINE_WITH_BOLUSES)]
    recorded = expect_from_deliveries(
        anchor, T0 + days(10), periods, PUMP, None, [RecordedBolus(T0 + days(1), ml("0.1"))]
    )
    worst = expect_from_deliveries(anchor, T0 + days(10), periods, PUMP, None)
    aspirated = ml("7.9")  # 9.9 mL expected from the record: 2 mL are missing
    with_record = reconcile(recorded, aspirated, PUMP, MORPHINE)
    without = reconcile(worst, aspirated, PUMP, MORPHINE)
    assert with_record.discrepancy is Discrepancy.LESS_THAN_EXPECTED
    assert without.discrepancy is Discrepancy.NONE
    assert "no record of patient boluses" in without.message
    assert "4 mL cannot be told from boluses" in without.message


def test_a_pump_estimate_anchor_keeps_the_accuracy_band_of_the_whole_fill() -> None:
    expectation = expect_from_deliveries(
        ReservoirAnchor(T0 + days(8), ml("12"), AnchorKind.PUMP_ESTIMATE),
        T0 + days(10),
        [DeliveryPeriod(T0, ONE_ML_A_DAY_BACLOFEN)],
        PUMP,
        None,
        last_fill=ReservoirAnchor(T0, ml("20")),
    )
    assert expectation.most_likely == ml("10")
    assert expectation.delivered == ml("10")  # since the 20 mL fill, not since the reading


def test_the_time_a_volume_is_moved_follows_each_prescription_in_turn() -> None:
    faster = continuous("baclofen", "500 mcg/mL", "1000 mcg/day")  # 2 mL/day
    periods = [DeliveryPeriod(T0, ONE_ML_A_DAY_BACLOFEN), DeliveryPeriod(T0 + days(5), faster)]
    # 5 mL in the first 5 days, the other 15 mL at 2 mL/day: 7.5 days more.
    assert time_moved(T0, ml("20"), periods, PUMP, None, False) == T0 + days("12.5")


@given(st.fractions(min_value=Fraction(1, 1000), max_value=60, max_denominator=1000))
def test_the_volume_moved_by_the_time_moved_is_that_volume_to_the_microsecond(
    volume: Fraction,
) -> None:
    faster = continuous("baclofen", "500 mcg/mL", "1000 mcg/day")
    periods = [DeliveryPeriod(T0, ONE_ML_A_DAY_BACLOFEN), DeliveryPeriod(T0 + days(5), faster)]
    moment = time_moved(T0, Volume(volume), periods, PUMP, None, False)
    assert moment is not None
    moved = volume_moved(T0, moment, periods, PUMP, None, False).amount
    one_microsecond_at_2_ml_a_day = Fraction(2, 86_400_000_000)
    assert 0 <= volume - moved < one_microsecond_at_2_ml_a_day


def test_aware_times_are_aligned_to_the_pump_local_day() -> None:
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    expectation = expect_from_deliveries(
        ReservoirAnchor(start, ml("20")),
        start + days(10),
        [DeliveryPeriod(start, ONE_ML_A_DAY_BACLOFEN)],
        PUMP,
        ZoneInfo("Europe/Berlin"),
    )
    assert expectation.most_likely == ml("10")


# -- reconciliation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered_days", "tolerance", "bound"),
    [
        (10, "1", ToleranceBound.MODEL_LIMIT),  # 14.5 % of 10 mL = 1.45 mL, above 1 mL
        (4, "0.58", ToleranceBound.ACCURACY),  # 14.5 % of 4 mL
        (2, "0.5", ToleranceBound.READING),  # 0.29 mL is below the reading tolerance
    ],
)
def test_the_tolerance_is_the_smaller_of_accuracy_and_model_limit_never_below_reading(
    delivered_days: int, tolerance: str, bound: ToleranceBound
) -> None:
    expectation = baclofen_expectation(days(delivered_days))
    outcome = reconcile(expectation, expectation.most_likely, PUMP, BACLOFEN)
    assert (outcome.tolerance, outcome.tolerance_bound) == (ml(tolerance), bound)


@pytest.mark.parametrize(
    ("aspirated", "discrepancy"),
    [
        ("10", Discrepancy.NONE),
        ("9", Discrepancy.NONE),  # exactly the lower bound (10 − 1 mL)
        ("11", Discrepancy.NONE),  # exactly the upper bound
        ("8.999", Discrepancy.LESS_THAN_EXPECTED),
        ("11.001", Discrepancy.MORE_THAN_EXPECTED),
    ],
)
def test_an_aspirate_outside_the_tolerance_is_a_discrepancy(
    aspirated: str, discrepancy: Discrepancy
) -> None:
    outcome = reconcile(baclofen_expectation(days(10)), ml(aspirated), PUMP, BACLOFEN)
    assert outcome.discrepancy is discrepancy
    assert outcome.flagged is (discrepancy is not Discrepancy.NONE)


def test_the_forty_millilitre_pump_allows_two_millilitres() -> None:
    big = find_pump_model("peristaltic-40")
    expectation = expect_from_deliveries(
        ReservoirAnchor(T0, ml("40")),
        T0 + days(30),
        [DeliveryPeriod(T0, ONE_ML_A_DAY_BACLOFEN)],
        big,
        None,
    )
    assert reconcile(expectation, ml("8"), big, BACLOFEN).discrepancy is Discrepancy.NONE
    assert reconcile(expectation, ml("7.99"), big).discrepancy is Discrepancy.LESS_THAN_EXPECTED


@pytest.mark.parametrize(
    ("aspirated", "empty"),
    [("0", True), ("0.2", True), ("0.5", True), ("0.501", False), ("0.7", False)],
)
def test_an_aspirate_of_nearly_nothing_is_an_empty_reservoir(aspirated: str, empty: bool) -> None:
    # 0.6 mL expected: every one of these is within the tolerance of the expectation.
    expectation = baclofen_expectation(days("19.4"))
    outcome = reconcile(expectation, ml(aspirated), PUMP, BACLOFEN)
    assert (outcome.discrepancy is Discrepancy.EMPTY_RESERVOIR) is empty


def test_a_reservoir_found_dry_is_flagged_even_when_it_was_expected_to_be_dry() -> None:
    outcome = reconcile(baclofen_expectation(days(25)), ml("0"), PUMP, BACLOFEN)
    assert outcome.discrepancy is Discrepancy.EMPTY_RESERVOIR
    assert outcome.flagged


def test_an_empty_reservoir_says_when_the_pump_most_likely_ran_dry() -> None:
    outcome = reconcile(baclofen_expectation(days(25)), ml("0"), PUMP, BACLOFEN)
    assert outcome.ran_dry is not None
    assert outcome.ran_dry.evidence is DryEvidence.EXPECTED
    assert outcome.ran_dry.most_likely_at == T0 + days(20)  # 20 mL at 1 mL/day
    assert "2026-03-22 08:00" in outcome.message


def test_an_empty_reservoir_has_no_delivery_error() -> None:
    # The old rule took the aspirate as what remained and found a delivery error.
    outcome = reconcile(baclofen_expectation(days(25)), ml("0"), PUMP, BACLOFEN)
    assert outcome.delivery_error is None


def test_the_delivery_error_compares_actual_with_expected_delivery() -> None:
    outcome = reconcile(baclofen_expectation(days(10)), ml("9.5"), PUMP, BACLOFEN)
    assert outcome.delivery_error == Fraction(1, 20)  # 10.5 mL delivered, 10 mL expected


@pytest.mark.parametrize(
    ("drug", "risk", "words"),
    [
        (BACLOFEN, InterruptionRisk.WITHDRAWAL_WATCH, "Withdrawal watch"),
        (MORPHINE, InterruptionRisk.RESTART_PRECAUTIONS, "Opioid restart precautions"),
        (LIBRARY.get("ziconotide"), InterruptionRisk.THERAPY_INTERRUPTED, "Therapy interrupted"),
        (None, InterruptionRisk.THERAPY_INTERRUPTED, "Therapy interrupted"),
    ],
)
def test_an_empty_reservoir_says_what_it_means_for_the_drug(drug, risk, words) -> None:  # type: ignore[no-untyped-def]
    outcome = reconcile(baclofen_expectation(days(25)), ml("0"), PUMP, drug)
    assert outcome.ran_dry is not None and outcome.ran_dry.risk is risk
    assert interruption_risk(drug) is risk
    assert words in outcome.message


def test_an_empty_reservoir_with_drug_expected_dates_from_the_last_fill() -> None:
    outcome = reconcile(baclofen_expectation(days(10)), ml("0"), PUMP, BACLOFEN)
    assert outcome.discrepancy is Discrepancy.EMPTY_RESERVOIR
    assert outcome.ran_dry is not None
    assert outcome.ran_dry.evidence is DryEvidence.UNEXPLAINED_LOSS
    assert outcome.ran_dry.most_likely_at == T0  # assume the longest interruption
    assert outcome.ran_dry.latest_at == T0 + days(10)


def test_an_unexplained_empty_reservoir_dates_from_the_fill_not_a_later_pump_estimate() -> None:
    expectation = expect_from_deliveries(
        ReservoirAnchor(T0 + days(8), ml("12"), AnchorKind.PUMP_ESTIMATE),
        T0 + days(10),
        [DeliveryPeriod(T0, ONE_ML_A_DAY_BACLOFEN)],
        PUMP,
        None,
        last_fill=ReservoirAnchor(T0, ml("20")),
    )
    outcome = reconcile(expectation, ml("0"), PUMP, BACLOFEN)
    assert outcome.ran_dry is not None and outcome.ran_dry.earliest_at == T0


def test_recorded_boluses_bring_the_dry_date_forward() -> None:
    expectation = expect_from_deliveries(
        ReservoirAnchor(T0, ml("20")),
        T0 + days(25),
        [DeliveryPeriod(T0, MORPHINE_WITH_BOLUSES)],
        PUMP,
        None,
        recorded_boluses=[RecordedBolus(T0 + days(5), ml("2"))],
    )
    outcome = reconcile(expectation, ml("0"), PUMP, MORPHINE)
    assert outcome.ran_dry is not None
    assert outcome.ran_dry.most_likely_at == T0 + days(18)


def test_the_pump_empty_alarm_dates_an_empty_reservoir() -> None:
    alarm = T0 + days(19)
    expectation = expect_from_pump(T0 + days(22), T0, ml("20"), ml("0.9"), empty_alarm_at=alarm)
    outcome = reconcile(expectation, ml("0.9"), PUMP, BACLOFEN)
    assert outcome.discrepancy is Discrepancy.EMPTY_RESERVOIR
    assert outcome.ran_dry is not None
    assert (outcome.ran_dry.evidence, outcome.ran_dry.most_likely_at) == (
        DryEvidence.PUMP_ALARM,
        alarm,
    )


def test_the_pump_estimate_is_the_pump_record() -> None:
    expectation = expect_from_pump(T0 + days(10), T0, ml("20"), ml("9.7"))
    assert expectation.basis is ExpectationBasis.PUMP_RECORD
    assert expectation.delivered == ml("10.3")


@pytest.mark.parametrize(
    ("discrepancy", "words"),
    [
        (Discrepancy.LESS_THAN_EXPECTED, "pocket fill"),
        (Discrepancy.MORE_THAN_EXPECTED, "occlusion"),
        (Discrepancy.EMPTY_RESERVOIR, "late or missed refill"),
    ],
)
def test_each_discrepancy_names_its_likely_causes(discrepancy: Discrepancy, words: str) -> None:
    assert any(words in cause for cause in likely_causes(discrepancy))
    assert likely_causes(Discrepancy.NONE) == ()


# -- the data ------------------------------------------------------------------------------


def test_every_refill_rule_value_is_sourced_or_a_labelled_site_default() -> None:
    rules = refill_rules()
    values = [rules.reading_tolerance, rules.nearly_empty]
    for guidance in rules.interruptions.values():
        values += [guidance.title, guidance.watch, guidance.signs, *guidance.actions]
    for value in values:
        assert value.site_default or value.source in rules.sources
    for model in pump_models():
        limit = model.refill_discrepancy_limit
        assert limit.source in ("MAINO17", "ASRA17")


def test_a_refill_rules_file_names_every_problem_at_once() -> None:
    text = read_packaged("refill_rules.toml")
    broken = text.replace('risk = "therapy_interrupted"', 'risk = "panic"').replace(
        'nearly_empty = { value = "0.5 mL", site_default = true,',
        'nearly_empty = { value = "half", site_default = true,',
    )
    with pytest.raises(DataFileError) as caught:
        parse_refill_rules(broken, "broken.toml")
    problems = " | ".join(caught.value.problems)
    assert "'panic' is not one of" in problems
    assert "no guidance for therapy_interrupted" in problems
    assert "nearly_empty" in problems
