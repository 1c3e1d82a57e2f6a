"""The one safety evaluator.

`evaluate(proposed, library, context)` is the single place where a proposed
prescription is judged. The clinician programmer, the patient controller, the
clinic API and the web pages all call it; the pump firmware calls
`evaluate_hard_limits`, the context-free subset of the same rules, before it
accepts a write (defence in depth, same rules, same library data).

Each rule yields a `Verdict`: allowed, warning (a soft limit: the user must state
a reason to override it) or refused (a hard limit). A verdict names its rule, the
value it judged and the bound it was held to, and where that bound comes from.
Nothing is clamped: a value outside a limit is reported, never silently changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from thecal.therapy.delivery import (
    patient_bolus_worst_case_daily_dose,
    programmed_daily_dose,
    volume_rates,
)
from thecal.therapy.library import DrugEntry, DrugLibrary
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import DoseRate, Duration, Mass, VolumeRate, decimal_text
from thecal.therapy.sourced import Sourced

__all__ = [
    "HOUR_DAY_SLIP_BAND",
    "TENFOLD",
    "Confirmation",
    "Context",
    "Evaluation",
    "Outcome",
    "Rule",
    "Verdict",
    "confirm",
    "evaluate",
    "evaluate_hard_limits",
]

TENFOLD = Fraction(10)
"""A change of this factor or more against the current daily dose is a classic error."""

HOUR_DAY_SLIP_BAND = (Fraction(20), Fraction(28))
"""A new daily dose 20-28 times the current one looks like a per-hour value typed per day."""


class Outcome(StrEnum):
    ALLOWED = "allowed"
    WARNING = "warning"
    REFUSED = "refused"


class Rule(StrEnum):
    """The rules the evaluator applies, in the order it applies them."""

    DRUG_IN_LIBRARY = "drug_in_library"
    CONCENTRATION_IN_LIBRARY = "concentration_in_library"
    OFF_LABEL = "off_label"
    PUMP_PROGRAMMABLE = "pump_programmable"
    FLEX_STEPS = "flex_steps"
    PUMP_RATE = "pump_rate"
    DAILY_DOSE = "daily_dose"
    BOLUS_DOSE = "bolus_dose"
    TENFOLD_CHANGE = "tenfold_change"
    HOUR_DAY_SLIP = "hour_day_slip"
    TITRATION_STEP = "titration_step"
    TITRATION_INTERVAL = "titration_interval"
    BRIDGE_BOLUS = "bridge_bolus"
    WITHDRAWAL_RISK = "withdrawal_risk"


HARD_LIMIT_RULES = frozenset(
    {
        Rule.DRUG_IN_LIBRARY,
        Rule.CONCENTRATION_IN_LIBRARY,
        Rule.PUMP_PROGRAMMABLE,
        Rule.FLEX_STEPS,
        Rule.PUMP_RATE,
        Rule.DAILY_DOSE,
        Rule.BOLUS_DOSE,
    }
)
"""Rules that need no history: the ones the pump firmware re-checks itself."""


@dataclass(frozen=True)
class Verdict:
    """One rule's judgement of a proposed prescription."""

    rule: Rule
    outcome: Outcome
    message: str
    value: str | None = None
    bound: str | None = None
    source: str | None = None

    @property
    def needs_reason(self) -> bool:
        """A soft-limit warning: the user must state why they override it."""
        return self.outcome is Outcome.WARNING


@dataclass(frozen=True)
class Context:
    """What the evaluator needs to know besides the proposal itself.

    `now` and `last_increase_at` are on the same clock (the programmer's); the
    evaluator never reads a clock itself.
    """

    current: Prescription | None = None
    last_increase_at: datetime | None = None
    now: datetime | None = None
    pump: PumpModel | None = None


@dataclass(frozen=True)
class Evaluation:
    """All verdicts for one proposal."""

    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True when no rule refused (warnings still need reasons before writing)."""
        return not self.refusals

    @property
    def refusals(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.outcome is Outcome.REFUSED)

    @property
    def warnings(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.outcome is Outcome.WARNING)

    def verdict(self, rule: Rule) -> Verdict | None:
        """The verdict of one rule, if that rule applied."""
        for verdict in self.verdicts:
            if verdict.rule is rule:
                return verdict
        return None


@dataclass(frozen=True)
class Confirmation:
    """The outcome of confirming an evaluation with override reasons."""

    confirmed: bool
    refusals: tuple[Verdict, ...] = ()
    missing_reasons: tuple[Rule, ...] = ()
    overrides: Mapping[Rule, str] = field(default_factory=dict)

    def explain(self) -> str:
        if self.confirmed:
            return "confirmed"
        parts = [f"refused by {v.rule.value}: {v.message}" for v in self.refusals]
        if self.missing_reasons:
            names = ", ".join(rule.value for rule in self.missing_reasons)
            parts.append(f"a reason is needed to override: {names}")
        return "; ".join(parts)


def confirm(evaluation: Evaluation, reasons: Mapping[Rule | str, str]) -> Confirmation:
    """Confirm a proposal: nothing refused, and a non-empty reason for every warning."""
    given = {Rule(rule): text.strip() for rule, text in reasons.items() if text and text.strip()}
    missing = tuple(v.rule for v in evaluation.warnings if v.rule not in given)
    overrides = {v.rule: given[v.rule] for v in evaluation.warnings if v.rule in given}
    ok = evaluation.allowed and not missing
    return Confirmation(ok, evaluation.refusals, missing, overrides if ok else {})


# ---------------------------------------------------------------------------
# Rules


def _cite(library: DrugLibrary, sourced: Sourced[Any]) -> str:
    if sourced.site_default:
        return sourced.unsourced_kind
    return f"{sourced.source}: {library.cite(sourced)}"


def _against(
    rule: Rule,
    library: DrugLibrary,
    what: str,
    value: Mass | DoseRate,
    soft: Sourced[Mass] | Sourced[DoseRate] | None,
    hard: Sourced[Mass] | Sourced[DoseRate] | None,
    detail: str = "",
) -> Verdict:
    """Hold a value to a soft and a hard maximum; equal to a limit is within it."""
    if hard is not None and value > hard.value:  # type: ignore[operator]
        return Verdict(
            rule,
            Outcome.REFUSED,
            f"{what} {value}{detail} is above the hard limit {hard.value} ({hard.provenance})",
            str(value),
            str(hard.value),
            _cite(library, hard),
        )
    if soft is not None and value > soft.value:  # type: ignore[operator]
        return Verdict(
            rule,
            Outcome.WARNING,
            f"{what} {value}{detail} is above the soft limit {soft.value} ({soft.provenance}); "
            "state a reason to override",
            str(value),
            str(soft.value),
            _cite(library, soft),
        )
    bound = soft or hard
    return Verdict(
        rule,
        Outcome.ALLOWED,
        f"{what} {value}{detail} is within limits",
        str(value),
        str(bound.value) if bound else None,
        _cite(library, bound) if bound else None,
    )


def _per_day(mass: Mass) -> DoseRate:
    return DoseRate(mass.amount)


def _minimum_rate(pump: PumpModel | None) -> VolumeRate | None:
    return pump.minimum_rate.value if pump is not None else None


def _daily(prescription: Prescription, pump: PumpModel | None) -> DoseRate | None:
    """Programmed daily dose, or None when it cannot be known (minimum rate, no pump)."""
    if prescription.mode is Mode.MINIMUM_RATE and pump is None:
        return None
    return _per_day(programmed_daily_dose(prescription, _minimum_rate(pump)))


def _library_rules(
    proposed: Prescription, library: DrugLibrary
) -> tuple[list[Verdict], DrugEntry | None]:
    drug = library.find(proposed.drug)
    if drug is None:
        return [
            Verdict(
                Rule.DRUG_IN_LIBRARY,
                Outcome.REFUSED,
                f"drug {proposed.drug!r} is not in the library ({library.name}); "
                f"accepted: {library.drug_ids()}",
                proposed.drug,
            )
        ], None
    verdicts = [
        Verdict(Rule.DRUG_IN_LIBRARY, Outcome.ALLOWED, f"{drug.name} is in the library", drug.id)
    ]
    entry = drug.concentration_entry(proposed.concentration)
    listed = ", ".join(str(c.concentration.value) for c in drug.concentrations)
    if entry is None:
        verdicts.append(
            Verdict(
                Rule.CONCENTRATION_IN_LIBRARY,
                Outcome.REFUSED,
                f"{proposed.concentration} is not a library concentration of {drug.id}; "
                f"accepted: {listed}",
                str(proposed.concentration),
                listed,
            )
        )
    else:
        verdicts.append(
            Verdict(
                Rule.CONCENTRATION_IN_LIBRARY,
                Outcome.ALLOWED,
                f"{proposed.concentration} is a library concentration of {drug.id}",
                str(proposed.concentration),
                listed,
                _cite(library, entry.concentration),
            )
        )
    return verdicts, drug


def _off_label(
    proposed: Prescription, drug: DrugEntry, library: DrugLibrary, current: Prescription | None
) -> Verdict:
    approved = drug.approved_for_pump
    if approved.value:
        return Verdict(
            Rule.OFF_LABEL,
            Outcome.ALLOWED,
            f"{drug.id} is approved for implanted pumps",
            source=_cite(library, approved),
        )
    if current is not None and current.drug == drug.id:
        return Verdict(
            Rule.OFF_LABEL,
            Outcome.ALLOWED,
            f"{drug.id} is off-label for implanted pumps; continuing the current drug",
            source=_cite(library, approved),
        )
    return Verdict(
        Rule.OFF_LABEL,
        Outcome.WARNING,
        f"{drug.id} is not approved for implanted pumps (off-label); unapproved drugs are "
        "associated with more pump failures; state a reason to use it",
        drug.id,
        source=_cite(library, approved),
    )


def _pump_rules(proposed: Prescription, pump: PumpModel) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if not pump.programmable:
        return [
            Verdict(
                Rule.PUMP_PROGRAMMABLE,
                Outcome.REFUSED,
                f"{pump.label} cannot be programmed; "
                f"its rate is fixed at {pump.minimum_rate.value}",
                pump.id,
            )
        ]
    if proposed.mode is Mode.FLEX:
        limit = pump.max_flex_steps.value
        count = len(proposed.steps)
        verdicts.append(
            Verdict(
                Rule.FLEX_STEPS,
                Outcome.REFUSED if count > limit else Outcome.ALLOWED,
                f"{count} flex steps; {pump.label} holds at most {limit}",
                str(count),
                str(limit),
                pump.max_flex_steps.provenance,
            )
        )
    low, high = pump.min_volume_rate.value, pump.max_volume_rate.value
    bolus_high = pump.max_bolus_volume_rate.value
    rates = volume_rates(proposed, pump.minimum_rate.value)
    worst: Verdict | None = None
    for rate in rates:
        if rate < low and proposed.mode is not Mode.MINIMUM_RATE:
            worst = Verdict(
                Rule.PUMP_RATE,
                Outcome.REFUSED,
                f"volume rate {rate} is below the lowest rate {low} the pump can run "
                "(choose a lower concentration or a higher dose)",
                str(rate),
                str(low),
                pump.min_volume_rate.provenance,
            )
            break
        if rate > max(high, bolus_high):
            worst = Verdict(
                Rule.PUMP_RATE,
                Outcome.REFUSED,
                f"volume rate {rate} is above the highest rate {max(high, bolus_high)} the pump "
                "can run (choose a higher concentration or a longer bolus)",
                str(rate),
                str(max(high, bolus_high)),
                pump.max_volume_rate.provenance,
            )
            break
    if worst is None:
        span = f"{min(rates)} to {max(rates)}" if rates else "no delivery"
        worst = Verdict(
            Rule.PUMP_RATE,
            Outcome.ALLOWED,
            f"volume rates ({span}) are within what {pump.label} can run",
            span,
            f"{low} to {max(high, bolus_high)}",
        )
    verdicts.append(worst)
    return verdicts


def _dose_rules(
    proposed: Prescription, drug: DrugEntry, library: DrugLibrary, pump: PumpModel | None
) -> tuple[list[Verdict], list[str]]:
    verdicts: list[Verdict] = []
    notes: list[str] = []
    programmed = _daily(proposed, pump)
    if programmed is None:
        notes.append("minimum-rate dose not checked: no pump model given")
    else:
        extra = _per_day(patient_bolus_worst_case_daily_dose(proposed))
        detail = ""
        if extra:
            detail = f" (programmed {programmed} + patient boluses {extra})"
        verdicts.append(
            _against(
                Rule.DAILY_DOSE,
                library,
                "worst-case daily dose",
                programmed + extra,
                drug.daily_dose_soft_max,
                drug.daily_dose_hard_max,
                detail,
            )
        )
    boluses: list[tuple[str, Mass]] = []
    if proposed.bolus is not None:
        boluses.append(("single bolus", proposed.bolus.dose))
    if proposed.periodic is not None:
        boluses.append(("periodic bolus", proposed.periodic.bolus.dose))
    if proposed.patient_bolus is not None:
        boluses.append(("patient bolus", proposed.patient_bolus.dose))
    if boluses:
        judged = [
            _against(
                Rule.BOLUS_DOSE,
                library,
                name,
                dose,
                drug.bolus_dose_soft_max,
                drug.bolus_dose_hard_max,
            )
            for name, dose in boluses
        ]
        order = {Outcome.REFUSED: 0, Outcome.WARNING: 1, Outcome.ALLOWED: 2}
        verdicts.append(min(judged, key=lambda v: order[v.outcome]))
    return verdicts, notes


def _ratio_text(ratio: Fraction) -> str:
    return f"{decimal_text(ratio, 2)}×"


def _change_rules(
    proposed: Prescription,
    drug: DrugEntry,
    library: DrugLibrary,
    context: Context,
) -> tuple[list[Verdict], list[str]]:
    current = context.current
    verdicts: list[Verdict] = []
    notes: list[str] = []
    if current is None:
        notes.append("no current prescription: change, titration and bridge rules do not apply")
        return verdicts, notes
    same_drug = current.drug == drug.id
    if not same_drug or current.concentration != proposed.concentration:
        what = (
            f"drug change {current.drug} → {drug.id}"
            if not same_drug
            else f"concentration change {current.concentration} → {proposed.concentration}"
        )
        verdicts.append(
            Verdict(
                Rule.BRIDGE_BOLUS,
                Outcome.WARNING,
                f"{what}: the old solution in the pump tubing and catheter must be bridged "
                "(use the bridge-bolus calculator); state how it is handled",
                what,
            )
        )
    else:
        verdicts.append(
            Verdict(Rule.BRIDGE_BOLUS, Outcome.ALLOWED, "same drug and concentration: no bridge")
        )
    current_entry = library.find(current.drug)
    if current_entry is not None and current_entry.high_risk_withdrawal.value:
        stopping = proposed.mode is Mode.STOPPED or not same_drug
        verdicts.append(
            Verdict(
                Rule.WITHDRAWAL_RISK,
                Outcome.WARNING if stopping else Outcome.ALLOWED,
                (
                    f"stopping {current.drug} abruptly can cause a life-threatening withdrawal; "
                    "state the plan"
                    if stopping
                    else f"{current.drug} continues"
                ),
                current.drug,
                source=_cite(library, current_entry.high_risk_withdrawal),
            )
        )
    if not same_drug:
        notes.append("drug changes: dose comparisons with the old drug do not apply")
        return verdicts, notes
    new_daily = _daily(proposed, context.pump)
    old_daily = _daily(current, context.pump)
    if new_daily is None or old_daily is None:
        notes.append("dose change not compared: minimum-rate dose needs a pump model")
        return verdicts, notes
    if old_daily.amount == 0:
        notes.append("the current prescription delivers nothing: no ratio to compare")
    else:
        ratio = new_daily.ratio(old_daily)
        verdicts.append(_tenfold(ratio, new_daily, old_daily))
        verdicts.append(_hour_day_slip(ratio, new_daily, old_daily))
    if new_daily > old_daily:
        verdicts.append(_titration_step(drug, library, new_daily, old_daily))
        verdicts.append(_titration_interval(drug, library, context))
    return verdicts, notes


def _tenfold(ratio: Fraction, new: DoseRate, old: DoseRate) -> Verdict:
    text = f"new daily dose {new} is {_ratio_text(ratio)} the current {old}"
    if ratio >= TENFOLD:
        return Verdict(
            Rule.TENFOLD_CHANGE,
            Outcome.REFUSED,
            text + "; a tenfold increase is refused (re-enter in smaller steps)",
            _ratio_text(ratio),
            "< 10×",
        )
    if ratio <= 1 / TENFOLD:
        return Verdict(
            Rule.TENFOLD_CHANGE,
            Outcome.WARNING,
            text + "; a tenfold decrease may cause withdrawal; state a reason",
            _ratio_text(ratio),
            "> 0.1×",
        )
    return Verdict(Rule.TENFOLD_CHANGE, Outcome.ALLOWED, text, _ratio_text(ratio), "0.1× to 10×")


def _hour_day_slip(ratio: Fraction, new: DoseRate, old: DoseRate) -> Verdict:
    low, high = HOUR_DAY_SLIP_BAND
    if low <= ratio <= high:
        return Verdict(
            Rule.HOUR_DAY_SLIP,
            Outcome.REFUSED,
            f"new daily dose {new} is about 24× the current {old}: "
            "was a per-hour value entered as per-day?",
            _ratio_text(ratio),
            f"outside {low}× to {high}×",
        )
    if 1 / high <= ratio <= 1 / low:
        return Verdict(
            Rule.HOUR_DAY_SLIP,
            Outcome.WARNING,
            f"new daily dose {new} is about 1/24 of the current {old}: "
            "was a per-day value entered as per-hour? State a reason",
            _ratio_text(ratio),
            f"outside 1/{high} to 1/{low}",
        )
    return Verdict(
        Rule.HOUR_DAY_SLIP,
        Outcome.ALLOWED,
        "no sign of a per-hour/per-day slip",
        _ratio_text(ratio),
    )


def _titration_step(drug: DrugEntry, library: DrugLibrary, new: DoseRate, old: DoseRate) -> Verdict:
    increase = new - old
    for limit, outcome in (
        (drug.titration_max_step_hard, Outcome.REFUSED),
        (drug.titration_max_step_soft, Outcome.WARNING),
    ):
        if limit is None:
            continue
        bound = limit.value.bound_for(old)
        if increase > bound:
            kind = "hard" if outcome is Outcome.REFUSED else "soft"
            advice = "" if outcome is Outcome.REFUSED else "; state a reason to override"
            return Verdict(
                Rule.TITRATION_STEP,
                outcome,
                f"increase of {increase} ({old} → {new}) is larger than the {kind} titration "
                f"step {limit.value} ({limit.provenance}){advice}",
                str(increase),
                str(bound),
                _cite(library, limit),
            )
    return Verdict(
        Rule.TITRATION_STEP,
        Outcome.ALLOWED,
        f"increase of {increase} is within the titration step",
        str(increase),
    )


def _titration_interval(drug: DrugEntry, library: DrugLibrary, context: Context) -> Verdict:
    if context.last_increase_at is None or context.now is None:
        return Verdict(
            Rule.TITRATION_INTERVAL,
            Outcome.ALLOWED,
            "no earlier dose increase recorded",
        )
    elapsed = Duration.from_timedelta(context.now - context.last_increase_at)
    for limit, outcome in (
        (drug.titration_min_interval_hard, Outcome.REFUSED),
        (drug.titration_min_interval_soft, Outcome.WARNING),
    ):
        if limit is None:
            continue
        if elapsed < limit.value:
            kind = "hard" if outcome is Outcome.REFUSED else "soft"
            advice = "" if outcome is Outcome.REFUSED else "; state a reason to override"
            return Verdict(
                Rule.TITRATION_INTERVAL,
                outcome,
                f"only {elapsed} since the last increase; the {kind} minimum between increases "
                f"of {drug.id} is {limit.value} ({limit.provenance}){advice}",
                str(elapsed),
                str(limit.value),
                _cite(library, limit),
            )
    return Verdict(
        Rule.TITRATION_INTERVAL,
        Outcome.ALLOWED,
        f"{elapsed} since the last increase",
        str(elapsed),
    )


def _run(
    proposed: Prescription,
    library: DrugLibrary,
    context: Context,
    include: Callable[[Rule], bool],
) -> Evaluation:
    verdicts, drug = _library_rules(proposed, library)
    notes: list[str] = []
    if drug is not None:
        verdicts.append(_off_label(proposed, drug, library, context.current))
    if context.pump is not None:
        verdicts.extend(_pump_rules(proposed, context.pump))
    else:
        notes.append("pump rate and capacity not checked: no pump model given")
    if drug is not None:
        dose_verdicts, dose_notes = _dose_rules(proposed, drug, library, context.pump)
        verdicts.extend(dose_verdicts)
        notes.extend(dose_notes)
        change_verdicts, change_notes = _change_rules(proposed, drug, library, context)
        verdicts.extend(change_verdicts)
        notes.extend(change_notes)
    kept: Iterable[Verdict] = (v for v in verdicts if include(v.rule))
    return Evaluation(tuple(kept), tuple(notes))


def evaluate(
    proposed: Prescription, library: DrugLibrary, context: Context | None = None
) -> Evaluation:
    """Judge a proposed prescription against the library, the pump and the history.

    Pure and deterministic: the same arguments always give the same evaluation.
    """
    return _run(proposed, library, context or Context(), lambda rule: True)


def evaluate_hard_limits(
    proposed: Prescription, library: DrugLibrary, pump: PumpModel
) -> Evaluation:
    """The history-free rules only, as the pump firmware re-checks them before a write."""
    return _run(proposed, library, Context(pump=pump), lambda rule: rule in HARD_LIMIT_RULES)
