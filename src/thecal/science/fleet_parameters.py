"""Parameters of the fleet simulation, read from ``data/fleet.toml``.

Every number in that file names its kind ("published", "derived" or "model
parameter") and, where there is one, its source; `fleet_parameter_table()` lists
them for documentation. Pump capability, the battery model and drug stability are
not repeated there: they come from `thecal.therapy.pump_models`, the pump twin's
device profiles (`thecal.pump.profiles`) and the drug library.

Exact values (doses, schedule weights) are kept as `Fraction` so that a sampled
patient's prescription can be built exactly for the pump twin; the vectorised
model turns them into floats.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from thecal.therapy.prescription import TimeOfDay
from thecal.therapy.quantities import Concentration, exact
from thecal.therapy.units import parse_concentration

__all__ = [
    "DrugMix",
    "FleetParameter",
    "FleetParameters",
    "PumpMix",
    "ScheduleTemplate",
    "fleet_parameter_table",
    "fleet_parameters",
    "fleet_sources",
]

KINDS = ("published", "derived", "model parameter")


@dataclass(frozen=True, slots=True)
class FleetParameter:
    """One documented entry of fleet.toml."""

    name: str
    value: Any
    kind: str
    source: str | None
    note: str


@dataclass(frozen=True, slots=True)
class ScheduleTemplate:
    """A day shape: relative rates from times of day (first at 00:00)."""

    id: str
    starts: tuple[TimeOfDay, ...]
    weights: tuple[Fraction, ...]

    def multipliers(self) -> tuple[Fraction, ...]:
        """Each step's rate as a multiple of the daily dose, so the day's dose is 1x."""
        ends = [*(s.seconds for s in self.starts[1:]), 86_400]
        total = sum(
            (
                w * (end - s.seconds)
                for w, s, end in zip(self.weights, self.starts, ends, strict=True)
            ),
            Fraction(0),
        )
        return tuple(w * 86_400 / total for w in self.weights)


@dataclass(frozen=True, slots=True)
class DrugMix:
    """How one drug is distributed over the fleet's patients (doses in mcg/day)."""

    id: str
    weight: float
    dose_median: float
    dose_gsd: float
    dose_min: Fraction
    dose_max: Fraction
    dose_step: Fraction
    concentrations: tuple[Concentration, ...]
    schedule_weights: Mapping[str, float]
    patient_bolus_probability: float
    bolus_fraction: Fraction


@dataclass(frozen=True, slots=True)
class PumpMix:
    id: str
    weight: float


@dataclass(frozen=True, slots=True)
class FleetParameters:
    """Everything the fleet model draws from (see fleet.toml for each number's kind)."""

    visit_hour: int
    booking_margin_days: int
    max_daily_volume_ml: Fraction
    no_show_probability: float
    rebook_days: int
    max_no_shows: int
    delay_probability: float
    delay_days_max: int
    low_alarm_report_probability: float
    empty_alarm_report_probability: float
    report_visit_days_max: int
    replacement_delay_days_min: int
    replacement_delay_days_max: int
    pumps: tuple[PumpMix, ...]
    accuracy_mean: Mapping[str, float]
    accuracy_sd: Mapping[str, float]
    bolus_duration_minutes: int
    bolus_lockout_hours: int
    bolus_max_per_24h: int
    habit_times: tuple[TimeOfDay, ...]
    uses_per_day_weights: tuple[float, ...]
    schedules: tuple[ScheduleTemplate, ...]
    drugs: tuple[DrugMix, ...]

    def schedule_index(self, schedule_id: str) -> int:
        for index, schedule in enumerate(self.schedules):
            if schedule.id == schedule_id:
                return index
        raise ValueError(f"unknown schedule {schedule_id!r}")


def _raw() -> dict[str, Any]:
    text = resources.files("thecal.science").joinpath("data", "fleet.toml").read_text("utf-8")
    return tomllib.loads(text)


def _entries(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every {value, kind} table in the file, with a dotted name."""
    found: list[tuple[str, dict[str, Any]]] = []
    for key, item in data.items():
        if key == "sources":
            continue
        name = f"{prefix}{key}"
        if isinstance(item, dict) and "value" in item and "kind" in item:
            found.append((name, item))
        elif isinstance(item, dict):
            found.extend(_entries(item, f"{name}."))
        elif isinstance(item, list):
            for index, element in enumerate(item):
                if isinstance(element, dict):
                    label = element.get("id", index)
                    found.extend(_entries(element, f"{name}[{label}]."))
    return found


def fleet_parameter_table() -> tuple[FleetParameter, ...]:
    """Every parameter in fleet.toml with its kind, source and note (for docs and tests)."""
    return tuple(
        FleetParameter(
            name,
            entry["value"],
            entry["kind"],
            entry.get("source"),
            entry.get("note", ""),
        )
        for name, entry in _entries(_raw())
    )


def fleet_sources() -> Mapping[str, Mapping[str, str]]:
    """The sources cited in fleet.toml: id -> {citation, url}."""
    return dict(_raw()["sources"])


def _v(entry: dict[str, Any]) -> Any:
    return entry["value"]


def _f(entry: dict[str, Any]) -> Fraction:
    return exact(str(_v(entry)))


@cache
def fleet_parameters() -> FleetParameters:
    """The shipped fleet parameters (validated: a bad file is a bug, `RuntimeError`)."""
    data = _raw()
    problems = [
        f"{name}: kind {entry['kind']!r} is not one of {', '.join(KINDS)}"
        for name, entry in _entries(data)
        if entry["kind"] not in KINDS
    ]
    problems += [
        f"{name}: source {entry['source']!r} is not in [sources]"
        for name, entry in _entries(data)
        if entry.get("source") is not None and entry["source"] not in data["sources"]
    ]
    if problems:
        raise RuntimeError("fleet.toml is invalid: " + "; ".join(problems))
    clinic, attend, repl, pb = (
        data["clinic"],
        data["attendance"],
        data["replacement"],
        data["patient_bolus"],
    )
    schedules = tuple(
        ScheduleTemplate(
            raw["id"],
            tuple(TimeOfDay.parse(t, f"schedules[{raw['id']}]") for t, _ in _v(raw["steps"])),
            tuple(exact(w) for _, w in _v(raw["steps"])),
        )
        for raw in data["schedules"]
    )
    drugs = tuple(
        DrugMix(
            id=raw["id"],
            weight=float(_f(raw["weight"])),
            dose_median=float(_f(raw["dose_median"])),
            dose_gsd=float(_f(raw["dose_gsd"])),
            dose_min=_f(raw["dose_min"]),
            dose_max=_f(raw["dose_max"]),
            dose_step=_f(raw["dose_step"]),
            concentrations=tuple(
                parse_concentration(c, f"drugs[{raw['id']}].concentrations")
                for c in _v(raw["concentrations"])
            ),
            schedule_weights={k: float(exact(w)) for k, w in _v(raw["schedule_weights"]).items()},
            patient_bolus_probability=float(_f(raw["patient_bolus_probability"])),
            bolus_fraction=_f(raw["bolus_fraction"]),
        )
        for raw in data["drugs"]
    )
    params = FleetParameters(
        visit_hour=int(_v(clinic["visit_hour"])),
        booking_margin_days=int(_v(clinic["booking_margin_days"])),
        max_daily_volume_ml=_f(clinic["max_daily_volume_ml"]),
        no_show_probability=float(_f(attend["no_show_probability"])),
        rebook_days=int(_v(attend["rebook_days"])),
        max_no_shows=int(_v(attend["max_no_shows"])),
        delay_probability=float(_f(attend["delay_probability"])),
        delay_days_max=int(_v(attend["delay_days_max"])),
        low_alarm_report_probability=float(_f(attend["low_alarm_report_probability"])),
        empty_alarm_report_probability=float(_f(attend["empty_alarm_report_probability"])),
        report_visit_days_max=int(_v(attend["report_visit_days_max"])),
        replacement_delay_days_min=int(_v(repl["delay_days_min"])),
        replacement_delay_days_max=int(_v(repl["delay_days_max"])),
        pumps=tuple(PumpMix(raw["id"], float(_f(raw["weight"]))) for raw in data["pumps"]),
        accuracy_mean={k: float(_f(v["mean"])) for k, v in data["accuracy"].items()},
        accuracy_sd={k: float(_f(v["sd"])) for k, v in data["accuracy"].items()},
        bolus_duration_minutes=int(_v(pb["duration_minutes"])),
        bolus_lockout_hours=int(_v(pb["lockout_hours"])),
        bolus_max_per_24h=int(_v(pb["max_per_24h"])),
        habit_times=tuple(
            TimeOfDay.parse(t, "patient_bolus.habit_times") for t in _v(pb["habit_times"])
        ),
        uses_per_day_weights=tuple(float(exact(w)) for w in _v(pb["uses_per_day_weights"])),
        schedules=schedules,
        drugs=drugs,
    )
    for drug in drugs:
        for name in drug.schedule_weights:
            params.schedule_index(name)  # an unknown schedule name is a bug in the file
    return params
