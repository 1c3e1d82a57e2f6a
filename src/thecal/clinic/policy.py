"""The clinic's scheduling policy: safety margins, escalation steps, battery planning.

Every number is `Sourced`: it names its published source or says it is a site
default, like the drug library. The reference policy ships in
`data/clinic_policy.toml`; a clinic may load its own file in the same format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from thecal.therapy.quantities import Duration
from thecal.therapy.sourced import Sourced, SourcedReader
from thecal.therapy.units import parse_duration

__all__ = ["ClinicPolicy", "PolicyError", "default_policy", "load_policy", "parse_policy"]


def _durations(raw: object, where: str) -> tuple[Duration, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: must be a non-empty list of durations, e.g. ['0 h', '12 h']")
    steps = tuple(parse_duration(item, f"{where}[{index}]") for index, item in enumerate(raw))
    if list(steps) != sorted(steps):
        raise ValueError(f"{where}: escalation steps must not decrease")
    return steps


@dataclass(frozen=True)
class ClinicPolicy:
    """Scheduling numbers, each with its provenance."""

    name: str
    refill_margin: Sourced[Duration]
    high_risk_refill_margin: Sourced[Duration]
    refill_remind_before: Sourced[Duration]
    high_risk_refill_remind_before: Sourced[Duration]
    escalation_steps: Sourced[tuple[Duration, ...]]
    high_risk_escalation_steps: Sourced[tuple[Duration, ...]]
    battery_replacement_lead: Sourced[Duration]
    battery_warn_before_replacement: Sourced[Duration]
    appointment_remind_before: Sourced[Duration]
    sources: dict[str, str]

    def margin(self, high_risk: bool) -> Sourced[Duration]:
        """The safety margin before the low-reservoir alarm date."""
        return self.high_risk_refill_margin if high_risk else self.refill_margin

    def remind_before(self, high_risk: bool) -> Sourced[Duration]:
        return self.high_risk_refill_remind_before if high_risk else self.refill_remind_before

    def escalation(self, high_risk: bool) -> tuple[Duration, ...]:
        """Time past the due time at which escalation levels 1, 2, 3, ... are raised."""
        chosen = self.high_risk_escalation_steps if high_risk else self.escalation_steps
        return chosen.value


class PolicyError(ValueError):
    """A policy file that does not validate; `problems` lists every problem."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"clinic policy {origin}: " + "; ".join(problems))


_FIELDS: tuple[tuple[str, str, str, Any], ...] = (
    ("refill_margin", "refill", "margin", parse_duration),
    ("high_risk_refill_margin", "refill", "high_risk_margin", parse_duration),
    ("refill_remind_before", "refill", "remind_before", parse_duration),
    ("high_risk_refill_remind_before", "refill", "high_risk_remind_before", parse_duration),
    ("escalation_steps", "escalation", "steps", _durations),
    ("high_risk_escalation_steps", "escalation", "high_risk_steps", _durations),
    ("battery_replacement_lead", "battery", "replacement_lead", parse_duration),
    ("battery_warn_before_replacement", "battery", "warn_before_replacement", parse_duration),
    ("appointment_remind_before", "appointments", "remind_before", parse_duration),
)


def parse_policy(text: str, origin: str = "<text>") -> ClinicPolicy:
    """Build a policy from TOML text; `PolicyError` lists every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(origin, [f"not valid TOML: {error}"]) from None
    problems: list[str] = []
    if data.get("schema") != 1:
        problems.append("schema: must be 1")
    sources = {k: v for k, v in data.get("sources", {}).items() if isinstance(v, str)}
    reader = SourcedReader(sources, problems)
    values: dict[str, Any] = {}
    if "reconciliation" in data:
        # Moved: a clinic's own tolerance here would silently disagree with the pump's.
        problems.append(
            "reconciliation: the refill reconciliation thresholds are no longer clinic "
            "policy; they are the refill rules the pump uses too (thecal.therapy.refill, "
            "refill_rules.toml); remove this section"
        )
    for name, table, key, parse in _FIELDS:
        section = data.get(table, {})
        raw = section.get(key) if isinstance(section, dict) else None
        values[name] = reader.sourced(f"{table}.{key}", raw, parse)
    if problems:
        raise PolicyError(origin, problems)
    return ClinicPolicy(name=str(data.get("name", origin)), sources=sources, **values)


def load_policy(path: str | Path) -> ClinicPolicy:
    """Read and validate a clinic's policy file."""
    file = Path(path)
    return parse_policy(file.read_text(encoding="utf-8"), origin=str(file))


_DEFAULT: ClinicPolicy | None = None


def default_policy() -> ClinicPolicy:
    """The reference policy shipped with thecal (validated once, then cached)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("thecal.clinic").joinpath("data/clinic_policy.toml").read_text()
        _DEFAULT = parse_policy(text, origin="thecal reference clinic policy")
    return _DEFAULT
