"""Dosing calculators: exact formulas from sourced constants, clear refusals of bad input."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.therapy.calculators import CalculatorInputError
from thecal.therapy.calculators.baclofen_start import baclofen_start, baclofen_start_rule
from thecal.therapy.calculators.bridge import bridge_bolus, dead_volume
from thecal.therapy.calculators.data import DataFileError, read_packaged
from thecal.therapy.calculators.priming import (
    catheter_volume,
    implanted_length,
    mixing_warning,
    priming_bolus,
)
from thecal.therapy.calculators.rate import dose_rate_for, volume_rate_for
from thecal.therapy.calculators.refill import refill_date, stability_limit
from thecal.therapy.calculators.route_conversion import (
    Route,
    convert_dose,
    default_conversions,
    parse_conversions,
    parse_ratio,
    parse_route,
)
from thecal.therapy.calculators.titration_plan import titration_plan
from thecal.therapy.library import TitrationStep, default_library
from thecal.therapy.limits import Classification, Limit
from thecal.therapy.projection import RefillLimit, constant_pattern
from thecal.therapy.pump_models import find_catheter_model
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume
from thecal.therapy.sourced import Sourced
from thecal.therapy.units import (
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_mass,
    parse_volume,
    parse_volume_rate,
)

from .builders import PUMP, T0

LIBRARY = default_library()


def refused(field: str) -> pytest.RaisesContext[CalculatorInputError]:
    return pytest.raises(CalculatorInputError, match=rf"^{field}: .*; accepted: ")


# --- rate ----------------------------------------------------------------------------


def test_a_dose_rate_becomes_the_volume_rate_that_delivers_it() -> None:
    result = volume_rate_for(parse_dose_rate("4 mg/day"), parse_concentration("10 mg/mL"))
    assert result.volume_rate == parse_volume_rate("0.4 mL/day")


@given(
    st.integers(1, 10**7), st.sampled_from(["25 mcg/mL", "500 mcg/mL", "10 mg/mL", "1.5 mcg/mL"])
)
@settings(max_examples=100)
def test_dose_to_volume_and_back_is_exact(centi_mcg: int, strength: str) -> None:
    dose = DoseRate(Fraction(centi_mcg, 100))
    concentration = parse_concentration(strength)
    there = volume_rate_for(dose, concentration).volume_rate
    assert dose_rate_for(there, concentration).dose_rate == dose


def test_a_zero_concentration_is_refused_by_name() -> None:
    with refused("concentration"):
        volume_rate_for(parse_dose_rate("1 mg/day"), Concentration.zero())


# --- refill --------------------------------------------------------------------------


def test_a_refill_is_due_at_the_alarm_or_the_stability_limit_whichever_comes_first() -> None:
    ziconotide = LIBRARY.get("ziconotide")
    limit, _ = stability_limit(ziconotide, parse_concentration("25 mcg/mL"), first_fill=True)
    plan = refill_date(constant_pattern(parse_volume_rate("0.096 mL/day")), Volume.from_ml(20),
                       Volume.from_ml(2), T0, limit, PUMP)  # fmt: skip
    assert plan.projection.limited_by is RefillLimit.STABILITY
    assert plan.projection.refill_by == T0 + timedelta(days=14)


def test_an_overfill_is_refused_because_it_causes_over_infusion() -> None:
    with refused("reservoir"):
        refill_date(constant_pattern(parse_volume_rate("1 mL/day")), parse_volume("20.001 mL"),
                    Volume.from_ml(2), T0, None, PUMP)  # fmt: skip


def test_a_fill_of_exactly_the_reservoir_is_allowed() -> None:
    plan = refill_date(constant_pattern(parse_volume_rate("1 mL/day")), Volume.from_ml(20),
                       Volume.from_ml(2), T0, None, PUMP)  # fmt: skip
    assert plan.projection.days_to_low_alarm == 18


def test_an_empty_fill_is_refused() -> None:
    with refused("reservoir"):
        refill_date(constant_pattern(parse_volume_rate("1 mL/day")), Volume.zero(),
                    Volume.zero(), T0)  # fmt: skip


def test_a_fill_at_the_alarm_threshold_warns_that_the_alarm_sounds_at_once() -> None:
    plan = refill_date(constant_pattern(parse_volume_rate("1 mL/day")), Volume.from_ml(2),
                       Volume.from_ml(2), T0)  # fmt: skip
    assert any("sounds at once" in warning for warning in plan.warnings)


def test_a_concentration_outside_the_library_falls_back_to_the_drug_stability_and_says_so() -> None:
    limit, warnings = stability_limit(LIBRARY.get("baclofen"), parse_concentration("1000 mcg/mL"))
    assert limit.value == Duration.from_days(77)
    assert "not a library concentration" in warnings[0]


# --- priming -------------------------------------------------------------------------


def test_the_priming_volume_is_catheter_plus_tubing_volume() -> None:
    catheter = find_catheter_model("prometra-110")
    length = implanted_length(catheter.length_cm.value, Fraction(30))
    result = priming_bolus(length, catheter.volume_per_cm.value, PUMP.tubing_volume.value,
                           parse_volume_rate("24 mL/day"))  # fmt: skip
    assert result.catheter_volume == parse_volume("0.208 mL")  # 80 cm × 0.0026 mL/cm
    assert result.volume == parse_volume("0.348 mL")  # + 0.140 mL tubing
    assert result.duration == parse_duration("20.88 min")


def test_priming_always_warns_that_drug_arrives_before_the_bolus_ends() -> None:
    result = priming_bolus(Fraction(80), parse_volume("0.0026 mL"), parse_volume("0.14 mL"))
    assert result.duration is None
    assert result.warnings[0].endswith("(source S6)")
    assert mixing_warning().source == "S6"


@pytest.mark.parametrize(
    ("catheter", "trimmed", "field"),
    [(110, 110, "trimmed_length"), (110, 111, "trimmed_length"), (110, -1, "trimmed_length"),
     (0, 0, "catheter_length")],
)  # fmt: skip
def test_an_impossible_trim_is_refused_by_name(catheter: int, trimmed: int, field: str) -> None:
    with refused(field):
        implanted_length(Fraction(catheter), Fraction(trimmed))


def test_trimming_just_under_the_whole_catheter_leaves_a_little_implanted() -> None:
    assert implanted_length(Fraction(110), Fraction(10999, 100)) == Fraction(1, 100)


@pytest.mark.parametrize(
    ("call", "field"),
    [(lambda: catheter_volume(Volume.zero(), Fraction(80)), "catheter_volume_per_cm"),
     (lambda: catheter_volume(parse_volume("0.0026 mL"), Fraction(0)), "implanted_length"),
     (lambda: priming_bolus(Fraction(111), parse_volume("0.0026 mL"), Volume.zero(),
                            maximum_length_cm=Fraction(110)), "implanted_length"),
     (lambda: priming_bolus(Fraction(80), parse_volume("0.0026 mL"), Volume.from_ml(-1)),
      "tubing_volume"),
     (lambda: priming_bolus(Fraction(80), parse_volume("0.0026 mL"), Volume.zero(),
                            parse_volume_rate("0 mL/day")), "priming_rate")],
)  # fmt: skip
def test_bad_priming_inputs_are_refused_by_name(call: object, field: str) -> None:
    with refused(field):
        call()  # type: ignore[operator]


# --- bridge --------------------------------------------------------------------------


def test_the_bridge_keeps_the_old_daily_dose_until_the_new_solution_reaches_the_tip() -> None:
    result = bridge_bolus(parse_dose_rate("400 mcg/day"), parse_concentration("500 mcg/mL"),
                          parse_volume("0.348 mL"), parse_concentration("2000 mcg/mL"))  # fmt: skip
    assert result.volume_rate == parse_volume_rate("0.8 mL/day")
    assert result.duration == Duration.from_hours(Fraction("10.44"))
    assert result.old_drug_in_dead_volume == parse_mass("174 mcg")
    assert result.volume_rate.over(result.duration) == result.dead_volume
    assert result.entered_dose_rate == parse_dose_rate("1600 mcg/day")


@given(st.integers(1, 10**6), st.integers(1, 10**4), st.integers(1, 5000))
@settings(max_examples=100)
def test_the_bridge_delivers_exactly_the_old_daily_dose(
    dose: int, strength: int, dead: int
) -> None:
    old = DoseRate(Fraction(dose, 10))
    result = bridge_bolus(old, Concentration(Fraction(strength)), Volume(Fraction(dead, 1000)))
    assert result.volume_rate.to_dose_rate(result.old_concentration) == old
    assert old.over(result.duration) == result.old_drug_in_dead_volume


@pytest.mark.parametrize(
    ("dose", "strength", "dead", "new", "field"),
    [("0 mcg/day", "500 mcg/mL", "0.3 mL", None, "old_daily_dose"),
     ("400 mcg/day", "0 mcg/mL", "0.3 mL", None, "old_concentration"),
     ("400 mcg/day", "500 mcg/mL", "0 mL", None, "dead_volume"),
     ("400 mcg/day", "500 mcg/mL", "0.3 mL", "0 mcg/mL", "new_concentration")],
)  # fmt: skip
def test_bad_bridge_inputs_are_refused_by_name(
    dose: str, strength: str, dead: str, new: str | None, field: str
) -> None:
    with refused(field):
        bridge_bolus(parse_dose_rate(dose), parse_concentration(strength), parse_volume(dead),
                     parse_concentration(new) if new else None)  # fmt: skip


def test_the_dead_volume_is_tubing_plus_catheter() -> None:
    assert dead_volume(parse_volume("0.208 mL"), parse_volume("0.14 mL")) == parse_volume(
        "0.348 mL"
    )
    with refused("dead_volume"):
        dead_volume(Volume.from_ml(-1), Volume.zero())


# --- route conversion -------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose", "source", "target", "expected", "ratio"),
    [("300 mg/day", "oral", "intrathecal", "1 mg/day", 300),
     ("10 mg/day", "iv", "epidural", "1 mg/day", 10),
     ("10 mg/day", "iv", "intrathecal", "0.1 mg/day", 100),
     ("1 mg/day", "epidural", "intrathecal", "0.1 mg/day", 10),
     ("90 mg/day", "oral", "iv", "30 mg/day", 3),
     ("0.3 mg/day", "intrathecal", "oral", "90 mg/day", Fraction(1, 300))],
)  # fmt: skip
def test_default_ratios_follow_the_sourced_rule_of_thumb(
    dose: str, source: str, target: str, expected: str, ratio: Fraction
) -> None:
    result = convert_dose(parse_dose_rate(dose), Route(source), Route(target))
    assert result.converted == parse_dose_rate(expected)
    assert result.ratio == ratio


def test_a_conversion_is_rounded_down_to_the_target_routes_step() -> None:
    result = convert_dose(parse_dose_rate("100 mg/day"), Route.ORAL, Route.INTRATHECAL)
    assert result.exact == DoseRate(Fraction(1000, 3))
    assert result.converted == parse_dose_rate("0.33 mg/day")
    assert any("rounded down" in warning for warning in result.warnings)


@given(st.integers(1, 10**6), st.sampled_from(list(Route)), st.sampled_from(list(Route)))
@settings(max_examples=200)
def test_a_converted_dose_is_never_above_the_exact_conversion(
    centi_mg: int, source: Route, target: Route
) -> None:
    result = convert_dose(DoseRate(Fraction(centi_mg, 100) * 1000), source, target)
    assert result.converted <= result.exact
    assert result.exact - result.converted < result.rounding_step


def test_oral_to_intrathecal_warns_of_the_observed_10_to_125_range() -> None:
    for source, target in ((Route.ORAL, Route.INTRATHECAL), (Route.INTRATHECAL, Route.ORAL)):
        result = convert_dose(parse_dose_rate("30 mg/day"), source, target)
        assert any("from 10:1 to 125:1" in warning for warning in result.warnings)
    other = convert_dose(parse_dose_rate("30 mg/day"), Route.IV, Route.INTRATHECAL)
    assert not any("125:1" in warning for warning in other.warnings)


def test_a_given_ratio_overrides_the_table() -> None:
    result = convert_dose(parse_dose_rate("120 mg/day"), Route.ORAL, Route.INTRATHECAL,
                          ratio=parse_ratio("120:1"))  # fmt: skip
    assert result.converted == parse_dose_rate("1 mg/day")
    assert result.ratio_source == "given by the user"


@pytest.mark.parametrize(
    ("text", "value"), [("300:1", 300), ("1:300", Fraction(1, 300)), ("90", 90)]
)
def test_ratios_read_as_from_to(text: str, value: Fraction) -> None:
    assert parse_ratio(text) == value


@pytest.mark.parametrize("text", ["0:1", "1:0", "abc", "-3:1", ""])
def test_bad_ratios_are_refused_by_name(text: str) -> None:
    with refused("ratio"):
        parse_ratio(text)


ROUTE_NAMES = [("PO", Route.ORAL), ("IT", Route.INTRATHECAL), ("Intravenous", Route.IV),
               ("epidural", Route.EPIDURAL)]  # fmt: skip


@pytest.mark.parametrize(("name", "route"), ROUTE_NAMES)
def test_routes_are_read_by_name_or_alias(name: str, route: Route) -> None:
    assert parse_route(name) is route


def test_an_unknown_route_lists_the_accepted_ones() -> None:
    with pytest.raises(CalculatorInputError, match="accepted: oral"):
        parse_route("rectal")


def test_a_zero_dose_cannot_be_converted() -> None:
    with refused("dose"):
        convert_dose(DoseRate.zero(), Route.ORAL, Route.IV)


def test_every_default_ratio_is_sourced() -> None:
    table = default_conversions()
    for entry in table.routes.values():
        assert entry.equivalent.source in table.sources


def test_a_clinic_conversion_file_names_every_problem() -> None:
    text = read_packaged("conversions.toml")
    broken = (
        text.replace('value = "300", source = "S54"', 'value = "0", source = "S54"')
        .replace("[routes.epidural]", "[routes.rectal]")
        .replace('low = { value = "10", source = "S55" }', 'low = { value = "10", source = "S99" }')
    )
    with pytest.raises(DataFileError) as caught:
        parse_conversions(broken, "clinic.toml")
    joined = " | ".join(caught.value.problems)
    expectations = ("must be above zero", "routes.epidural: missing",
                    "unknown route(s) ['rectal']", "'S99' is not in [sources]")  # fmt: skip
    for expected in expectations:
        assert expected in joined


# --- baclofen start ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "daily"),
    [("8 h", "100 mcg/day"),  # not longer than 8 h: twice
     ("8.001 h", "50 mcg/day"),  # longer than 8 h: the screening dose
     ("4 h", "100 mcg/day"), ("12 h", "50 mcg/day")],
)  # fmt: skip
def test_baclofen_start_depends_on_an_effect_longer_than_8_hours(effect: str, daily: str) -> None:
    result = baclofen_start(parse_mass("50 mcg"), parse_duration(effect))
    assert result.daily_dose == parse_dose_rate(daily)


def test_the_hourly_rate_is_the_daily_dose_over_24() -> None:
    result = baclofen_start(parse_mass("75 mcg"), parse_duration("6 h"))
    assert result.hourly_mcg == Fraction(150, 24)


def test_the_rule_comes_from_the_sourced_data_file() -> None:
    rule = baclofen_start_rule()
    assert rule.effect_threshold.value == Duration.from_hours(8)
    assert rule.effect_threshold.source == rule.short_effect_factor.source == "S57"


def test_a_screening_dose_outside_the_protocol_is_flagged() -> None:
    assert baclofen_start(parse_mass("60 mcg"), parse_duration("6 h")).warnings
    assert not baclofen_start(parse_mass("50 mcg"), parse_duration("6 h")).warnings


@pytest.mark.parametrize(
    ("dose", "effect", "field"),
    [("0 mcg", "6 h", "screening_dose"), ("50 mcg", "0 h", "effect_hours")],
)
def test_no_dose_or_no_effect_is_refused_by_name(dose: str, effect: str, field: str) -> None:
    with refused(field):
        baclofen_start(parse_mass(dose), parse_duration(effect))


# --- titration plan -----------------------------------------------------------------


def test_the_ziconotide_plan_comes_from_the_library_labels() -> None:
    plan = titration_plan(LIBRARY.get("ziconotide"), concentration=parse_concentration("25 mcg/mL"))
    doses = [step.dose_rate for step in plan.steps]
    assert doses[0] == parse_dose_rate("2.4 mcg/day")
    assert doses[-1] == parse_dose_rate("19.2 mcg/day")
    assert all(b - a == parse_dose_rate("2.4 mcg/day") for a, b in itertools.pairwise(doses))
    assert plan.interval == Duration.from_hours(48)
    assert plan.reaches_target_after == Duration.from_days(14)
    assert plan.provenance == {"start": "source S46", "target": "source S46",
                               "step": "source S46", "interval": "source S47"}  # fmt: skip
    assert plan.steps[-1].volume_rate == parse_volume_rate("0.768 mL/day")


def test_the_last_step_stops_exactly_at_the_target() -> None:
    plan = titration_plan(LIBRARY.get("ziconotide"), target=parse_dose_rate("6 mcg/day"))
    expected = [parse_dose_rate(t) for t in ("2.4 mcg/day", "4.8 mcg/day", "6 mcg/day")]
    assert [s.dose_rate for s in plan.steps] == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"step": "2.401 mcg/day"}, "step"),
     ({"interval": "23.99 h"}, "interval"),
     ({"target": "21.601 mcg/day"}, "target"),
     ({"target": "1 mcg/day"}, "target"),
     ({"start": "0 mcg/day"}, "start"),
     ({"step": "0 mcg/day"}, "step"),
     ({"step": "0.0001 mcg/day"}, "step")],
)  # fmt: skip
def test_a_plan_beyond_a_hard_limit_is_refused_by_name(kwargs: dict[str, str], field: str) -> None:
    parsed = {key: (parse_duration(v) if key == "interval" else parse_dose_rate(v))
              for key, v in kwargs.items()}  # fmt: skip
    with refused(field):
        titration_plan(LIBRARY.get("ziconotide"), **parsed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "bound", "warning"),
    [
        ({"interval": "24 h"}, parse_duration("48 h"), "shorter than the recommended 48 h"),
        ({"target": "21.6 mcg/day"}, parse_dose_rate("19.2 mcg/day"), "above the soft daily"),
        ({"start": "3 mcg/day"}, parse_dose_rate("2.4 mcg/day"), "above the largest starting"),
    ],
)
def test_a_plan_beyond_a_soft_limit_is_planned_with_a_warning(
    kwargs: dict[str, str], bound: object, warning: str
) -> None:
    parsed = {key: (parse_duration(v) if key == "interval" else parse_dose_rate(v))
              for key, v in kwargs.items()}  # fmt: skip
    plan = titration_plan(LIBRARY.get("ziconotide"), **parsed)  # type: ignore[arg-type]
    [check] = plan.beyond_soft
    assert check.classification is Classification.SOFT_EXCEEDED
    assert (check.value, check.bound.value) == (next(iter(parsed.values())), bound)
    assert any(warning in item for item in plan.warnings)


def test_a_given_step_is_held_to_the_librarys_absolute_soft_step() -> None:
    ziconotide_with_soft_step = dataclasses.replace(
        LIBRARY.get("ziconotide"),
        titration_step=Limit.maximum(
            Sourced(TitrationStep(absolute=parse_dose_rate("1.2 mcg/day")), site_default=True),
            LIBRARY.get("ziconotide").titration_step.hard,  # type: ignore[union-attr]
        ),
    )
    plan = titration_plan(ziconotide_with_soft_step, step=parse_dose_rate("2.4 mcg/day"))
    [check] = plan.beyond_soft
    assert (check.classification, check.bound.value) == (
        Classification.SOFT_EXCEEDED,
        parse_dose_rate("1.2 mcg/day"),
    )


def test_percentage_steps_compound_and_are_rounded_down() -> None:
    plan = titration_plan(LIBRARY.get("baclofen"), start=parse_dose_rate("300 mcg/day"))
    baclofen = LIBRARY.get("baclofen")
    assert baclofen.titration_max_step_soft is not None
    for before, after in itertools.pairwise(plan.steps):
        assert after.increase <= baclofen.titration_max_step_soft.value.bound_for(before.dose_rate)
    assert plan.steps[-1].dose_rate == baclofen.daily_dose_soft_max.value


def test_a_drug_without_a_start_dose_needs_one_given() -> None:
    with refused("start"):
        titration_plan(LIBRARY.get("morphine"))


def test_a_plan_too_long_to_be_meant_is_refused() -> None:
    with refused("step"):
        titration_plan(LIBRARY.get("morphine"), start=parse_dose_rate("0.001 mg/day"),
                       step=DoseRate(Fraction(1, 1000)))  # fmt: skip


def test_masses_in_the_plan_are_exact() -> None:
    plan = titration_plan(LIBRARY.get("ziconotide"))
    assert isinstance(plan.steps[1].dose_rate, DoseRate)
    assert plan.steps[1].dose_rate.over(Duration.from_days(1)) == Mass(Fraction(48, 10))
