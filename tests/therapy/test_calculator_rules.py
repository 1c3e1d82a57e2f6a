"""The rules the calculators own beyond their formulas: which catheter and pump values to
use, where a priming rate comes from, what the old and new solutions of a change are, what
a refill is planned for, and how a rate is held to the drug library. Missing or doubly given
inputs are typed (`InputProblem`), so every front end can word them with its own names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.therapy.calculators import (
    CalculatorInputError,
    InputProblem,
    MissingOrConflictingInput,
)
from thecal.therapy.calculators.bridge import bridge_bolus, bridge_for_change, solution_change
from thecal.therapy.calculators.fluid_path import GIVEN, fluid_path
from thecal.therapy.calculators.prescribed import programmed_dose_rate, pump_minimum_rate
from thecal.therapy.calculators.priming import priming_bolus, priming_for_path, priming_rate
from thecal.therapy.calculators.rate import rate_for_drug
from thecal.therapy.calculators.refill import refill_forecast
from thecal.therapy.calculators.titration_plan import titration_plan
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.library import default_library
from thecal.therapy.limits import Classification
from thecal.therapy.pump_models import find_catheter_model
from thecal.therapy.quantities import DoseRate, Volume, VolumeRate
from thecal.therapy.units import parse_concentration, parse_dose_rate, parse_volume

from .builders import PUMP, T0, continuous, minimum, patient

LIBRARY = default_library()
CATHETER = find_catheter_model("prometra-110")
TWENTY, TWO = Volume.from_ml(20), Volume.from_ml(2)


def problem(kind: InputProblem) -> Any:
    """Expect the calculator to say which inputs are missing or given twice, by type."""
    return pytest.raises(MissingOrConflictingInput, check=lambda e: e.problem_kind is kind)


# --- the fluid path (priming and bridge) ------------------------------------------------


def test_a_trimmed_catheter_takes_its_full_length_and_volume_from_the_catheter_model() -> None:
    path = fluid_path(trimmed_length_cm=Fraction(30), catheter=CATHETER, pump=PUMP)
    assert path.implanted_length_cm == CATHETER.length_cm.value - 30
    assert path.volume_per_cm == CATHETER.volume_per_cm.value
    assert path.tubing_volume == PUMP.tubing_volume.value
    assert path.provenance == {
        "catheter_length": f"{CATHETER.id}: {CATHETER.length_cm.provenance}",
        "implanted_length": "catheter length − trimmed length",
        "catheter_volume_per_cm": f"{CATHETER.id}: {CATHETER.volume_per_cm.provenance}",
        "tubing_volume": f"{PUMP.id}: {PUMP.tubing_volume.provenance}",
    }


def test_a_value_typed_in_wins_over_the_models_and_is_marked_given() -> None:
    per_cm, tubing = parse_volume("0.003 mL"), parse_volume("0.2 mL")
    path = fluid_path(
        implanted_length_cm=Fraction(50),
        catheter_length_cm=Fraction(100),
        catheter=CATHETER,
        volume_per_cm=per_cm,
        tubing_volume=tubing,
        pump=PUMP,
    )
    assert (path.volume_per_cm, path.tubing_volume, path.maximum_length_cm) == (
        per_cm,
        tubing,
        Fraction(100),
    )
    assert set(path.provenance.values()) == {GIVEN}


@pytest.mark.parametrize(
    ("inputs", "kind"),
    [
        (
            {"implanted_length_cm": Fraction(80), "trimmed_length_cm": Fraction(30)},
            InputProblem.BOTH_LENGTHS,
        ),
        ({"trimmed_length_cm": Fraction(30)}, InputProblem.TRIMMED_NEEDS_CATHETER_LENGTH),
        ({"catheter": CATHETER, "pump": PUMP}, InputProblem.NO_IMPLANTED_LENGTH),
        ({"implanted_length_cm": Fraction(80), "pump": PUMP}, InputProblem.NO_VOLUME_PER_CM),
        ({"implanted_length_cm": Fraction(80), "catheter": CATHETER},
         InputProblem.NO_TUBING_VOLUME),
    ],
    ids=lambda value: value.value if isinstance(value, InputProblem) else "",
)  # fmt: skip
def test_a_fluid_path_with_a_value_missing_or_given_twice_says_which(
    inputs: dict[str, Any], kind: InputProblem
) -> None:
    with problem(kind):
        fluid_path(**inputs)


@pytest.mark.parametrize(
    ("implanted", "refused"),
    [(CATHETER.length_cm.value - 1, False), (CATHETER.length_cm.value, False),
     (CATHETER.length_cm.value + 1, True), (Fraction(0), True)],
)  # fmt: skip
def test_an_implanted_length_is_held_to_the_whole_catheter(
    implanted: Fraction, refused: bool
) -> None:
    def build() -> object:
        return fluid_path(implanted_length_cm=implanted, catheter=CATHETER, pump=PUMP)

    if refused:
        with pytest.raises(CalculatorInputError, match=r"^implanted_length: "):
            build()
    else:
        assert build() is not None


@given(st.integers(1, 110), st.integers(1, 10_000), st.integers(0, 1_000))
@settings(max_examples=60)
def test_the_bridge_pushes_out_exactly_what_the_priming_bolus_filled(
    length: int, per_cm_nl: int, tubing_ul: int
) -> None:
    path = fluid_path(
        implanted_length_cm=Fraction(length),
        volume_per_cm=Volume(Fraction(per_cm_nl, 1_000_000)),
        tubing_volume=Volume(Fraction(tubing_ul, 1000)),
    )
    assert path.dead_volume == priming_for_path(path).volume
    assert path.dead_volume == path.catheter_volume + path.tubing_volume


# --- the priming rate ---------------------------------------------------------------


def test_a_given_priming_rate_wins_over_the_pumps_bolus_rate() -> None:
    given_rate = VolumeRate.from_ml_per_day(12)
    chosen = priming_rate(given_rate, PUMP)
    assert chosen is not None and (chosen.rate, chosen.source) == (given_rate, GIVEN)


def test_without_a_given_rate_the_pump_primes_at_its_highest_bolus_rate_and_says_so() -> None:
    chosen = priming_rate(None, PUMP)
    assert chosen is not None and chosen.rate == PUMP.max_bolus_volume_rate.value
    assert PUMP.id in chosen.source and PUMP.max_bolus_volume_rate.provenance in chosen.source


def test_without_a_rate_or_a_pump_only_the_priming_volume_is_known() -> None:
    path = fluid_path(implanted_length_cm=Fraction(80), catheter=CATHETER, pump=PUMP)
    result = priming_for_path(path, priming_rate(None, None))
    assert result.duration is None and result.rate_source is None
    timed = priming_for_path(path, priming_rate(None, PUMP))
    assert timed.duration == timed.volume / PUMP.max_bolus_volume_rate.value


def test_the_priming_bolus_of_a_path_is_the_priming_formula() -> None:
    path = fluid_path(trimmed_length_cm=Fraction(30), catheter=CATHETER, pump=PUMP)
    rate = priming_rate(None, PUMP)
    assert rate is not None
    direct = priming_bolus(
        path.implanted_length_cm, path.volume_per_cm, path.tubing_volume, rate.rate
    )
    assert priming_for_path(path, rate).volume == direct.volume


# --- what a prescription gives a calculator -------------------------------------------


def test_a_minimum_rate_prescription_without_a_pump_cannot_be_calculated() -> None:
    with problem(InputProblem.MINIMUM_RATE_NEEDS_PUMP):
        pump_minimum_rate(minimum("baclofen", "500 mcg/mL"), None)
    assert pump_minimum_rate(minimum("baclofen", "500 mcg/mL"), PUMP) == PUMP.minimum_rate.value
    assert pump_minimum_rate(continuous("baclofen", "500 mcg/mL", "100 mcg/day"), None) is None


def test_a_minimum_rate_prescription_delivers_the_pumps_minimum_rate() -> None:
    rx = minimum("baclofen", "500 mcg/mL")
    expected = PUMP.minimum_rate.value.to_dose_rate(rx.concentration)
    assert programmed_dose_rate(rx, PUMP) == expected


# --- the solution change and its bridge ---------------------------------------------


def test_the_old_solution_of_a_running_prescription_is_its_programmed_daily_dose() -> None:
    current = continuous(
        "lioresal", "500 mcg/mL", "400 mcg/day", patient("25 mcg", "1 h", "4 h", 4)
    )
    change = solution_change(LIBRARY, current=current, new_concentration=parse_concentration(
        "2000 mcg/mL"))  # fmt: skip
    assert change.old_daily_dose == DoseRate(programmed_daily_dose(current).amount)
    assert change.old_concentration == current.concentration
    assert change.drug is LIBRARY.get("baclofen")  # found by its brand name
    assert change.new_drug is change.drug and not change.drug_changed


def test_a_new_prescription_of_another_drug_is_a_drug_change() -> None:
    change = solution_change(
        LIBRARY,
        current=continuous("baclofen", "500 mcg/mL", "400 mcg/day"),
        new=continuous("morphine", "10 mg/mL", "1 mg/day"),
    )
    assert change.new_drug is LIBRARY.get("morphine") and change.drug_changed
    assert change.new_concentration == parse_concentration("10 mg/mL")


def test_a_given_drug_names_a_solution_the_prescriptions_do_not() -> None:
    baclofen = LIBRARY.get("baclofen")
    change = solution_change(
        LIBRARY,
        old_daily_dose=parse_dose_rate("400 mcg/day"),
        old_concentration=parse_concentration("500 mcg/mL"),
        drug=baclofen,
    )
    assert change.drug is baclofen and change.new_drug is baclofen
    assert change.new_concentration is None


DOSE, STRENGTH = parse_dose_rate("400 mcg/day"), parse_concentration("500 mcg/mL")
RUNNING = continuous("baclofen", "500 mcg/mL", "400 mcg/day")


@pytest.mark.parametrize(
    ("inputs", "kind"),
    [
        ({"current": RUNNING, "old_daily_dose": DOSE}, InputProblem.BOTH_OLD_SOLUTIONS),
        ({"current": RUNNING, "old_concentration": STRENGTH}, InputProblem.BOTH_OLD_SOLUTIONS),
        ({}, InputProblem.NO_OLD_SOLUTION),
        ({"old_daily_dose": DOSE}, InputProblem.NO_OLD_SOLUTION),
        ({"old_concentration": STRENGTH}, InputProblem.NO_OLD_SOLUTION),
        ({"current": RUNNING, "new": RUNNING, "new_concentration": STRENGTH},
         InputProblem.BOTH_NEW_SOLUTIONS),
        ({"current": minimum("baclofen", "500 mcg/mL")}, InputProblem.MINIMUM_RATE_NEEDS_PUMP),
    ],
    ids=lambda value: value.value if isinstance(value, InputProblem) else "",
)  # fmt: skip
def test_a_solution_change_with_a_solution_missing_or_given_twice_says_which(
    inputs: dict[str, Any], kind: InputProblem
) -> None:
    with problem(kind):
        solution_change(LIBRARY, **inputs)


def _bridge_at(volume_rate: VolumeRate) -> Any:
    """A bridge whose rate is exactly `volume_rate` (old dose = rate × concentration)."""
    change = solution_change(
        LIBRARY, old_daily_dose=volume_rate.to_dose_rate(STRENGTH), old_concentration=STRENGTH
    )
    return bridge_for_change(change, Volume.from_ml(Fraction(3, 10)), PUMP)


FLOOR = PUMP.min_volume_rate.value


@pytest.mark.parametrize(
    ("rate", "classification"),
    [
        (FLOOR * Fraction(1, 2), Classification.HARD_EXCEEDED),
        (FLOOR, Classification.WITHIN),
        (FLOOR * 2, Classification.WITHIN),
    ],
    ids=["below the floor", "at the floor", "above the floor"],
)
def test_the_bridge_rate_is_held_to_the_lowest_rate_the_pump_can_run(
    rate: VolumeRate, classification: Classification
) -> None:
    bridge = _bridge_at(rate)
    assert bridge.rate_floor is not None
    assert bridge.rate_floor.classification is classification
    assert bridge.rate_floor.bound.value == FLOOR
    assert any("below the lowest rate" in w for w in bridge.warnings) is (
        classification is Classification.HARD_EXCEEDED
    )


def test_without_a_pump_model_the_bridge_rate_is_not_held_to_a_floor() -> None:
    change = solution_change(LIBRARY, old_daily_dose=DOSE, old_concentration=STRENGTH)
    assert bridge_for_change(change, Volume.from_ml(1)).rate_floor is None


def test_a_drug_change_warns_that_the_old_drug_keeps_arriving_for_the_whole_bridge() -> None:
    change = solution_change(
        LIBRARY, current=RUNNING, new=continuous("morphine", "10 mg/mL", "1 mg/day")
    )
    bridge = bridge_for_change(change, Volume.from_ml(Fraction(35, 100)), PUMP)
    assert bridge.bolus == bridge_bolus(
        change.old_daily_dose, change.old_concentration, bridge.bolus.dead_volume,
        change.new_concentration,
    )  # fmt: skip
    assert any(w.startswith("drug change: baclofen keeps reaching") for w in bridge.warnings)


# --- the refill forecast --------------------------------------------------------------


def test_a_refill_from_a_prescription_is_planned_for_its_drug_and_concentration() -> None:
    rx = continuous("baclofen", "2000 mcg/mL", "200 mcg/day")
    forecast = refill_forecast(LIBRARY, TWENTY, TWO, T0, prescription=rx)
    drug = LIBRARY.get("baclofen")
    assert forecast.drug is drug
    assert forecast.plan.stability == drug.refill_limit(rx.concentration, False)
    assert forecast.patient_boluses_counted is None


def test_a_drug_named_by_its_brand_is_the_prescriptions_drug() -> None:
    rx = continuous("lioresal", "2000 mcg/mL", "200 mcg/day")
    baclofen = LIBRARY.get("baclofen")
    forecast = refill_forecast(LIBRARY, TWENTY, TWO, T0, prescription=rx, drug=baclofen,
                               concentration=rx.concentration)  # fmt: skip
    assert forecast.drug is baclofen


@pytest.mark.parametrize(
    ("inputs", "kind"),
    [
        ({"prescription": continuous("morphine", "10 mg/mL", "1 mg/day"),
          "drug": LIBRARY.get("baclofen")}, InputProblem.DRUG_DIFFERS),
        ({"prescription": continuous("morphine", "10 mg/mL", "1 mg/day"),
          "concentration": parse_concentration("25 mg/mL")}, InputProblem.CONCENTRATION_DIFFERS),
        ({"volume_rate": VolumeRate.from_ml_per_day(1), "drug": LIBRARY.get("baclofen")},
         InputProblem.DRUG_WITHOUT_CONCENTRATION),
        ({"volume_rate": VolumeRate.from_ml_per_day(1),
          "concentration": parse_concentration("500 mcg/mL")},
         InputProblem.DRUG_WITHOUT_CONCENTRATION),
        ({"prescription": minimum("baclofen", "500 mcg/mL")}, InputProblem.MINIMUM_RATE_NEEDS_PUMP),
    ],
    ids=lambda value: value.value if isinstance(value, InputProblem) else "",
)  # fmt: skip
def test_a_refill_whose_inputs_disagree_says_which(
    inputs: dict[str, Any], kind: InputProblem
) -> None:
    with problem(kind):
        refill_forecast(LIBRARY, TWENTY, TWO, T0, **inputs)


def test_a_drug_outside_the_library_is_planned_without_a_stability_limit_and_says_so() -> None:
    rx = continuous("unobtainium", "1 mg/mL", "1 mg/day")
    forecast = refill_forecast(LIBRARY, TWENTY, TWO, T0, prescription=rx)
    assert forecast.drug is None and forecast.plan.stability is None
    assert any("unobtainium is not in the library" in note for note in forecast.notes)


def test_without_a_drug_the_refill_date_is_not_capped_by_stability() -> None:
    forecast = refill_forecast(LIBRARY, TWENTY, TWO, T0, volume_rate=VolumeRate.from_ml_per_day(1))
    assert forecast.plan.stability is None and forecast.drug is None
    assert forecast.projection.limited_by is not None
    assert forecast.projection.limited_by.value == "alarm"


@pytest.mark.parametrize("counted", [True, False])
def test_a_forecast_says_whether_patient_boluses_were_counted(counted: bool) -> None:
    rx = continuous("morphine", "10 mg/mL", "4 mg/day", patient("0.2 mg", "10 min", "6 h", 4))
    forecast = refill_forecast(
        LIBRARY, TWENTY, TWO, T0, prescription=rx, include_patient_boluses=counted
    )
    assert forecast.patient_boluses_counted is counted
    assert forecast.projection.includes_patient_boluses is counted


def test_a_forecast_takes_one_source_of_volume() -> None:
    rx = continuous("morphine", "10 mg/mL", "4 mg/day")
    with pytest.raises(TypeError):
        refill_forecast(LIBRARY, TWENTY, TWO, T0)
    with pytest.raises(TypeError):
        refill_forecast(
            LIBRARY, TWENTY, TWO, T0, prescription=rx, volume_rate=VolumeRate.from_ml_per_day(1)
        )


# --- a rate held to the drug library ---------------------------------------------------

MORPHINE = LIBRARY.get("morphine")
SOFT, HARD = MORPHINE.daily_dose_soft_max.value, MORPHINE.daily_dose_hard_max.value
MICRO = DoseRate(Fraction(1, 1000))


@pytest.mark.parametrize(
    ("dose", "classification"),
    [(SOFT, Classification.WITHIN), (SOFT + MICRO, Classification.SOFT_EXCEEDED),
     (HARD, Classification.SOFT_EXCEEDED), (HARD + MICRO, Classification.HARD_EXCEEDED)],
    ids=["at the soft maximum", "just above it", "at the hard maximum", "just above it"],
)  # fmt: skip
def test_a_rate_is_held_to_the_drugs_daily_dose_limit(
    dose: DoseRate, classification: Classification
) -> None:
    result = rate_for_drug(MORPHINE, parse_concentration("10 mg/mL"), dose)
    assert result.daily_dose.classification is classification
    warned = any("daily limit" in warning for warning in result.warnings)
    assert warned is (classification is not Classification.WITHIN)


def test_the_daily_dose_of_a_reverse_conversion_is_held_to_the_limit_too() -> None:
    strength = parse_concentration("25 mg/mL")
    volume = (HARD + MICRO).to_volume_rate(strength)
    result = rate_for_drug(MORPHINE, strength, volume_rate=volume)
    assert result.daily_dose.classification is Classification.HARD_EXCEEDED


@pytest.mark.parametrize(("strength", "listed"), [("10 mg/mL", True), ("1 mg/mL", False)])
def test_a_concentration_the_library_does_not_offer_is_a_warning(
    strength: str, listed: bool
) -> None:
    result = rate_for_drug(MORPHINE, parse_concentration(strength), parse_dose_rate("1 mg/day"))
    assert result.listed is listed
    assert any("not a library concentration" in w for w in result.warnings) is not listed


@pytest.mark.parametrize(
    "call",
    [
        lambda: rate_for_drug(MORPHINE, parse_concentration("10 mg/mL")),
        lambda: rate_for_drug(MORPHINE, parse_concentration("10 mg/mL"), SOFT,
                              SOFT.to_volume_rate(parse_concentration("10 mg/mL"))),
    ],
    ids=["neither", "both"],
)  # fmt: skip
def test_a_rate_converts_exactly_one_way(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        call()


# --- dated titration steps ----------------------------------------------------------


def test_each_titration_step_is_dated_from_the_start_of_the_plan() -> None:
    plan = titration_plan(LIBRARY.get("ziconotide"))
    assert [step.at(T0) for step in plan.steps] == [
        T0 + timedelta(seconds=int(step.after.seconds)) for step in plan.steps
    ]
