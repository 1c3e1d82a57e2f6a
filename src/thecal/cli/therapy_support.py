"""Shared wiring for the therapy commands (`drugs`, `check`, `calc`, `tour`).

Reading files and options at the edge, with every mistake turned into one clear
line on stderr and exit code 2 (`thecal.cli.output.fail`), including typer's own
usage errors (an unknown option, a missing argument), which would otherwise print
a multi-line panel.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

from thecal.cli.output import OneLineErrorsCommand, OneLineErrorsGroup, fail
from thecal.therapy.library import DrugEntry, DrugLibrary, default_library, load_library
from thecal.therapy.prescription import Prescription
from thecal.therapy.prescription_toml import read_prescription
from thecal.therapy.pump_models import PumpModel, find_pump_model
from thecal.therapy.quantities import decimal_text

__all__ = [
    "DEFAULT_PUMP",
    "OneLineErrorsCommand",
    "OneLineErrorsGroup",
    "days",
    "need",
    "number",
    "open_library",
    "open_prescription",
    "parse_moment",
    "pick_pump",
    "plain",
]

DEFAULT_PUMP = "peristaltic-20"
"""The pump model assumed when none is named: the most common kind, 20 mL (see `thecal
drugs`); every output that uses it says so."""

T = TypeVar("T")


def need(value: T | None, option: str, accepted: str) -> T:
    """The value of a required option, or exit 2 naming it and what it accepts."""
    if value is None:
        fail(f"{option} is required; accepted: {accepted}")
    return value


def _read(path: str, what: str, reader: Callable[[Path], T]) -> T:
    file = Path(path)
    if not file.exists():
        fail(f"{what}: no such file: {path}")
    if file.is_dir():
        fail(f"{what}: {path} is a directory, not a file")
    try:
        return reader(file)
    except UnicodeDecodeError:
        fail(f"{what}: {path} is not UTF-8 text")
    except OSError as error:
        fail(f"{what}: cannot read {path}: {error.strerror or error}")


def open_prescription(path: str, what: str = "prescription") -> Prescription:
    """Read a prescription file; problems exit 2 naming the file and every problem."""
    try:
        return _read(path, what, read_prescription)
    except ValueError as error:
        fail(f"{what} {path}: {error}")


def open_library(path: str | None) -> DrugLibrary:
    """The clinic's library file, or thecal's reference library."""
    if path is None:
        return default_library()
    try:
        return _read(path, "library", load_library)
    except ValueError as error:
        fail(str(error))


def find_drug(library: DrugLibrary, name: str) -> DrugEntry:
    """A drug of the library by id, name or alias; exit 2 naming the accepted drugs."""
    try:
        return library.get(name)
    except ValueError as error:
        fail(str(error))


def pick_pump(model: str | None) -> tuple[PumpModel, bool]:
    """The named pump model, or the default one; True when the default was used."""
    try:
        return find_pump_model(model or DEFAULT_PUMP), model is None
    except ValueError as error:
        fail(f"--pump: {error}")


def parse_moment(text: str, option: str) -> datetime:
    """An ISO 8601 date-time (``2026-03-02T08:00``, optionally with an offset)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"{option}: {text!r} is not an ISO date-time; accepted: e.g. '2026-03-02T08:00' "
            "(the pump's local clock) or '2026-03-02T08:00+01:00'"
        )


def number(value: Fraction | None, places: int = 9) -> float | None:
    """A JSON number for an exact value, truncated toward zero (never rounded up)."""
    if value is None:
        return None
    return float(decimal_text(value, places))


def plain(value: float | None, places: int = 4) -> str:
    """Short readable text for a JSON number (truncated, never rounded up): 20.0 -> "20"."""
    if value is None:
        return "-"
    return decimal_text(Fraction(str(value)), places)


def days(value: Fraction | None) -> str:
    """Readable day count, truncated: ``"38.25 days"``."""
    if value is None:
        return "never"
    return f"{decimal_text(value, 2)} days"
