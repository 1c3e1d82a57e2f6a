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
    basal_and_bolus_volume_rates,
    patient_bolus_worst_case_daily_dose,
    programmed_daily_dose,
)
from thecal.therapy.display import DoseUnit, format_dose
from thecal.therapy.library import DrugEntry, DrugLibrary, TitrationStep
from thecal.therapy.limits import Classification, Direction, Limit, LimitCheck
from thecal.therapy.local_time import elapsed
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import (
    Concentration,
    DoseRate,
    Duration,
    Mass,
    VolumeRate,
    decimal_text,
)
from thecal.therapy.sourced import Sourced

__all__ = [
    "HOUR_DAY_SLIP_BAND",
    "TENFOLD",
    "Confirmation",
    "Context",
    "Evaluation",
    "Judged",
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
    START_DOSE = "start_dose"
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


Scalar = Mass | DoseRate | Concentration | Duration | VolumeRate | Fraction | int | str
"""One judged thing: a dose, a time, a volume rate, a ratio of the new to the current
daily dose (`Fraction`), a count, or a name (a drug, a pump, a described change)."""

Judged = Scalar | tuple[Scalar, ...]
"""What a verdict holds as its value or bound: one `Scalar`, or several (the accepted
concentrations, the band of a ratio)."""


@dataclass(frozen=True)
class Verdict:
    """One rule's judgement of a proposed prescription.

    `value` is what the rule judged and `bound` what it was held to, both typed (a
    `DoseRate` in mcg/day, a `Duration`, ...); for a limit, `bound` is the bound that was
    crossed, or the innermost one held. `source` is the bound's source id (a key of the
    library's sources) and `citation` where it comes from in words (the full citation,
    or "site default" / "profile parameter"). `unit` is the drug's display unit, in
    which `message`, `value_text` and `bound_text` show its doses.
    """

    rule: Rule
    outcome: Outcome
    message: str
    value: Judged | None = None
    bound: Judged | None = None
    source: str | None = None
    citation: str | None = None
    unit: DoseUnit | None = None

    @property
    def needs_reason(self) -> bool:
        """A soft-limit warning: the user must state why they override it."""
        return self.outcome is Outcome.WARNING

    @property
    def value_text(self) -> str | None:
        """`value` for people (doses in the drug's unit), or None."""
        return None if self.value is None else _judged_text(self.value, self.unit)

    @property
    def bound_text(self) -> str | None:
        """`bound` for people (doses in the drug's unit), or None."""
        return None if self.bound is None else _judged_text(self.bound, self.unit)


def _ratio_text(ratio: Fraction) -> str:
    return f"{decimal_text(ratio, 2)}×"


def _scalar_text(value: Scalar, unit: DoseUnit | None) -> str:
    if isinstance(value, Mass | DoseRate | Concentration):
        return format_dose(value, unit or DoseUnit.MCG)
    if isinstance(value, Fraction):
        return _ratio_text(value)
    return str(value)


def _judged_text(value: Judged, unit: DoseUnit | None) -> str:
    if isinstance(value, tuple):
        return ", ".join(_scalar_text(item, unit) for item in value)
    return _scalar_text(value, unit)


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

_NO_THERAPY = frozenset({Mode.STOPPED, Mode.MINIMUM_RATE, Mode.SINGLE_BOLUS})
"""Current modes with no therapy running: stopped, keeping the catheter open, or a single
(e.g. trial) bolus, after which the pump stops. What follows them is a (re)start."""

_ENDS_THERAPY = frozenset({Mode.STOPPED, Mode.MINIMUM_RATE, Mode.SINGLE_BOLUS})
"""Modes after which no therapy runs (a single bolus reverts to stopped when it ends)."""

_OUTCOME = {
    Classification.WITHIN: Outcome.ALLOWED,
    Classification.SOFT_EXCEEDED: Outcome.WARNING,
    Classification.HARD_EXCEEDED: Outcome.REFUSED,
}
"""A soft limit crossed needs a reason; a hard limit crossed refuses."""

Show = Callable[[Any], str]


def _plain(value: Any) -> str:
    return str(value)


def _citation(library: DrugLibrary | None, sourced: Sourced[Any]) -> str:
    """Where a bound comes from, in words: "S46: <citation>", or "site default"."""
    if sourced.site_default:
        return sourced.unsourced_kind
    if library is None:
        return sourced.provenance
    return f"{sourced.source}: {library.cite(sourced)}"


def _verdict(
    rule: Rule,
    check: LimitCheck[Any],
    message: str,
    library: DrugLibrary | None,
    unit: DoseUnit | None = None,
) -> Verdict:
    """The verdict of a rule that held a value to a `Limit`."""
    bound = check.bound
    return Verdict(
        rule,
        _OUTCOME[check.classification],
        message,
        check.value,
        bound.value,
        None if bound.site_default else bound.source,
        _citation(library, bound),
        unit,
    )


def _crossed(check: LimitCheck[Any], show: Show, noun: str = "limit") -> str:
    """ "is above the hard limit 25 mg/day (site default)"; a soft one asks for a reason."""
    side = "above" if check.direction is Direction.UPPER else "below"
    kind = "hard" if check.classification is Classification.HARD_EXCEEDED else "soft"
    text = f"is {side} the {kind} {noun} {show(check.bound.value)} ({check.bound.provenance})"
    if check.classification is Classification.SOFT_EXCEEDED:
        text += "; state a reason to override"
    return text


def _held(
    rule: Rule,
    drug: DrugEntry,
    library: DrugLibrary,
    what: str,
    value: Mass | DoseRate,
    limit: Limit[Any],
    detail: str = "",
) -> Verdict:
    """Hold a dose to one of the drug's limits; equal to a bound is within it."""
    check = limit.classify(value)
    said = f"{what} {drug.show(value)}{detail}"
    if check.exceeded:
        message = f"{said} {_crossed(check, drug.show)}"
    else:
        message = f"{said} is within limits"
    return _verdict(rule, check, message, library, drug.display_unit)


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
    unit = drug.display_unit
    verdicts = [
        Verdict(Rule.DRUG_IN_LIBRARY, Outcome.ALLOWED, f"{drug.name} is in the library", drug.id)
    ]
    entry = drug.concentration_entry(proposed.concentration)
    accepted = tuple(c.concentration.value for c in drug.concentrations)
    listed = ", ".join(drug.show(c) for c in accepted)
    shown = drug.show(proposed.concentration)
    if entry is None:
        verdicts.append(
            Verdict(
                Rule.CONCENTRATION_IN_LIBRARY,
                Outcome.REFUSED,
                f"{shown} is not a library concentration of {drug.id}; accepted: {listed}",
                proposed.concentration,
                accepted,
                unit=unit,
            )
        )
    else:
        verdicts.append(
            Verdict(
                Rule.CONCENTRATION_IN_LIBRARY,
                Outcome.ALLOWED,
                f"{shown} is a library concentration of {drug.id}",
                proposed.concentration,
                accepted,
                entry.concentration.source,
                _citation(library, entry.concentration),
                unit,
            )
        )
    return verdicts, drug


def _current_entry(current: Prescription | None, library: DrugLibrary) -> DrugEntry | None:
    """The library entry of the current prescription's drug, by id, name or alias."""
    return library.find(current.drug) if current is not None else None


def _off_label(
    proposed: Prescription, drug: DrugEntry, library: DrugLibrary, current: Prescription | None
) -> Verdict:
    approved = drug.approved_for_pump
    source, citation = approved.source, _citation(library, approved)
    if approved.value:
        return Verdict(
            Rule.OFF_LABEL,
            Outcome.ALLOWED,
            f"{drug.id} is approved for implanted pumps",
            source=source,
            citation=citation,
        )
    if _current_entry(current, library) is drug:
        return Verdict(
            Rule.OFF_LABEL,
            Outcome.ALLOWED,
            f"{drug.id} is off-label for implanted pumps; continuing the current drug",
            source=source,
            citation=citation,
        )
    return Verdict(
        Rule.OFF_LABEL,
        Outcome.WARNING,
        f"{drug.id} is not approved for implanted pumps (off-label); unapproved drugs are "
        "associated with more pump failures; state a reason to use it",
        drug.id,
        source=source,
        citation=citation,
    )


def _rate_verdict(check: LimitCheck[VolumeRate], what: str) -> Verdict:
    """A volume rate beyond what the pump can run (always a hard limit)."""
    too_fast = check.direction is Direction.UPPER
    side = "above the highest" if too_fast else "below the lowest"
    if not too_fast:
        advice = "choose a lower concentration or a higher dose"
    else:
        advice = "choose a higher concentration" + (
            " or a longer bolus" if what == "bolus" else " or a lower dose"
        )
    message = (
        f"{what} volume rate {check.value} is {side} {what} rate {check.bound.value} the pump "
        f"can run ({advice})"
    )
    return _verdict(Rule.PUMP_RATE, check, message, None)


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
        count = len(proposed.steps)
        check = pump.flex_steps_limit.classify(count)
        message = f"{count} flex steps; {pump.label} holds at most {check.bound.value}"
        verdicts.append(_verdict(Rule.FLEX_STEPS, check, message, None))
    basal, bolus = basal_and_bolus_volume_rates(proposed, pump.minimum_rate.value)
    # Basal and bolus rates have their own ceilings; both share the pump's floor
    # (minimum-rate mode runs at the pump's own minimum by definition).
    floors = () if proposed.mode is Mode.MINIMUM_RATE else (pump.rate_floor,)
    checks: list[tuple[str, tuple[VolumeRate, ...], Limit[VolumeRate]]] = [
        ("basal", basal, pump.basal_rate_ceiling),
        ("bolus", bolus, pump.bolus_rate_ceiling),
    ]
    fastest: LimitCheck[VolumeRate] | None = None
    for what, rates, ceiling in checks:
        for rate in rates:
            for limit in (*floors, ceiling):
                check = limit.classify(rate)
                if check.exceeded:
                    return [*verdicts, _rate_verdict(check, what)]
            held = ceiling.classify(rate)
            if fastest is None or held.value > fastest.value:
                fastest = held
    every = sorted((*basal, *bolus))
    span = f"{every[0]} to {every[-1]}" if every else "no delivery"
    message = f"volume rates ({span}) are within what {pump.label} can run"
    if fastest is None:
        verdicts.append(Verdict(Rule.PUMP_RATE, Outcome.ALLOWED, message))
    else:
        verdicts.append(_verdict(Rule.PUMP_RATE, fastest, message, None))
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
            detail = f" (programmed {drug.show(programmed)} + patient boluses {drug.show(extra)})"
        verdicts.append(
            _held(
                Rule.DAILY_DOSE,
                drug,
                library,
                "worst-case daily dose",
                programmed + extra,
                drug.daily_dose,
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
    if boluses and drug.bolus_dose is not None:
        limit = drug.bolus_dose
        judged = [
            _held(Rule.BOLUS_DOSE, drug, library, name, dose, limit) for name, dose in boluses
        ]
        order = {Outcome.REFUSED: 0, Outcome.WARNING: 1, Outcome.ALLOWED: 2}
        verdicts.append(min(judged, key=lambda v: order[v.outcome]))
    elif boluses:
        verdicts.append(
            Verdict(
                Rule.BOLUS_DOSE,
                Outcome.ALLOWED,
                f"{boluses[0][0]} {drug.show(boluses[0][1])} is within limits "
                f"(the library sets no bolus limit for {drug.id})",
                boluses[0][1],
                unit=drug.display_unit,
            )
        )
    return verdicts, notes


def _start_dose(
    proposed: Prescription, drug: DrugEntry, library: DrugLibrary, context: Context
) -> Verdict | None:
    """A start (no current therapy with this drug) or a restart, held to the start dose.

    Percentage titration steps cannot bound a start from nothing, so this rule does:
    above the library's largest start dose it warns; a restart of a drug without a
    start limit warns too, because tolerance may have fallen while it was stopped.
    """
    if proposed.mode is Mode.STOPPED:
        return None
    new_daily = _daily(proposed, context.pump)
    if new_daily is None:
        return None
    current = context.current
    same_drug = _current_entry(current, library) is drug
    restarting = current is not None and same_drug and current.mode in _NO_THERAPY
    starting = current is None or not same_drug
    if not (starting or restarting):
        return None
    show, unit = drug.show, drug.display_unit
    what = "restart" if restarting else "start"
    if drug.start_dose is not None:
        check = drug.start_dose.classify(new_daily)
        largest = check.bound
        if check.exceeded:
            message = (
                f"{what} at {show(new_daily)} is above the largest starting dose of "
                f"{drug.id}, {show(largest.value)} ({largest.provenance}); state a reason "
                "(e.g. the patient already receives it from another pump)"
            )
        else:
            message = (
                f"{what} at {show(new_daily)} is within the starting dose {show(largest.value)}"
            )
        return _verdict(Rule.START_DOSE, check, message, library, unit)
    if restarting:
        assert current is not None
        return Verdict(
            Rule.START_DOSE,
            Outcome.WARNING,
            f"{drug.id} at {show(new_daily)} after {current.mode.value} mode: no therapy "
            "runs now, so no titration step can bound this dose (and tolerance may have "
            "fallen); confirm the dose (state a reason)",
            new_daily,
            unit=unit,
        )
    return None


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
    current_entry = _current_entry(current, library)
    # The same drug may be written by id, name or alias ("infumorph" is morphine).
    same_drug = current_entry is drug
    current_name = current_entry.id if current_entry is not None else current.drug
    if not same_drug or current.concentration != proposed.concentration:
        old_unit = current_entry.show if current_entry is not None else _plain
        what = (
            f"drug change {current_name} → {drug.id}"
            if not same_drug
            else f"concentration change {drug.show(current.concentration)} → "
            f"{drug.show(proposed.concentration)}"
        )
        if not same_drug:
            what += f" (from {old_unit(current.concentration)})"
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
    if current_entry is not None and current_entry.high_risk_withdrawal.value:
        was_running = current.mode not in _NO_THERAPY
        stopping = was_running and (proposed.mode in _ENDS_THERAPY or not same_drug)
        if stopping:
            how = (
                f"changing to {drug.id}"
                if not same_drug
                else f"{proposed.mode.value} mode"
                + (" (it stops when the bolus ends)" if proposed.mode is Mode.SINGLE_BOLUS else "")
            )
            message = (
                f"{how} ends {current_name} therapy: stopping it abruptly can cause a "
                "life-threatening withdrawal; state the plan"
            )
        else:
            message = f"{current_name} therapy continues"
        withdrawal = current_entry.high_risk_withdrawal
        verdicts.append(
            Verdict(
                Rule.WITHDRAWAL_RISK,
                Outcome.WARNING if stopping else Outcome.ALLOWED,
                message,
                current_name,
                source=withdrawal.source,
                citation=_citation(library, withdrawal),
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
        verdicts.append(_tenfold(ratio, new_daily, old_daily, drug.show))
        verdicts.append(_hour_day_slip(ratio, new_daily, old_daily, drug.show))
    if new_daily > old_daily:
        restart = current.mode in _NO_THERAPY or old_daily.amount == 0
        verdicts.append(_titration_step(drug, library, new_daily, old_daily, restart))
        verdicts.append(_titration_interval(drug, library, context))
    return verdicts, notes


def _tenfold(ratio: Fraction, new: DoseRate, old: DoseRate, show: Show) -> Verdict:
    # Not a `Limit`: a change of exactly tenfold is already the error this rule catches.
    text = f"new daily dose {show(new)} is {_ratio_text(ratio)} the current {show(old)}"
    if ratio >= TENFOLD:
        return Verdict(
            Rule.TENFOLD_CHANGE,
            Outcome.REFUSED,
            text + "; a tenfold increase is refused (re-enter in smaller steps)",
            ratio,
            TENFOLD,
        )
    if ratio <= 1 / TENFOLD:
        return Verdict(
            Rule.TENFOLD_CHANGE,
            Outcome.WARNING,
            text + "; a tenfold decrease may cause withdrawal; state a reason",
            ratio,
            1 / TENFOLD,
        )
    return Verdict(Rule.TENFOLD_CHANGE, Outcome.ALLOWED, text, ratio, (1 / TENFOLD, TENFOLD))


def _hour_day_slip(ratio: Fraction, new: DoseRate, old: DoseRate, show: Show) -> Verdict:
    low, high = HOUR_DAY_SLIP_BAND
    if low <= ratio <= high:
        return Verdict(
            Rule.HOUR_DAY_SLIP,
            Outcome.REFUSED,
            f"new daily dose {show(new)} is about 24× the current {show(old)}: "
            "was a per-hour value entered as per-day?",
            ratio,
            (low, high),
        )
    if 1 / high <= ratio <= 1 / low:
        return Verdict(
            Rule.HOUR_DAY_SLIP,
            Outcome.WARNING,
            f"new daily dose {show(new)} is about 1/24 of the current {show(old)}: "
            "was a per-day value entered as per-hour? State a reason",
            ratio,
            (1 / high, 1 / low),
        )
    return Verdict(
        Rule.HOUR_DAY_SLIP,
        Outcome.ALLOWED,
        "no sign of a per-hour/per-day slip",
        ratio,
    )


def _titration_step(
    drug: DrugEntry, library: DrugLibrary, new: DoseRate, old: DoseRate, restart: bool
) -> Verdict:
    increase = new - old
    show, unit = drug.show, drug.display_unit
    steps = drug.titration_step
    allowed_message = f"increase of {show(increase)} is within the titration step"
    if steps is None:
        return Verdict(Rule.TITRATION_STEP, Outcome.ALLOWED, allowed_message, increase, unit=unit)

    def allowed_increase(step: TitrationStep) -> DoseRate | None:
        if restart and step.percent is not None:
            # A percentage of "nothing running" is no bound; the start-dose rule judges it.
            return None
        return step.bound_for(old)

    limit = steps.resolved(allowed_increase)
    if limit is None:
        message = (
            f"increase of {show(increase)} is a restart: a percentage titration step does "
            "not apply (see start_dose)"
        )
        return Verdict(Rule.TITRATION_STEP, Outcome.ALLOWED, message, increase, unit=unit)
    check = limit.classify(increase)
    if not check.exceeded:
        return _verdict(Rule.TITRATION_STEP, check, allowed_message, library, unit)
    hard = check.classification is Classification.HARD_EXCEEDED
    step = steps.hard if hard else steps.soft
    assert step is not None  # a crossed bound was resolved from this one
    advice = "" if hard else "; state a reason to override"
    message = (
        f"increase of {show(increase)} ({show(old)} → {show(new)}) is larger than the "
        f"{'hard' if hard else 'soft'} titration step {step.value.show(unit)} "
        f"({step.provenance}){advice}"
    )
    return _verdict(Rule.TITRATION_STEP, check, message, library, unit)


def _titration_interval(drug: DrugEntry, library: DrugLibrary, context: Context) -> Verdict:
    if context.last_increase_at is None:
        return Verdict(
            Rule.TITRATION_INTERVAL,
            Outcome.ALLOWED,
            "no earlier dose increase recorded",
        )
    if context.now is None:
        return Verdict(
            Rule.TITRATION_INTERVAL,
            Outcome.WARNING,
            f"the last increase was at {context.last_increase_at.isoformat()} but no current "
            "time was given, so the interval between increases cannot be checked; state a "
            "reason",
            context.last_increase_at.isoformat(),
        )
    since = elapsed(context.last_increase_at, context.now)
    if since.is_negative():
        return Verdict(
            Rule.TITRATION_INTERVAL,
            Outcome.REFUSED,
            f"the last increase ({context.last_increase_at.isoformat()}) is recorded after now "
            f"({context.now.isoformat()}); check the clocks before increasing again",
            since,
        )
    limit = drug.titration_interval
    if limit is None:
        return Verdict(
            Rule.TITRATION_INTERVAL,
            Outcome.ALLOWED,
            f"{since} since the last increase",
            since,
        )
    check: LimitCheck[Duration] = limit.classify(since)
    if not check.exceeded:
        return _verdict(Rule.TITRATION_INTERVAL, check, f"{since} since the last increase", library)
    hard = check.classification is Classification.HARD_EXCEEDED
    advice = "" if hard else "; state a reason to override"
    message = (
        f"only {since} since the last increase; the {'hard' if hard else 'soft'} minimum "
        f"between increases of {drug.id} is {check.bound.value} ({check.bound.provenance})"
        f"{advice}"
    )
    return _verdict(Rule.TITRATION_INTERVAL, check, message, library)


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
        start = _start_dose(proposed, drug, library, context)
        if start is not None:
            verdicts.append(start)
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
