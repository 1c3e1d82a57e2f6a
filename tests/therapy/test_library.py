"""The drug library: the shipped data, provenance of every number, and a loader that names
every problem of a clinic's file at once."""

from __future__ import annotations

import dataclasses

import pytest

from thecal.therapy.library import (
    DrugLibraryError,
    TitrationStep,
    default_library,
    load_library,
    parse_library,
)
from thecal.therapy.limits import Direction, Limit
from thecal.therapy.quantities import Duration
from thecal.therapy.units import parse_concentration, parse_dose_rate

REQUIRED_DRUGS = ["morphine", "hydromorphone", "fentanyl", "sufentanil", "bupivacaine",
                  "clonidine", "ziconotide", "baclofen"]  # fmt: skip


def test_the_reference_library_holds_every_required_drug() -> None:
    library = default_library()
    assert [drug.id for drug in library.drugs] == REQUIRED_DRUGS


def test_every_number_in_the_reference_library_is_sourced_or_a_stated_site_default() -> None:
    library = default_library()
    for drug in library.drugs:
        for name, item in drug.sourced_values():
            if item.site_default:
                assert item.provenance == "site default", (drug.id, name)
            else:
                assert item.source in library.sources, (drug.id, name)
                assert item.provenance == f"source {item.source}"


@pytest.mark.parametrize(
    ("drug", "approved"),
    [("morphine", True), ("ziconotide", True), ("baclofen", True), ("hydromorphone", False),
     ("fentanyl", False), ("sufentanil", False), ("bupivacaine", False), ("clonidine", False)],
)  # fmt: skip
def test_approval_for_implanted_pumps_is_recorded_with_its_source(
    drug: str, approved: bool
) -> None:
    entry = default_library().get(drug)
    assert entry.approved_for_pump.value is approved
    assert entry.approved_for_pump.source in {"S2", "S74"}


def test_ziconotide_limits_come_from_the_prialt_labels() -> None:
    ziconotide = default_library().get("prialt")
    assert ziconotide.daily_dose_soft_max.value == parse_dose_rate("19.2 mcg/day")
    assert ziconotide.daily_dose_hard_max.value == parse_dose_rate("21.6 mcg/day")
    assert ziconotide.titration_max_step_hard is not None
    assert ziconotide.titration_max_step_hard.value.absolute == parse_dose_rate("2.4 mcg/day")
    assert ziconotide.start_dose_max is not None
    assert ziconotide.start_dose_max.source == "S46"


@pytest.mark.parametrize(
    ("limit", "direction", "sources"),
    [("daily_dose", Direction.UPPER, ("S46", "S47")),
     ("bolus_dose", Direction.UPPER, ()),
     ("titration_step", Direction.UPPER, ("S46",)),
     ("titration_interval", Direction.LOWER, ("S47",)),
     ("start_dose", Direction.UPPER, ("S46",))],
)  # fmt: skip
def test_each_of_a_drugs_limits_is_one_limit_with_its_side_and_sources(
    limit: str, direction: Direction, sources: tuple[str, ...]
) -> None:
    held = getattr(default_library().get("ziconotide"), limit)
    assert isinstance(held, Limit)
    assert (held.direction, held.sources) == (direction, sources)


def test_a_library_bound_is_also_read_under_its_file_key() -> None:
    morphine = default_library().get("morphine")
    assert morphine.daily_dose_soft_max is morphine.daily_dose.soft
    assert morphine.titration_min_interval_hard is None


ZICONOTIDE_DAILY = default_library().get("ziconotide").daily_dose


@pytest.mark.parametrize(
    ("field", "limit"),
    [("titration_interval", Limit.maximum(hard=ZICONOTIDE_DAILY.hard)),  # an interval is a minimum
     ("daily_dose", Limit.maximum(hard=ZICONOTIDE_DAILY.hard)),  # needs a soft and a hard bound
     ("start_dose", ZICONOTIDE_DAILY)],  # a start dose only warns
)  # fmt: skip
def test_a_drug_entry_refuses_a_limit_that_does_not_fit_its_rule(
    field: str, limit: Limit[object]
) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(default_library().get("ziconotide"), **{field: limit})


def test_find_matches_id_name_and_alias_case_insensitively() -> None:
    library = default_library()
    assert library.find("Infumorph") is library.find("MORPHINE") is library.get("morphine")
    assert library.find("aspirin") is None


def test_get_names_the_accepted_drugs_when_absent() -> None:
    with pytest.raises(ValueError, match="accepted: morphine, hydromorphone"):
        default_library().get("aspirin")


def test_a_concentration_with_its_own_stability_limit_uses_it() -> None:
    ziconotide = default_library().get("ziconotide")
    assert ziconotide.stability_for(parse_concentration("25 mcg/mL")).value == Duration.from_days(
        84
    )
    assert ziconotide.stability_for(parse_concentration("100 mcg/mL")).value == Duration.from_days(
        40
    )


@pytest.mark.parametrize(
    ("concentration", "first_fill", "days"),
    [("25 mcg/mL", False, 84), ("25 mcg/mL", True, 14), ("100 mcg/mL", True, 14)],
)
def test_a_first_fill_of_ziconotide_must_be_refilled_within_14_days(
    concentration: str, first_fill: bool, days: int
) -> None:
    ziconotide = default_library().get("ziconotide")
    limit = ziconotide.refill_limit(parse_concentration(concentration), first_fill)
    assert limit.value == Duration.from_days(days)


def test_a_first_fill_limit_never_lengthens_a_shorter_stability() -> None:
    baclofen = default_library().get("baclofen")
    concentration = parse_concentration("500 mcg/mL")
    assert baclofen.refill_limit(concentration, True) == baclofen.refill_limit(concentration)


def test_a_percentage_step_reads_as_a_percentage_even_when_fractional() -> None:
    from fractions import Fraction

    assert str(TitrationStep(percent=Fraction(15, 2))) == "7.5 %"


# ---------------------------------------------------------------------------
# A clinic's own file

VALID = """
schema = 1
name = "clinic"
version = "1"

[sources]
S1 = "a citation"

[[drugs]]
id = "testdrug"
name = "Test drug"
drug_class = "opioid"
opioid = true
dose_unit = "mg"
approved_for_pump = { value = true, source = "S1" }
high_risk_withdrawal = { value = false, site_default = true }
daily_dose_soft_max = { value = "10 mg/day", source = "S1" }
daily_dose_hard_max = { value = "20 mg/day", site_default = true }
bolus_dose_soft_max = { value = "1 mg", site_default = true }
bolus_dose_hard_max = { value = "2 mg", site_default = true }
titration_max_step_soft = { value = "20 %", site_default = true }
titration_max_step_hard = { value = "50 %", site_default = true }
titration_min_interval_soft = { value = "48 h", site_default = true }
titration_min_interval_hard = { value = "24 h", site_default = true }
stability_max_interval = { value = "60 days", site_default = true }

[[drugs.concentrations]]
value = { value = "10 mg/mL", source = "S1" }
"""


def test_a_valid_clinic_file_loads(tmp_path: object) -> None:
    library = parse_library(VALID, "clinic.toml")
    assert library.get("testdrug").daily_dose_hard_max.site_default


def test_a_clinic_file_may_bound_steps_in_percent_softly_and_in_dose_hard() -> None:
    mixed = VALID.replace(
        'titration_max_step_hard = { value = "50 %", site_default = true }',
        'titration_max_step_hard = { value = "2 mg/day", site_default = true }',
    )
    step = parse_library(mixed, "clinic.toml").get("testdrug").titration_step
    assert step is not None and step.hard is not None
    assert step.hard.value == TitrationStep(absolute=parse_dose_rate("2 mg/day"))


def test_a_clinic_file_loads_from_disk(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "library.toml"  # type: ignore[operator]
    path.write_text(VALID, encoding="utf-8")
    assert load_library(path).name == "clinic"


def problems_of(text: str) -> tuple[str, ...]:
    with pytest.raises(DrugLibraryError) as caught:
        parse_library(text, "clinic.toml")
    return caught.value.problems


BROKEN = [
    ('daily_dose_soft_max = { value = "10 mg/day", source = "S1" }',
     'daily_dose_soft_max = { value = "30 mg/day", source = "S1" }',
     "daily dose soft limit 30 mg/day is above its hard limit 20 mg/day"),
    ('bolus_dose_soft_max = { value = "1 mg", site_default = true }',
     'bolus_dose_soft_max = { value = "3 mg", site_default = true }',
     "bolus dose soft limit 3 mg is above its hard limit 2 mg"),
    ('titration_min_interval_soft = { value = "48 h", site_default = true }',
     'titration_min_interval_soft = { value = "12 h", site_default = true }',
     "titration interval soft minimum 12 h is below its hard minimum 24 h"),
    ('titration_max_step_soft = { value = "20 %", site_default = true }',
     'titration_max_step_soft = { value = "60 %", site_default = true }',
     "titration step soft limit 60 % is above its hard limit 50 %"),
    ('daily_dose_hard_max = { value = "20 mg/day", site_default = true }',
     'daily_dose_hard_max = { value = "20 mg/fortnight", site_default = true }',
     "unknown unit"),
    ('daily_dose_hard_max = { value = "20 mg/day", site_default = true }',
     'daily_dose_hard_max = { value = "20 mg", site_default = true }',
     "is a mass, not a dose rate"),
    ('daily_dose_soft_max = { value = "10 mg/day", source = "S1" }',
     'daily_dose_soft_max = { value = "10 mg/day" }',
     "needs a source or site_default = true"),
    ('daily_dose_soft_max = { value = "10 mg/day", source = "S1" }',
     'daily_dose_soft_max = { value = "10 mg/day", source = "S9" }',
     "'S9' is not in [sources]"),
    ('daily_dose_soft_max = { value = "10 mg/day", source = "S1" }',
     'daily_dose_soft_max = { value = "10 mg/day", source = "S1", site_default = true }',
     "both a source and site_default"),
    ('daily_dose_soft_max = { value = "10 mg/day", source = "S1" }',
     'daily_dose_soft_max = "10 mg/day"',
     "must be a table"),
    ('stability_max_interval = { value = "60 days", site_default = true }', "",
     "stability_max_interval: missing"),
    ('dose_unit = "mg"', 'dose_unit = "grams"', "is not a display unit; accepted: mg, mcg"),
    ('opioid = true', 'opioid = true\ncolour = "blue"', "unknown key(s) ['colour']"),
    ('value = { value = "10 mg/mL", source = "S1" }',
     'value = { value = "10 mg/mL", source = "S1" }\nstabilty_max_interval = "9 days"',
     "unknown key(s) ['stabilty_max_interval']"),
    ('value = { value = "10 mg/mL", source = "S1" }',
     'value = { value = "0 mg/mL", source = "S1" }', "a concentration must be positive"),
    ('schema = 1', 'schema = 2', "schema: must be 1"),
    ('schema = 1', 'schema = 1\nauthor = "x"', "unknown top-level key(s) ['author']"),
    ('S1 = "a citation"', 'S1 = ""\nS2 = "x"', "sources.S1: must be non-empty citation text"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "problem"), BROKEN)
def test_each_library_problem_is_named(old: str, new: str, problem: str) -> None:
    assert old in VALID
    found = problems_of(VALID.replace(old, new, 1))
    assert any(problem in item for item in found), found


def test_a_concentration_listed_twice_is_named_as_a_duplicate() -> None:
    twice = (
        VALID + '\n[[drugs.concentrations]]\nvalue = { value = "10000 mcg/mL", source = "S1" }\n'
    )
    assert any("duplicate concentration" in item for item in problems_of(twice))


def test_a_drug_listed_twice_is_named_as_a_duplicate() -> None:
    body = VALID.split("[[drugs]]", 1)[1]
    assert any("duplicate drug id" in item for item in problems_of(VALID + "[[drugs]]" + body))


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        VALID.replace('"30 mg/day"', "")
        .replace('value = "10 mg/day", source = "S1"', 'value = "30 mg/day"')
        .replace('dose_unit = "mg"', 'dose_unit = "g"')
        .replace('"60 days"', '"60 fortnights"')
    )
    found = problems_of(text)
    joined = " | ".join(found)
    for expected in ("above its hard limit", "needs a source", "not a display unit",
                     "unknown unit"):  # fmt: skip
        assert expected in joined
    assert len(found) >= 4


def test_the_error_message_counts_and_lists_the_problems() -> None:
    with pytest.raises(DrugLibraryError, match=r"clinic.toml has 1 problem\(s\): schema"):
        parse_library(VALID.replace("schema = 1", "schema = 3"), "clinic.toml")


def test_a_file_that_is_not_toml_is_named_as_such() -> None:
    assert any("not valid TOML" in item for item in problems_of("this is = = not toml"))


def test_a_file_without_drugs_is_refused() -> None:
    assert any("needs at least one [[drugs]]" in item for item in problems_of("schema = 1"))
