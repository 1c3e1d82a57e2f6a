"""The refill rules' data: reconciliation thresholds and what an empty reservoir means.

Read from `data/refill_rules.toml`, every value sourced or labelled a site default:

* `reading_tolerance`: how exactly an aspirate is known; no discrepancy is flagged
  below it;
* `nearly_empty`: an aspirate at or below it is an empty reservoir, always flagged;
* per `InterruptionRisk`, the guidance for a pump found empty: a title, how long to
  watch, the signs and the actions (baclofen: withdrawal watch; opioids: restart
  precautions; other drugs: therapy interrupted).

The per-model discrepancy limit and accuracy band are pump-model facts
(`PumpModel.refill_discrepancy_limit`, `accuracy_percent`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from thecal.therapy.calculators.data import SourcedTable, read_packaged, require
from thecal.therapy.library import DrugEntry
from thecal.therapy.quantities import Duration, Volume
from thecal.therapy.sourced import Sourced
from thecal.therapy.units import parse_duration, parse_volume

__all__ = [
    "InterruptionGuidance",
    "InterruptionRisk",
    "RefillRules",
    "interruption_risk",
    "parse_refill_rules",
    "refill_rules",
]


class InterruptionRisk(StrEnum):
    """What an interruption of delivery (an empty reservoir) means for the drug."""

    WITHDRAWAL_WATCH = "withdrawal_watch"
    """Abrupt withdrawal can be life-threatening (the library's `high_risk_withdrawal`:
    baclofen)."""
    RESTART_PRECAUTIONS = "restart_precautions"
    """An opioid: tolerance may be lost, the restart needs care."""
    THERAPY_INTERRUPTED = "therapy_interrupted"
    """Any other drug, or one the library does not know."""


def interruption_risk(drug: DrugEntry | None) -> InterruptionRisk:
    """The interruption risk of a library drug (None: a drug the library does not know)."""
    if drug is None:
        return InterruptionRisk.THERAPY_INTERRUPTED
    if drug.high_risk_withdrawal.value:
        return InterruptionRisk.WITHDRAWAL_WATCH
    if drug.opioid:
        return InterruptionRisk.RESTART_PRECAUTIONS
    return InterruptionRisk.THERAPY_INTERRUPTED


@dataclass(frozen=True)
class InterruptionGuidance:
    """What to do when a pump holding a drug of this risk is found empty."""

    risk: InterruptionRisk
    title: Sourced[str]
    watch: Sourced[Duration]
    signs: Sourced[tuple[str, ...]]
    actions: tuple[Sourced[str], ...]


@dataclass(frozen=True)
class RefillRules:
    """The refill rules' thresholds and guidance, each with its provenance."""

    reading_tolerance: Sourced[Volume]
    nearly_empty: Sourced[Volume]
    interruptions: Mapping[InterruptionRisk, InterruptionGuidance]
    sources: Mapping[str, str]

    def guidance(self, risk: InterruptionRisk) -> InterruptionGuidance:
        return self.interruptions[risk]

    def cite(self, sourced: Sourced[Any]) -> str:
        """Full citation text of a value, or the site-default statement."""
        if sourced.site_default or sourced.source is None:
            return "site default (no published value found)"
        return self.sources.get(sourced.source, sourced.source)


def _text(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{where}: must be non-empty text")
    return raw.strip()


def _texts(raw: object, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: must be a non-empty list of text")
    return tuple(_text(item, f"{where}[{index}]") for index, item in enumerate(raw))


def _positive_volume(raw: object, where: str) -> Volume:
    volume = parse_volume(raw, where)
    if volume.amount < 0:
        raise ValueError(f"{where}: must not be negative")
    return volume


def parse_refill_rules(text: str, origin: str = "<text>") -> RefillRules:
    """Read a refill-rules file; `DataFileError` names every problem at once."""
    table = SourcedTable(text, origin)
    data = table.data
    rec = data.get("reconciliation", {})
    if not isinstance(rec, dict):
        table.problems.append("reconciliation: must be a table")
        rec = {}
    tolerance = table.sourced(rec, "reading_tolerance", "reconciliation.", _positive_volume)
    empty = table.sourced(rec, "nearly_empty", "reconciliation.", _positive_volume)
    interruptions: dict[InterruptionRisk, InterruptionGuidance] = {}
    seen: set[InterruptionRisk] = set()
    raw_list = data.get("interruption", [])
    if not isinstance(raw_list, list):
        table.problems.append("interruption: must be an array of tables [[interruption]]")
        raw_list = []
    for index, raw in enumerate(raw_list):
        where = f"interruption[{index}]."
        if not isinstance(raw, dict):
            table.problems.append(f"{where[:-1]}: must be a table")
            continue
        try:
            risk = InterruptionRisk(str(raw.get("risk")))
        except ValueError:
            accepted = ", ".join(r.value for r in InterruptionRisk)
            table.problems.append(f"{where}risk: {raw.get('risk')!r} is not one of {accepted}")
            continue
        if risk in seen:
            table.problems.append(f"{where}risk: {risk.value} is given twice")
            continue
        seen.add(risk)
        title = table.sourced(raw, "title", where, _text)
        watch = table.sourced(raw, "watch", where, parse_duration)
        signs = table.sourced(raw, "signs", where, _texts)
        raw_actions = raw.get("actions")
        actions: list[Sourced[str]] = []
        if not isinstance(raw_actions, list) or not raw_actions:
            table.problems.append(f"{where}actions: must be a non-empty list of sourced text")
        else:
            for number, item in enumerate(raw_actions):
                action = table.reader.sourced(f"{where}actions[{number}]", item, _text)
                if action is not None:
                    actions.append(action)
        if title is not None and watch is not None and signs is not None:
            interruptions[risk] = InterruptionGuidance(risk, title, watch, signs, tuple(actions))
    for risk in InterruptionRisk:
        if risk not in seen:
            table.problems.append(f"interruption: no guidance for {risk.value}")
    table.finish()
    return RefillRules(require(tolerance), require(empty), interruptions, table.sources)


_RULES: RefillRules | None = None


def refill_rules() -> RefillRules:
    """The shipped refill rules (`data/refill_rules.toml`), read once."""
    global _RULES
    if _RULES is None:
        _RULES = parse_refill_rules(read_packaged("refill_rules.toml"), "refill_rules.toml")
    return _RULES
