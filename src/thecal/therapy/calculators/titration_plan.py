"""A titration plan: from a starting daily dose up to a target, in steps no larger
than the library allows, no closer together than the library allows.

    dose of step k = min(start + k × step, target)      (absolute steps)
    dose of step k = previous + previous × percent      (percentage steps, floored)
    time of step k = k × interval

Defaults come from the drug library, never from code: start = the drug's
`start_dose_max`, step = its largest titration step (soft, else hard), interval =
its recommended minimum between increases (soft, else hard), target = its daily
soft maximum. For ziconotide: 2.4 mcg/day, +2.4 mcg/day every 48 h, to 19.2 mcg/day
(S46, S47). Inputs beyond a hard limit are refused; beyond a soft limit they are
planned with a warning. Percentage increases are rounded DOWN to 1/1000 of the
drug's display unit, so no planned dose is ever above the exact rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.library import DrugEntry, TitrationStep
from thecal.therapy.quantities import Concentration, DoseRate, Duration, VolumeRate
from thecal.therapy.sourced import Sourced

__all__ = ["MAX_PLAN_STEPS", "PlannedStep", "TitrationPlan", "titration_plan"]

MAX_PLAN_STEPS = 200
"""A plan longer than this is refused as a mistake in its inputs."""


@dataclass(frozen=True)
class PlannedStep:
    """The daily dose from `after` (since the plan starts) until the next step."""

    index: int
    after: Duration
    dose_rate: DoseRate
    increase: DoseRate
    volume_rate: VolumeRate | None


@dataclass(frozen=True)
class TitrationPlan:
    """Steps from start to target, the limits used and where each came from."""

    drug: str
    start: DoseRate
    target: DoseRate
    step: TitrationStep
    interval: Duration
    steps: tuple[PlannedStep, ...]
    provenance: dict[str, str]
    warnings: tuple[str, ...]

    @property
    def reaches_target_after(self) -> Duration:
        return self.steps[-1].after


def _pick(*options: Sourced[TitrationStep] | None) -> Sourced[TitrationStep] | None:
    for option in options:
        if option is not None:
            return option
    return None


def titration_plan(
    drug: DrugEntry,
    start: DoseRate | None = None,
    target: DoseRate | None = None,
    step: DoseRate | None = None,
    interval: Duration | None = None,
    concentration: Concentration | None = None,
) -> TitrationPlan:
    """Plan increases of `drug` from `start` to `target` (mcg/day) by `step` every `interval`.

    With `concentration`, each step also gives its volume rate (mL/day).
    """
    show = drug.show
    warnings: list[str] = []
    provenance: dict[str, str] = {}

    if start is None:
        if drug.start_dose_max is None:
            raise CalculatorInputError(
                "start", f"the library has no starting dose for {drug.id}", "a starting dose"
            )
        start = drug.start_dose_max.value
        provenance["start"] = drug.start_dose_max.provenance
    else:
        provenance["start"] = "given"
        limit = drug.start_dose_max
        if limit is not None and start > limit.value:
            warnings.append(
                f"start {show(start)} is above the largest starting dose {show(limit.value)} "
                f"({limit.provenance})"
            )
    if start.amount <= 0:
        raise CalculatorInputError("start", f"{show(start)}", "a starting dose above zero")

    hard_max = drug.daily_dose_hard_max
    soft_max = drug.daily_dose_soft_max
    if target is None:
        target = soft_max.value
        provenance["target"] = soft_max.provenance
    else:
        provenance["target"] = "given"
    if target > hard_max.value:
        raise CalculatorInputError(
            "target",
            f"{show(target)} is above the hard daily limit ({hard_max.provenance})",
            f"at most {show(hard_max.value)}",
        )
    if target > soft_max.value:
        warnings.append(
            f"target {show(target)} is above the soft daily limit {show(soft_max.value)} "
            f"({soft_max.provenance}): each step above it needs a stated reason"
        )
    if target < start:
        raise CalculatorInputError(
            "target", f"{show(target)} is below the start {show(start)}", "at least the start"
        )

    hard_step, soft_step = drug.titration_max_step_hard, drug.titration_max_step_soft
    rule: TitrationStep
    if step is None:
        chosen = _pick(soft_step, hard_step)
        if chosen is None:
            raise CalculatorInputError(
                "step", f"the library has no titration step for {drug.id}", "a step per increase"
            )
        rule = chosen.value
        provenance["step"] = chosen.provenance
    else:
        if step.amount <= 0:
            raise CalculatorInputError("step", f"{show(step)}", "an increase above zero")
        rule = TitrationStep(absolute=step)
        provenance["step"] = "given"
        hard_absolute = hard_step.value.absolute if hard_step is not None else None
        soft_absolute = soft_step.value.absolute if soft_step is not None else None
        if hard_step is not None and hard_absolute is not None and step > hard_absolute:
            raise CalculatorInputError(
                "step",
                f"{show(step)} is above the hard titration step ({hard_step.provenance})",
                f"at most {show(hard_absolute)}",
            )
        if soft_step is not None and soft_absolute is not None and step > soft_absolute:
            warnings.append(
                f"step {show(step)} is above the soft titration step {show(soft_absolute)} "
                f"({soft_step.provenance})"
            )
        for percent_limit in (hard_step, soft_step):
            if percent_limit is not None and percent_limit.value.percent is not None:
                warnings.append(
                    f"the library limits {drug.id} steps to {percent_limit.value.show()} of the "
                    f"current dose ({percent_limit.provenance}); the evaluator checks each step"
                )

    hard_gap, soft_gap = drug.titration_min_interval_hard, drug.titration_min_interval_soft
    if interval is None:
        gap = soft_gap or hard_gap
        if gap is None:
            raise CalculatorInputError(
                "interval",
                f"the library has no interval between increases for {drug.id}",
                "a time between increases, e.g. '48 h'",
            )
        interval = gap.value
        provenance["interval"] = gap.provenance
    else:
        provenance["interval"] = "given"
        if interval.amount <= 0:
            raise CalculatorInputError("interval", f"{interval}", "a time above zero")
        if hard_gap is not None and interval < hard_gap.value:
            raise CalculatorInputError(
                "interval",
                f"{interval} is shorter than the hard minimum ({hard_gap.provenance})",
                f"at least {hard_gap.value}",
            )
        if soft_gap is not None and interval < soft_gap.value:
            warnings.append(
                f"interval {interval} is shorter than the recommended {soft_gap.value} "
                f"({soft_gap.provenance})"
            )

    resolution = Fraction(drug.display_unit.mcg, 1000)
    steps: list[PlannedStep] = []
    dose = start
    increase = DoseRate.zero()
    while True:
        volume = dose.to_volume_rate(concentration) if concentration is not None else None
        steps.append(PlannedStep(len(steps), interval * len(steps), dose, increase, volume))
        if dose >= target:
            break
        if len(steps) > MAX_PLAN_STEPS:
            raise CalculatorInputError(
                "step",
                f"reaching {show(target)} from {show(start)} takes more than {MAX_PLAN_STEPS} "
                "steps",
                "a larger step or a nearer target",
            )
        allowed = rule.bound_for(dose)
        allowed = DoseRate(allowed.amount // resolution * resolution)  # never up
        if allowed.amount <= 0:
            raise CalculatorInputError(
                "step",
                f"an increase from {show(dose)} rounds down to nothing",
                "a larger step or a larger start",
            )
        following = min(dose + allowed, target)
        increase, dose = following - dose, following
    return TitrationPlan(
        drug=drug.id,
        start=start,
        target=target,
        step=rule,
        interval=interval,
        steps=tuple(steps),
        provenance=provenance,
        warnings=tuple(warnings),
    )
