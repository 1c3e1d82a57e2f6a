"""A titration plan: from a starting daily dose up to a target, in steps no larger
than the library allows, no closer together than the library allows.

    dose of step k = min(start + k × step, target)      (absolute steps)
    dose of step k = previous + previous × percent      (percentage steps, floored)
    time of step k = k × interval

Defaults come from the drug library, never from code: start = the drug's
`start_dose_max`, step = its largest titration step (soft, else hard), interval =
its recommended minimum between increases (soft, else hard), target = its daily
soft maximum. For ziconotide: 2.4 mcg/day, +2.4 mcg/day every 48 h, to 19.2 mcg/day
(S46, S47). Inputs are held to the drug's `Limit`s (`Limit.classify`, as the safety
evaluator holds prescriptions): beyond a hard limit they are refused; beyond a soft limit
they are planned with a warning, and the plan keeps the typed checks (`beyond_soft`).
Percentage increases are rounded DOWN to 1/1000 of the drug's display unit, so no
planned dose is ever above the exact rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.library import DrugEntry, TitrationStep
from thecal.therapy.limits import Classification, LimitCheck
from thecal.therapy.local_time import shift
from thecal.therapy.quantities import Concentration, DoseRate, Duration, VolumeRate

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

    def at(self, begin: datetime) -> datetime:
        """When this step starts in a plan begun at `begin` (the pump's local clock, or an
        aware time): `after` floored to a whole microsecond, then added to `begin`."""
        return shift(begin, self.after.to_timedelta_floor())


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
    beyond_soft: tuple[LimitCheck[Any], ...] = ()
    """The given inputs that lie beyond a soft limit of the drug (each needs a reason)."""
    concentration: Concentration | None = None
    """The concentration each step's volume rate is for (None: no volume rates)."""

    @property
    def reaches_target_after(self) -> Duration:
        return self.steps[-1].after


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
    beyond: list[LimitCheck[Any]] = []
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
        if drug.start_dose is not None:
            check = drug.start_dose.classify(start)
            if check.exceeded:
                beyond.append(check)
                warnings.append(
                    f"start {show(start)} is above the largest starting dose "
                    f"{show(check.bound.value)} ({check.bound.provenance})"
                )
    if start.amount <= 0:
        raise CalculatorInputError("start", f"{show(start)}", "a starting dose above zero")

    if target is None:
        target = drug.daily_dose_soft_max.value
        provenance["target"] = drug.daily_dose_soft_max.provenance
    else:
        provenance["target"] = "given"
    daily = drug.daily_dose.classify(target)
    if daily.classification is Classification.HARD_EXCEEDED:
        raise CalculatorInputError(
            "target",
            f"{show(target)} is above the hard daily limit ({daily.bound.provenance})",
            f"at most {show(daily.bound.value)}",
        )
    if daily.exceeded:
        beyond.append(daily)
        warnings.append(
            f"target {show(target)} is above the soft daily limit {show(daily.bound.value)} "
            f"({daily.bound.provenance}): each step above it needs a stated reason"
        )
    if target < start:
        raise CalculatorInputError(
            "target", f"{show(target)} is below the start {show(start)}", "at least the start"
        )

    step_limit = drug.titration_step
    rule: TitrationStep
    if step is None:
        if step_limit is None:
            raise CalculatorInputError(
                "step", f"the library has no titration step for {drug.id}", "a step per increase"
            )
        chosen = step_limit.innermost
        rule = chosen.value
        provenance["step"] = chosen.provenance
    else:
        if step.amount <= 0:
            raise CalculatorInputError("step", f"{show(step)}", "an increase above zero")
        rule = TitrationStep(absolute=step)
        provenance["step"] = "given"
        # A given step is absolute: the library's absolute steps bound it here; its
        # percentage steps depend on each step's dose, and the evaluator checks those.
        absolute = step_limit.resolved(lambda s: s.absolute) if step_limit is not None else None
        if absolute is not None:
            held = absolute.classify(step)
            if held.classification is Classification.HARD_EXCEEDED:
                raise CalculatorInputError(
                    "step",
                    f"{show(step)} is above the hard titration step ({held.bound.provenance})",
                    f"at most {show(held.bound.value)}",
                )
            if held.exceeded:
                beyond.append(held)
                warnings.append(
                    f"step {show(step)} is above the soft titration step "
                    f"{show(held.bound.value)} ({held.bound.provenance})"
                )
        for percent_limit in (step_limit.hard, step_limit.soft) if step_limit else ():
            if percent_limit is not None and percent_limit.value.percent is not None:
                warnings.append(
                    f"the library limits {drug.id} steps to {percent_limit.value.show()} of the "
                    f"current dose ({percent_limit.provenance}); the evaluator checks each step"
                )

    gaps = drug.titration_interval
    if interval is None:
        if gaps is None:
            raise CalculatorInputError(
                "interval",
                f"the library has no interval between increases for {drug.id}",
                "a time between increases, e.g. '48 h'",
            )
        interval = gaps.innermost.value
        provenance["interval"] = gaps.innermost.provenance
    else:
        provenance["interval"] = "given"
        if interval.amount <= 0:
            raise CalculatorInputError("interval", f"{interval}", "a time above zero")
        gap = gaps.classify(interval) if gaps is not None else None
        if gap is not None and gap.classification is Classification.HARD_EXCEEDED:
            raise CalculatorInputError(
                "interval",
                f"{interval} is shorter than the hard minimum ({gap.bound.provenance})",
                f"at least {gap.bound.value}",
            )
        if gap is not None and gap.exceeded:
            beyond.append(gap)
            warnings.append(
                f"interval {interval} is shorter than the recommended {gap.bound.value} "
                f"({gap.bound.provenance})"
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
        beyond_soft=tuple(beyond),
        concentration=concentration,
    )
