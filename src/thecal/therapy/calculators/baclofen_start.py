"""Baclofen: the initial daily infusion from an effective screening bolus (S57).

    effect longer than 8 h:   daily dose = screening dose
    effect of 8 h or less:    daily dose = 2 × screening dose
    hourly rate               = daily dose / 24

The threshold, both factors and the protocol's screening doses come from
`data/calculators.toml`. Exact arithmetic: the daily dose is never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from thecal.therapy.calculators.data import SourcedTable, read_packaged, require
from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.quantities import DoseRate, Duration, Mass, exact
from thecal.therapy.sourced import Sourced
from thecal.therapy.units import parse_duration, parse_mass

__all__ = ["BaclofenStart", "BaclofenStartRule", "baclofen_start", "baclofen_start_rule"]


@dataclass(frozen=True)
class BaclofenStartRule:
    """The sourced constants of the rule."""

    effect_threshold: Sourced[Duration]
    long_effect_factor: Sourced[Fraction]
    short_effect_factor: Sourced[Fraction]
    protocol_doses: Sourced[tuple[Mass, ...]]


@dataclass(frozen=True)
class BaclofenStart:
    """The initial daily dose and how it was reached."""

    screening_dose: Mass
    effect: Duration
    long_effect: bool
    factor: Fraction
    daily_dose: DoseRate
    source: str
    warnings: tuple[str, ...]

    @property
    def hourly_mcg(self) -> Fraction:
        """The same dose in mcg per hour (exact)."""
        return self.daily_dose.mcg_per_hour


def _factor(raw: object, where: str) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f'{where}: must be a number in quotes, e.g. "2"')
    value = exact(raw if isinstance(raw, int) else raw.strip())
    if value <= 0:
        raise ValueError(f"{where}: must be above zero")
    return value


def _doses(raw: object, where: str) -> tuple[Mass, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: must be a list of doses such as ['50 mcg']")
    return tuple(parse_mass(item, where) for item in raw)


@cache
def baclofen_start_rule() -> BaclofenStartRule:
    """The shipped rule (`data/calculators.toml`, section `baclofen_start`)."""
    table = SourcedTable(read_packaged("calculators.toml"), "calculators.toml")
    section = table.data.get("baclofen_start", {})
    where = "baclofen_start."
    threshold = table.sourced(section, "effect_threshold", where, parse_duration)
    long_factor = table.sourced(section, "long_effect_factor", where, _factor)
    short_factor = table.sourced(section, "short_effect_factor", where, _factor)
    doses = table.sourced(section, "protocol_doses", where, _doses)
    table.finish()
    return BaclofenStartRule(require(threshold), require(long_factor), require(short_factor),
                             require(doses))  # fmt: skip


def baclofen_start(
    screening_dose: Mass, effect: Duration, rule: BaclofenStartRule | None = None
) -> BaclofenStart:
    """The initial daily baclofen dose (mcg/day) from an effective screening bolus.

    `effect` is how long the screening bolus's effect lasted. No effect is refused: a
    patient must respond to screening before an implant (S59).
    """
    rule = rule or baclofen_start_rule()
    if screening_dose.amount <= 0:
        raise CalculatorInputError(
            "screening_dose", f"{screening_dose}", "the effective screening bolus, e.g. '50 mcg'"
        )
    if effect.amount <= 0:
        raise CalculatorInputError(
            "effect_hours",
            "no effect: a patient must respond to a screening dose before an implant (S59)",
            "how long the effect lasted, above 0 h",
        )
    threshold = rule.effect_threshold
    long_effect = effect > threshold.value
    chosen = rule.long_effect_factor if long_effect else rule.short_effect_factor
    daily = DoseRate(screening_dose.amount * chosen.value)
    warnings: list[str] = []
    protocol = rule.protocol_doses.value
    if screening_dose not in protocol:
        listed = ", ".join(str(dose) for dose in protocol)
        warnings.append(
            f"{screening_dose} is not a protocol screening dose ({listed}; "
            f"{rule.protocol_doses.provenance}): check the entry"
        )
    comparison = "longer than" if long_effect else "not longer than"
    return BaclofenStart(
        screening_dose=screening_dose,
        effect=effect,
        long_effect=long_effect,
        factor=chosen.value,
        daily_dose=daily,
        source=f"effect {comparison} {threshold.value}: {chosen.value}× the screening dose "
        f"({chosen.provenance})",
        warnings=tuple(warnings),
    )
