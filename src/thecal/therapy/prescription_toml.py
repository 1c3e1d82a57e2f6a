"""Read and write prescriptions as TOML, and read the same fields from anywhere.

The file is what a clinician or a script hands to `thecal check` and the
programmer. Reading parses every quantity once, collects *every* problem
(unknown keys, bad units, structural errors) and raises one `PrescriptionError`
naming them all. Writing gives text that reads back to an equal prescription,
with its content hash, which is checked again when the file is read.

`prescription_from_fields` is that one reader over the file's fields already
split into a mapping: a form, a JSON body or a scenario file's table is read by
it directly, never turned into TOML text first.

    drug = "baclofen"
    concentration = "500 mcg/mL"
    mode = "flex"

    [[steps]]
    start = "00:00"
    rate = "400 mcg/day"

    [patient_bolus]
    dose = "50 mcg"
    duration = "10 min"
    lockout = "4 h"
    max_per_24h = 3
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from thecal.therapy.prescription import (
    Bolus,
    FlexStep,
    Mode,
    PatientBolus,
    PeriodicBolus,
    Prescription,
    PrescriptionError,
    TimeOfDay,
)
from thecal.therapy.units import (
    QuantityParseError,
    format_quantity,
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_mass,
)

__all__ = [
    "ACCEPTED_MODES",
    "parse_prescription",
    "prescription_from_fields",
    "prescription_to_toml",
    "read_prescription",
    "write_prescription",
]

ACCEPTED_MODES = ", ".join(mode.value for mode in Mode)
T = TypeVar("T")

_TOP_KEYS = {
    "drug", "concentration", "mode", "rate", "steps", "bolus", "periodic_bolus",
    "patient_bolus", "content_hash", "title",
}  # fmt: skip


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        parse: Callable[[object, str], T],
        required: bool = True,
    ) -> T | None:
        name = f"{where}{key}"
        if key not in table:
            if required:
                self.problems.append(f"{name}: missing")
            return None
        try:
            return parse(table[key], name)
        except (QuantityParseError, ValueError, TypeError) as error:
            self.problems.append(str(error))
            return None

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problems.append(f"{key}: must be a table [{key}]")
            return {}
        unknown = set(value) - allowed
        if unknown:
            self.problems.append(
                f"{key}: unknown key(s) {sorted(unknown)}; accepted: {sorted(allowed)}"
            )
        return value


def _mode(raw: object, where: str) -> Mode:
    try:
        return Mode(str(raw).strip().lower())
    except ValueError:
        raise ValueError(f"{where}: {raw!r} is not a mode; accepted: {ACCEPTED_MODES}") from None


def _text(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{where}: must be non-empty text")
    return raw.strip()


def _count(raw: object, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"{where}: {raw!r} must be a whole number, e.g. 4")
    return raw


def parse_prescription(text: str, origin: str = "<text>") -> Prescription:
    """Build a prescription from TOML text; `PrescriptionError` lists every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PrescriptionError([f"{origin} is not valid TOML: {error}"]) from None
    return prescription_from_fields(data)


def prescription_from_fields(data: Mapping[str, Any]) -> Prescription:
    """Build a prescription from its fields in the file's vocabulary (``drug``,
    ``concentration``, ``mode``, ``rate``, ``steps``, ``bolus``, ``periodic_bolus``,
    ``patient_bolus``; quantities as text with units). `PrescriptionError` lists every
    problem, each starting with the field it concerns; a ``content_hash`` given must be
    the hash of the prescription read."""
    r = _Reader()
    unknown = set(data) - _TOP_KEYS
    if unknown:
        r.problems.append(f"unknown key(s) {sorted(unknown)}; accepted: {sorted(_TOP_KEYS)}")
    if "title" in data and not isinstance(data["title"], str):
        r.problems.append("title: must be text")
    drug = r.get(data, "drug", "", _text)
    concentration = r.get(data, "concentration", "", parse_concentration)
    mode = r.get(data, "mode", "", _mode)
    rate = r.get(data, "rate", "", parse_dose_rate, required=False)

    steps: list[FlexStep] = []
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list):
        r.problems.append("steps: must be a list of [[steps]] tables")
        raw_steps = []
    for index, raw in enumerate(raw_steps):
        where = f"steps[{index}]."
        if not isinstance(raw, dict):
            r.problems.append(f"steps[{index}]: must be a table with start and rate")
            continue
        extra = set(raw) - {"start", "rate"}
        if extra:
            r.problems.append(f"steps[{index}]: unknown key(s) {sorted(extra)}")
        start = r.get(raw, "start", where, TimeOfDay.parse)
        step_rate = r.get(raw, "rate", where, parse_dose_rate)
        if start is not None and step_rate is not None:
            steps.append(FlexStep(start, step_rate))

    bolus: Bolus | None = None
    if "bolus" in data:
        table = r.table(data, "bolus", {"dose", "duration"})
        dose = r.get(table, "dose", "bolus.", parse_mass)
        duration = r.get(table, "duration", "bolus.", parse_duration)
        if dose is not None and duration is not None:
            bolus = Bolus(dose, duration)

    periodic: PeriodicBolus | None = None
    if "periodic_bolus" in data:
        table = r.table(data, "periodic_bolus", {"dose", "duration", "interval", "first_start"})
        where = "periodic_bolus."
        dose = r.get(table, "dose", where, parse_mass)
        duration = r.get(table, "duration", where, parse_duration)
        interval = r.get(table, "interval", where, parse_duration)
        first = r.get(table, "first_start", where, TimeOfDay.parse, required=False)
        if dose is not None and duration is not None and interval is not None:
            periodic = PeriodicBolus(Bolus(dose, duration), interval, first or TimeOfDay(0))

    patient: PatientBolus | None = None
    if "patient_bolus" in data:
        table = r.table(data, "patient_bolus", {"dose", "duration", "lockout", "max_per_24h"})
        where = "patient_bolus."
        dose = r.get(table, "dose", where, parse_mass)
        duration = r.get(table, "duration", where, parse_duration)
        lockout = r.get(table, "lockout", where, parse_duration)
        cap = r.get(table, "max_per_24h", where, _count)
        if dose is not None and duration is not None and lockout is not None and cap is not None:
            patient = PatientBolus(dose, duration, lockout, cap)

    if r.problems:
        raise PrescriptionError(r.problems)
    assert drug is not None and concentration is not None and mode is not None
    prescription = Prescription(
        drug=drug,
        concentration=concentration,
        mode=mode,
        rate=rate,
        steps=tuple(steps),
        bolus=bolus,
        periodic=periodic,
        patient_bolus=patient,
    )
    expected = data.get("content_hash")
    if expected is not None and expected != prescription.content_hash:
        raise PrescriptionError(
            [
                f"content_hash: the file says {expected!r} but its content hashes to "
                f"{prescription.content_hash!r}; the file was changed after it was written"
            ]
        )
    return prescription


def read_prescription(path: Path | str) -> Prescription:
    """Read a prescription file (see `parse_prescription`)."""
    file = Path(path)
    return parse_prescription(file.read_text(encoding="utf-8"), origin=str(file))


def _q(value: Any) -> str:
    return '"' + format_quantity(value) + '"'


def prescription_to_toml(prescription: Prescription, title: str = "") -> str:
    """TOML text that `parse_prescription` reads back to an equal prescription."""
    lines = []
    if title:
        lines.append(f"title = {_toml_string(title)}")
    lines += [
        f"drug = {_toml_string(prescription.drug)}",
        f"concentration = {_q(prescription.concentration)}",
        f'mode = "{prescription.mode.value}"',
    ]
    if prescription.rate is not None:
        lines.append(f"rate = {_q(prescription.rate)}")
    lines.append(f'content_hash = "{prescription.content_hash}"')
    for step in prescription.steps:
        lines += ["", "[[steps]]", f'start = "{step.start}"', f"rate = {_q(step.dose_rate)}"]
    if prescription.bolus is not None:
        b = prescription.bolus
        lines += ["", "[bolus]", f"dose = {_q(b.dose)}", f"duration = {_q(b.duration)}"]
    if prescription.periodic is not None:
        p = prescription.periodic
        lines += [
            "",
            "[periodic_bolus]",
            f"dose = {_q(p.bolus.dose)}",
            f"duration = {_q(p.bolus.duration)}",
            f"interval = {_q(p.interval)}",
            f'first_start = "{p.first_start}"',
        ]
    if prescription.patient_bolus is not None:
        pb = prescription.patient_bolus
        lines += [
            "",
            "[patient_bolus]",
            f"dose = {_q(pb.dose)}",
            f"duration = {_q(pb.duration)}",
            f"lockout = {_q(pb.lockout)}",
            f"max_per_24h = {pb.max_per_24h}",
        ]
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    """A TOML basic string; every control character escaped so any text reads back."""
    out: list[str] = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\t":
            out.append(char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def write_prescription(prescription: Prescription, path: Path | str, title: str = "") -> None:
    """Write a prescription file atomically (temporary file, then rename)."""
    file = Path(path)
    temporary = file.with_name(file.name + ".tmp")
    temporary.write_text(prescription_to_toml(prescription, title), encoding="utf-8")
    temporary.replace(file)
