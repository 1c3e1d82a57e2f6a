"""A prescription is a self-validating immutable value with a stable content hash."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thecal.therapy.prescription import (
    MAX_FLEX_STEPS,
    Bolus,
    FlexStep,
    Mode,
    PatientBolus,
    PeriodicBolus,
    Prescription,
    PrescriptionError,
    TimeOfDay,
)
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass
from thecal.therapy.units import parse_concentration, parse_dose_rate

from .builders import continuous, flex, patient, periodic, single

C = parse_concentration("10 mg/mL")


def problems(**fields: object) -> tuple[str, ...]:
    base: dict[str, object] = {"drug": "morphine", "concentration": C}
    base.update(fields)
    with pytest.raises(PrescriptionError) as caught:
        Prescription(**base)  # type: ignore[arg-type]
    return caught.value.problems


STRUCTURE = [
    ({"mode": Mode.SIMPLE_CONTINUOUS}, "rate: required in simple_continuous mode"),
    ({"mode": Mode.SIMPLE_CONTINUOUS, "rate": DoseRate.zero()}, "use stopped mode to stop"),
    ({"mode": Mode.STOPPED, "rate": parse_dose_rate("1 mg/day")}, "rate: not used in stopped"),
    ({"mode": Mode.FLEX}, "steps: required in flex mode"),
    ({"mode": Mode.FLEX, "steps": (FlexStep(TimeOfDay(60), DoseRate.zero()),)},
     "the first step must start at 00:00"),
    ({"mode": Mode.FLEX, "steps": (FlexStep(TimeOfDay(0), DoseRate.zero()),
                                   FlexStep(TimeOfDay(0), DoseRate.zero()))},
     "start times must increase"),
    ({"mode": Mode.FLEX, "steps": tuple(FlexStep(TimeOfDay(i), DoseRate.zero())
                                        for i in range(MAX_FLEX_STEPS + 1))},
     f"at most {MAX_FLEX_STEPS}"),
    ({"mode": Mode.SINGLE_BOLUS}, "bolus: required in single_bolus mode"),
    ({"mode": Mode.SINGLE_BOLUS, "bolus": Bolus(Mass.zero(), Duration.from_hours(1))},
     "bolus.dose: must be more than zero"),
    ({"mode": Mode.SINGLE_BOLUS, "bolus": Bolus(Mass.from_mg(1), Duration.from_seconds("0.5"))},
     "bolus.duration: 0.5 s must be a whole number of seconds"),
    ({"mode": Mode.PERIODIC_BOLUS}, "periodic_bolus: required in periodic_bolus mode"),
    ({"mode": Mode.PERIODIC_BOLUS, "periodic": PeriodicBolus(
        Bolus(Mass.from_mg(1), Duration.from_minutes(10)), Duration.from_hours(7), TimeOfDay(0))},
     "periodic_bolus.interval: 7 h must divide 24 h evenly"),
    ({"mode": Mode.PERIODIC_BOLUS, "periodic": PeriodicBolus(
        Bolus(Mass.from_mg(1), Duration.from_hours(2)), Duration.from_hours(1), TimeOfDay(0))},
     "periodic_bolus.interval: shorter than the bolus duration"),
    ({"mode": Mode.STOPPED, "patient_bolus": PatientBolus(
        Mass.from_mg(1), Duration.from_minutes(10), Duration.from_hours(1), 3)},
     "patient_bolus: not available in stopped mode"),
    ({"mode": Mode.SIMPLE_CONTINUOUS, "rate": parse_dose_rate("1 mg/day"),
      "patient_bolus": PatientBolus(Mass.from_mg(1), Duration.from_hours(2),
                                    Duration.from_hours(1), 3)},
     "patient_bolus.lockout: 1 h is shorter than the bolus duration 2 h"),
    ({"mode": Mode.SIMPLE_CONTINUOUS, "rate": parse_dose_rate("1 mg/day"),
      "patient_bolus": PatientBolus(Mass.from_mg(1), Duration.from_minutes(1),
                                    Duration.from_hours(1), 0)},
     "patient_bolus.max_per_24h: must be at least 1"),
    ({"mode": Mode.SIMPLE_CONTINUOUS, "rate": parse_dose_rate("1 mg/day"),
      "concentration": Concentration.zero()}, "concentration: must be more than zero"),
    ({"mode": Mode.SIMPLE_CONTINUOUS, "rate": parse_dose_rate("1 mg/day"), "drug": " "},
     "drug: missing"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "problem"), STRUCTURE)
def test_a_malformed_prescription_names_its_problem(
    fields: dict[str, object], problem: str
) -> None:
    found = problems(**fields)
    assert any(problem in item for item in found), found


def test_every_structural_problem_is_named_at_once() -> None:
    found = problems(mode=Mode.SINGLE_BOLUS, rate=parse_dose_rate("1 mg/day"),
                     concentration=Concentration.zero())  # fmt: skip
    assert len(found) == 3


@pytest.mark.parametrize(("text", "minute"), [("00:00", 0), ("6:30", 390), ("23:59", 1439)])
def test_times_of_day_parse_on_a_24_hour_clock(text: str, minute: int) -> None:
    assert TimeOfDay.parse(text).minute == minute


@pytest.mark.parametrize("text", ["24:00", "12:60", "noon", "", "7"])
def test_bad_times_of_day_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="accepted: a 24-hour time HH:MM"):
        TimeOfDay.parse(text, "start")


@pytest.mark.parametrize(
    ("lockout", "cap", "count"),
    [
        ("3 h", 4, 4),
        ("3 h", 10, 8),
        ("5 h", 10, 5),
        ("24 h", 3, 1),
        ("23 h", 3, 2),
        ("1 min", 1, 1),
    ],
)
def test_worst_case_patient_boluses_are_the_cap_or_the_lockout_whichever_binds(
    lockout: str, cap: int, count: int
) -> None:
    assert patient("0.1 mg", "1 min", lockout, cap).worst_case_count_per_24h() == count


def test_periodic_boluses_start_at_the_same_times_every_day() -> None:
    rx = periodic("morphine", "10 mg/mL", "0.5 mg", "10 min", "6 h", first="03:00")
    assert rx.periodic is not None
    assert rx.periodic.starts() == (3 * 3600, 9 * 3600, 15 * 3600, 21 * 3600)


def test_the_drug_name_is_stored_lower_case() -> None:
    assert continuous(" Morphine ", "10 mg/mL", "1 mg/day").drug == "morphine"


def test_equal_content_gives_an_equal_hash_whatever_the_spelling() -> None:
    a = continuous("morphine", "10 mg/mL", "0.5 mg/day")
    b = continuous("MORPHINE", "10000 mcg/mL", "500 mcg/day")
    assert a == b
    assert a.content_hash == b.content_hash
    assert hash(a) == hash(b)


def test_the_hash_is_stable_across_runs() -> None:
    # A fixed prescription must hash the same forever: the pump checks this value.
    rx = continuous("morphine", "10 mg/mL", "4 mg/day", patient("0.2 mg", "10 min", "3 h", 4))
    assert rx.content_hash == ("0ad36e786cfbe3adac0906a0998cbf375f0ec5d9b231e77c953f3ef4df45c00b")


BASE = continuous("morphine", "10 mg/mL", "4 mg/day", patient("0.2 mg", "10 min", "3 h", 4))
PB = BASE.patient_bolus


def with_patient(**changes: object) -> Prescription:
    assert PB is not None
    return dataclasses.replace(BASE, patient_bolus=dataclasses.replace(PB, **changes))  # type: ignore[arg-type]


CHANGES = {
    "drug": dataclasses.replace(BASE, drug="hydromorphone"),
    "concentration": dataclasses.replace(BASE, concentration=parse_concentration("25 mg/mL")),
    "rate": dataclasses.replace(BASE, rate=parse_dose_rate("4.001 mg/day")),
    "patient dose": with_patient(dose=Mass.from_mg("0.3")),
    "patient duration": with_patient(duration=Duration.from_minutes(11)),
    "patient lockout": with_patient(lockout=Duration.from_hours(4)),
    "patient cap": with_patient(max_per_24h=5),
    "no patient bolus": dataclasses.replace(BASE, patient_bolus=None),
    "mode": flex("morphine", "10 mg/mL", ("00:00", "4 mg/day"), patient=PB),
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_the_hash_changes_when_any_field_changes(field: str) -> None:
    assert CHANGES[field].content_hash != BASE.content_hash


def test_flex_step_time_dose_and_bolus_fields_all_change_the_hash() -> None:
    one = flex("baclofen", "500 mcg/mL", ("00:00", "400 mcg/day"), ("06:00", "500 mcg/day"))
    variants = [
        flex("baclofen", "500 mcg/mL", ("00:00", "400 mcg/day"), ("06:01", "500 mcg/day")),
        flex("baclofen", "500 mcg/mL", ("00:00", "400 mcg/day"), ("06:00", "501 mcg/day")),
        single("baclofen", "500 mcg/mL", "50 mcg", "1 h"),
        single("baclofen", "500 mcg/mL", "50 mcg", "2 h"),
        periodic("baclofen", "500 mcg/mL", "50 mcg", "1 h", "12 h"),
        periodic("baclofen", "500 mcg/mL", "50 mcg", "1 h", "12 h", first="01:00"),
        periodic("baclofen", "500 mcg/mL", "50 mcg", "1 h", "12 h", background="1 mcg/day"),
    ]
    hashes = {one.content_hash, *(rx.content_hash for rx in variants)}
    assert len(hashes) == len(variants) + 1


@given(st.integers(0, 10**6), st.integers(1, 10**6))
@settings(max_examples=100)
def test_the_hash_tells_apart_any_two_different_rates(a: int, b: int) -> None:
    first = continuous("morphine", "10 mg/mL", f"{a + 1} mcg/day")
    second = continuous("morphine", "10 mg/mL", f"{a + 1 + b} mcg/day")
    assert first.content_hash != second.content_hash


def test_a_prescription_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BASE.drug = "fentanyl"  # type: ignore[misc]


def test_the_canonical_form_holds_exact_base_units() -> None:
    assert BASE.canonical() == {
        "format": 1,
        "drug": "morphine",
        "concentration_mcg_per_ml": "10000",
        "mode": "simple_continuous",
        "rate_mcg_per_day": "4000",
        "patient_bolus": ["200", "600", "10800", 4],
    }
