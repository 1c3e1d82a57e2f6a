"""Prescription files: every example reads, writing reads back equal, every bad file is
explained in full."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from thecal.therapy.prescription import Mode, Prescription, PrescriptionError
from thecal.therapy.prescription_toml import (
    parse_prescription,
    prescription_to_toml,
    read_prescription,
    write_prescription,
)

from .strategies import prescriptions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# Every example prescription (scenario files, which embed one, live in examples/scenarios).
PRESCRIPTIONS = sorted(p for p in EXAMPLES.rglob("*.toml") if "scenarios" not in p.parts)


@pytest.mark.parametrize("path", PRESCRIPTIONS, ids=lambda p: p.name)
def test_every_example_prescription_reads(path: Path) -> None:
    assert isinstance(read_prescription(path), Prescription)


@given(prescriptions())
@settings(max_examples=150, deadline=None)
def test_writing_then_reading_gives_an_equal_prescription(rx: Prescription) -> None:
    again = parse_prescription(prescription_to_toml(rx, title="round trip"))
    assert again == rx
    assert again.content_hash == rx.content_hash


def test_titles_with_quotes_backslashes_and_control_characters_round_trip() -> None:
    rx = parse_prescription('drug = "morphine"\nconcentration = "10 mg/mL"\nmode = "stopped"\n')
    title = 'He said "stop" \\ now\n\ttab \x01 bell \x7f'
    text = prescription_to_toml(rx, title)
    import tomllib

    assert tomllib.loads(text)["title"] == title
    assert parse_prescription(text) == rx


def test_a_written_file_reads_back_and_the_write_is_atomic(tmp_path: Path) -> None:
    rx = read_prescription(EXAMPLES / "morphine-cancer-pain-ptm.toml")
    target = tmp_path / "rx.toml"
    write_prescription(rx, target, "copy")
    assert read_prescription(target) == rx
    assert not (tmp_path / "rx.toml.tmp").exists()


def test_a_file_changed_after_writing_is_caught_by_its_hash() -> None:
    rx = read_prescription(EXAMPLES / "ziconotide-titration-start.toml")
    text = prescription_to_toml(rx).replace('"2.4 mcg/day"', '"24 mcg/day"')
    with pytest.raises(PrescriptionError, match="the file was changed after it was written"):
        parse_prescription(text)


HEAD = 'drug = "morphine"\nconcentration = "10 mg/mL"\n'
BAD_FILES = [
    ("not = = toml", "is not valid TOML"),
    ('concentration = "10 mg/mL"\nmode = "stopped"', "drug: missing"),
    ('drug = "morphine"\nmode = "stopped"', "concentration: missing"),
    (HEAD, "mode: missing"),
    (HEAD + 'mode = "fast"', "'fast' is not a mode; accepted: stopped, minimum_rate"),
    (HEAD + 'mode = "simple_continuous"\nrate = "4 mg"', "rate: '4 mg' is a mass, not a dose rate"),
    (HEAD + 'mode = "simple_continuous"\nrate = 4', "rate: '4' is not text"),
    (HEAD + 'mode = "simple_continuous"\nrate = "4 mg/day"\ncolour = "red"',
     "unknown key(s) ['colour']"),
    (HEAD + 'mode = "stopped"\ntitle = 5', "title: must be text"),
    (HEAD + 'mode = "flex"\nsteps = "all day"', "steps: must be a list"),
    (HEAD + 'mode = "flex"\n[[steps]]\nstart = "25:00"\nrate = "1 mg/day"',
     "steps[0].start: '25:00' is out of range"),
    (HEAD + 'mode = "flex"\n[[steps]]\nstart = "00:00"', "steps[0].rate: missing"),
    (HEAD + 'mode = "flex"\n[[steps]]\nstart = "00:00"\nrate = "1 mg/day"\nspeed = 2',
     "steps[0]: unknown key(s) ['speed']"),
    (HEAD + 'mode = "single_bolus"\nbolus = "1 mg"', "bolus: must be a table"),
    (HEAD + 'mode = "single_bolus"\n[bolus]\ndose = "1 mg"', "bolus.duration: missing"),
    (HEAD + 'mode = "periodic_bolus"\n[periodic_bolus]\ndose = "1 mg"\nduration = "1 h"\n'
     'interval = "7 h"', "periodic_bolus.interval: 7 h must divide 24 h evenly"),
    (HEAD + 'mode = "simple_continuous"\nrate = "1 mg/day"\n[patient_bolus]\ndose = "1 mg"\n'
     'duration = "10 min"\nlockout = "1 h"\nmax_per_24h = 2.5', "max_per_24h: 2.5 must be a whole"),
    (HEAD + 'mode = "simple_continuous"\nrate = "1 mg/day"\n[patient_bolus]\ndose = "1 mg"\n'
     'duration = "10 min"\nlockout = "1 h"\nmax_per_24h = 2\nextra = 1',
     "unknown key(s) ['extra']"),
    (HEAD + 'mode = "stopped"\nrate = "1 mg/day"', "rate: not used in stopped mode"),
    (HEAD + 'mode = "simple_continuous"\nrate = "1 mg/day"\ncontent_hash = "abc"',
     "content_hash: the file says 'abc'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "problem"), BAD_FILES)
def test_a_bad_file_names_each_problem(text: str, problem: str) -> None:
    with pytest.raises(PrescriptionError) as caught:
        parse_prescription(text, "rx.toml")
    assert problem in str(caught.value)


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = 'drug = ""\nconcentration = "10 mg"\nmode = "fast"\nrate = "x"\n'
    with pytest.raises(PrescriptionError) as caught:
        parse_prescription(text)
    assert len(caught.value.problems) == 4


def test_a_prescription_error_is_a_value_error() -> None:
    assert issubclass(PrescriptionError, ValueError)


def test_the_mode_is_read_case_free() -> None:
    assert parse_prescription(HEAD + 'mode = "STOPPED"').mode is Mode.STOPPED
