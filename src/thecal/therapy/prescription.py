"""Prescriptions: what a pump is told to deliver.

A `Prescription` is an immutable value: a drug, a concentration, a mode and the
settings that mode needs, plus optional patient-bolus settings. It validates its
own structure when built (a flex schedule must start at midnight, a lockout may
not be shorter than the bolus it guards, ...) and raises `PrescriptionError`
listing every structural problem. Whether it is *safe* is a separate question,
answered by `thecal.therapy.safety.evaluate`.

Its `content_hash` is a stable SHA-256 over a canonical form of the therapy
content; the pump accepts a prescription only with the matching hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

from thecal.therapy.quantities import (
    SECONDS_PER_DAY,
    Concentration,
    DoseRate,
    Duration,
    Mass,
)

__all__ = [
    "MAX_FLEX_STEPS",
    "Bolus",
    "FlexStep",
    "Mode",
    "PatientBolus",
    "PeriodicBolus",
    "Prescription",
    "PrescriptionError",
    "TimeOfDay",
]

MAX_FLEX_STEPS = 48
"""Most time-of-day steps a prescription may hold (a pump model may hold fewer)."""


class Mode(StrEnum):
    """How the pump delivers (the N'Vision-era mode set, plus flex and minimum rate)."""

    STOPPED = "stopped"
    MINIMUM_RATE = "minimum_rate"
    SIMPLE_CONTINUOUS = "simple_continuous"
    FLEX = "flex"
    SINGLE_BOLUS = "single_bolus"
    PERIODIC_BOLUS = "periodic_bolus"


class PrescriptionError(ValueError):
    """A prescription that is not well formed; `problems` names each problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid prescription: " + "; ".join(problems))


_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, order=True)
class TimeOfDay:
    """A time on the pump's local 24-hour clock, to the minute."""

    minute: int

    def __post_init__(self) -> None:
        if isinstance(self.minute, bool) or not isinstance(self.minute, int):
            raise TypeError("TimeOfDay.minute must be an int")
        if not 0 <= self.minute < 24 * 60:
            raise ValueError(f"time of day must be 00:00 to 23:59, not minute {self.minute}")

    @classmethod
    def parse(cls, text: object, field_name: str = "time") -> TimeOfDay:
        """Parse ``"HH:MM"`` (24-hour clock)."""
        accepted = "a 24-hour time HH:MM from 00:00 to 23:59, e.g. '06:30'"
        if not isinstance(text, str):
            raise ValueError(f"{field_name}: {text!r} is not text; accepted: {accepted}")
        match = _CLOCK.match(text)
        if match is None:
            raise ValueError(f"{field_name}: {text!r} is not a time; accepted: {accepted}")
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            raise ValueError(f"{field_name}: {text!r} is out of range; accepted: {accepted}")
        return cls(hour * 60 + minute)

    @property
    def seconds(self) -> int:
        """Seconds after local midnight."""
        return self.minute * 60

    def __str__(self) -> str:
        return f"{self.minute // 60:02d}:{self.minute % 60:02d}"


@dataclass(frozen=True)
class FlexStep:
    """From `start` until the next step's start, deliver `dose_rate`."""

    start: TimeOfDay
    dose_rate: DoseRate


@dataclass(frozen=True)
class Bolus:
    """A dose delivered evenly over a duration."""

    dose: Mass
    duration: Duration


@dataclass(frozen=True)
class PeriodicBolus:
    """A bolus repeated every `interval`, the first each day at `first_start`."""

    bolus: Bolus
    interval: Duration
    first_start: TimeOfDay

    def starts(self) -> tuple[int, ...]:
        """Start times of the day's boluses, seconds after local midnight, ascending."""
        step = int(self.interval.seconds)
        count = SECONDS_PER_DAY // step
        return tuple(sorted((self.first_start.seconds + k * step) % SECONDS_PER_DAY
                            for k in range(count)))  # fmt: skip


@dataclass(frozen=True)
class PatientBolus:
    """What the patient controller may request: one dose over `duration`, at most
    `max_per_24h` in any rolling 24 hours, each at least `lockout` after the last start."""

    dose: Mass
    duration: Duration
    lockout: Duration
    max_per_24h: int

    def worst_case_count_per_24h(self) -> int:
        """Most boluses that can start within any 24 hours: the cap or the lockout, whichever
        binds (lockout L allows ceil(24 h / L) starts in a 24-hour window)."""
        by_lockout = -(-SECONDS_PER_DAY // int(self.lockout.seconds))
        return min(self.max_per_24h, by_lockout)


def _whole_seconds(value: Duration, name: str, problems: list[str], positive: bool = True) -> None:
    if value.seconds.denominator != 1:
        problems.append(f"{name}: {value} must be a whole number of seconds")
    if positive and value.seconds <= 0:
        problems.append(f"{name}: must be longer than zero")


@dataclass(frozen=True)
class Prescription:
    """A complete, immutable prescription.

    Problems are named as in the prescription file (`periodic_bolus` for `periodic`).
    Mode settings: `rate` for simple continuous (and as the background rate under
    periodic boluses), `steps` for flex, `bolus` for a single bolus, `periodic`
    for periodic boluses. Settings that the mode does not use must be absent.
    """

    drug: str
    concentration: Concentration
    mode: Mode
    rate: DoseRate | None = None
    steps: tuple[FlexStep, ...] = ()
    bolus: Bolus | None = None
    periodic: PeriodicBolus | None = None
    patient_bolus: PatientBolus | None = None
    _hash: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise PrescriptionError(problems)
        object.__setattr__(self, "drug", self.drug.strip().lower())
        canonical = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "_hash", hashlib.sha256(canonical.encode()).hexdigest())

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if not isinstance(self.drug, str) or not self.drug.strip():
            problems.append("drug: missing")
        if not isinstance(self.mode, Mode):
            problems.append(f"mode: {self.mode!r} is not a mode")
            return problems
        if self.concentration.amount <= 0:
            problems.append("concentration: must be more than zero")
        uses = {
            Mode.STOPPED: set(),
            Mode.MINIMUM_RATE: set(),
            Mode.SIMPLE_CONTINUOUS: {"rate"},
            Mode.FLEX: {"steps"},
            Mode.SINGLE_BOLUS: {"bolus"},
            Mode.PERIODIC_BOLUS: {"periodic_bolus", "rate"},
        }[self.mode]
        present = {
            "rate": self.rate is not None,
            "steps": bool(self.steps),
            "bolus": self.bolus is not None,
            "periodic_bolus": self.periodic is not None,
        }
        for name, is_present in present.items():
            if is_present and name not in uses:
                problems.append(f"{name}: not used in {self.mode.value} mode; remove it")
        required = uses - ({"rate"} if self.mode is Mode.PERIODIC_BOLUS else set())
        for name in sorted(required):
            if not present[name]:
                problems.append(f"{name}: required in {self.mode.value} mode")
        if self.rate is not None and self.rate.amount < 0:
            problems.append("rate: must not be negative")
        if self.mode is Mode.SIMPLE_CONTINUOUS and self.rate is not None and self.rate.amount == 0:
            problems.append("rate: zero in simple continuous mode; use stopped mode to stop")
        if self.steps:
            if len(self.steps) > MAX_FLEX_STEPS:
                problems.append(f"steps: {len(self.steps)} steps; at most {MAX_FLEX_STEPS}")
            if self.steps[0].start.minute != 0:
                problems.append("steps: the first step must start at 00:00")
            for before, after in zip(self.steps, self.steps[1:], strict=False):
                if after.start <= before.start:
                    problems.append(
                        f"steps: start times must increase ({before.start} then {after.start})"
                    )
            for step in self.steps:
                if step.dose_rate.amount < 0:
                    problems.append(f"steps: the rate from {step.start} is negative")
        for name, bolus in (
            ("bolus", self.bolus),
            ("periodic_bolus", self.periodic and self.periodic.bolus),
        ):
            if bolus:
                if bolus.dose.amount <= 0:
                    problems.append(f"{name}.dose: must be more than zero")
                _whole_seconds(bolus.duration, f"{name}.duration", problems)
        if self.periodic is not None:
            interval = self.periodic.interval
            _whole_seconds(interval, "periodic_bolus.interval", problems)
            if interval.seconds > 0 and interval.seconds.denominator == 1:
                if SECONDS_PER_DAY % int(interval.seconds) != 0:
                    problems.append(
                        f"periodic_bolus.interval: {interval} must divide 24 h evenly "
                        "(e.g. 4 h, 6 h, 8 h, 12 h, 24 h) so boluses recur at the same times daily"
                    )
                if interval < self.periodic.bolus.duration:
                    problems.append("periodic_bolus.interval: shorter than the bolus duration")
        if self.patient_bolus is not None:
            pb = self.patient_bolus
            if self.mode in (Mode.STOPPED, Mode.MINIMUM_RATE, Mode.SINGLE_BOLUS):
                problems.append(f"patient_bolus: not available in {self.mode.value} mode")
            if pb.dose.amount <= 0:
                problems.append("patient_bolus.dose: must be more than zero")
            _whole_seconds(pb.duration, "patient_bolus.duration", problems)
            _whole_seconds(pb.lockout, "patient_bolus.lockout", problems)
            if pb.lockout < pb.duration:
                problems.append(
                    f"patient_bolus.lockout: {pb.lockout} is shorter than the bolus duration "
                    f"{pb.duration}"
                )
            if isinstance(pb.max_per_24h, bool) or not isinstance(pb.max_per_24h, int):
                problems.append("patient_bolus.max_per_24h: must be a whole number")
            elif pb.max_per_24h < 1:
                problems.append("patient_bolus.max_per_24h: must be at least 1")
        return problems

    def __hash__(self) -> int:
        return hash(self._hash)

    @property
    def content_hash(self) -> str:
        """Stable SHA-256 (hex) of the therapy content; equal prescriptions, equal hashes."""
        return self._hash

    def canonical(self) -> dict[str, Any]:
        """A plain, exact, ordered representation: the input to `content_hash`.

        Quantities are exact fractions in base units (mcg, mL, s, mcg/mL, mcg/day).
        """

        def q(value: Any) -> str:
            return str(Fraction(value.amount))

        data: dict[str, Any] = {
            "format": 1,
            "drug": self.drug.strip().lower(),
            "concentration_mcg_per_ml": q(self.concentration),
            "mode": self.mode.value,
        }
        if self.rate is not None:
            data["rate_mcg_per_day"] = q(self.rate)
        if self.steps:
            data["steps"] = [[step.start.minute, q(step.dose_rate)] for step in self.steps]
        if self.bolus is not None:
            data["bolus"] = [q(self.bolus.dose), q(self.bolus.duration)]
        if self.periodic is not None:
            data["periodic"] = [
                q(self.periodic.bolus.dose),
                q(self.periodic.bolus.duration),
                q(self.periodic.interval),
                self.periodic.first_start.minute,
            ]
        if self.patient_bolus is not None:
            pb = self.patient_bolus
            data["patient_bolus"] = [q(pb.dose), q(pb.duration), q(pb.lockout), pb.max_per_24h]
        return data

    @property
    def delivers(self) -> bool:
        """True unless the mode is stopped."""
        return self.mode is not Mode.STOPPED
