"""One limit type: a soft and a hard bound on one value, and the one way to hold a value to it.

A `Limit` is a maximum (`Direction.UPPER`: a daily dose, a bolus, a titration step, a
pump's highest rate) or a minimum (`Direction.LOWER`: the time between dose increases, a
pump's lowest rate). Its soft bound warns (a person must state a reason to go beyond it);
its hard bound refuses. Either may be absent, not both. Each bound is a `Sourced` value,
so a limit always says where each of its numbers comes from.

`Limit.classify` is the only place a value is compared with a soft and a hard bound: the
safety evaluator, the pump firmware and the calculators all call it. A value equal to a
bound is within it. The result, a `LimitCheck`, names the bound that was crossed.

The constructor refuses a limit that cannot be meant: no bound at all, a soft bound
outside the hard one (a soft maximum above the hard maximum would never warn before the
refusal), bounds of different kinds, a binary float, or a bound below zero. It raises
`LimitError`, whose fields say what was wrong, so that a data-file reader can word the
problem in the drug's own unit.

Bounds need only be partially ordered: two values that cannot be compared (a titration
step in percent and one in mcg/day) are never "beyond" each other, so a limit may mix
them; `Limit.resolved` turns such bounds into comparable values (the increase a
percentage allows at the current dose) before anything is classified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

from thecal.therapy.sourced import Sourced

__all__ = [
    "Classification",
    "Direction",
    "Limit",
    "LimitCheck",
    "LimitError",
    "LimitProblem",
]


class _PartiallyOrdered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...

    def __gt__(self, other: Any, /) -> bool: ...


V = TypeVar("V", bound=_PartiallyOrdered)
R = TypeVar("R", bound=_PartiallyOrdered)


class Direction(StrEnum):
    """Which side of a limit is beyond it."""

    UPPER = "upper"
    """A maximum: a value above a bound exceeds it."""
    LOWER = "lower"
    """A minimum: a value below a bound exceeds it."""

    def beyond(self, value: Any, bound: Any) -> bool:
        """True when `value` lies strictly beyond `bound` on this side (equal is within)."""
        return bool(value > bound) if self is Direction.UPPER else bool(value < bound)


class Classification(StrEnum):
    """Where a value stands against a limit."""

    WITHIN = "within"
    SOFT_EXCEEDED = "soft_exceeded"
    """Beyond the soft bound, within the hard one: allowed with a stated reason."""
    HARD_EXCEEDED = "hard_exceeded"
    """Beyond the hard bound: refused."""


class LimitProblem(StrEnum):
    """Why a limit cannot be built."""

    NO_BOUND = "no_bound"
    SOFT_OUTSIDE_HARD = "soft_outside_hard"
    MIXED_KINDS = "mixed_kinds"
    INEXACT = "inexact"
    BELOW_ZERO = "below_zero"


class LimitError(ValueError):
    """A limit that cannot be meant; `problem` says which rule it breaks.

    `soft` and `hard` are the offending bounds as given, so a reader can word the
    problem in the unit its users read (the message here is for developers).
    """

    def __init__(
        self,
        problem: LimitProblem,
        direction: Direction,
        soft: Sourced[Any] | None,
        hard: Sourced[Any] | None,
    ) -> None:
        self.problem = problem
        self.direction = direction
        self.soft = soft
        self.hard = hard
        shown = ", ".join(
            f"{name} {bound.value!r}" for name, bound in (("soft", soft), ("hard", hard)) if bound
        )
        super().__init__(f"{direction.value} limit ({shown or 'no bounds'}): {problem.value}")


@dataclass(frozen=True)
class LimitCheck(Generic[V]):
    """The classification of one value against one limit.

    `bound` is the bound that was crossed (the hard one when both were); for a value
    within the limit it is the innermost bound it was held to (soft, else hard).
    """

    classification: Classification
    value: V
    bound: Sourced[V]
    direction: Direction

    @property
    def exceeded(self) -> bool:
        return self.classification is not Classification.WITHIN


def _below_zero(value: object) -> bool:
    if isinstance(value, int | Fraction):
        return value < 0
    amount = getattr(value, "amount", None)  # the exact quantities of `quantities`
    return isinstance(amount, Fraction) and amount < 0


@dataclass(frozen=True)
class Limit(Generic[V]):
    """A soft and/or a hard bound on one kind of value, on one side (`direction`)."""

    direction: Direction
    soft: Sourced[V] | None = None
    hard: Sourced[V] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.direction, Direction):
            raise TypeError(f"a limit's direction is a Direction, not {self.direction!r}")
        bounds = [bound for bound in (self.soft, self.hard) if bound is not None]
        if not bounds:
            self._refuse(LimitProblem.NO_BOUND)
        for bound in bounds:
            if not isinstance(bound, Sourced):
                raise TypeError(f"a limit's bounds are Sourced values, not {bound!r}")
            if isinstance(bound.value, float):
                self._refuse(LimitProblem.INEXACT)
            if _below_zero(bound.value):
                self._refuse(LimitProblem.BELOW_ZERO)
        if self.soft is not None and self.hard is not None:
            if type(self.soft.value) is not type(self.hard.value):
                self._refuse(LimitProblem.MIXED_KINDS)
            if self.direction.beyond(self.soft.value, self.hard.value):
                self._refuse(LimitProblem.SOFT_OUTSIDE_HARD)

    def _refuse(self, problem: LimitProblem) -> None:
        raise LimitError(problem, self.direction, self.soft, self.hard)

    @classmethod
    def maximum(cls, soft: Sourced[V] | None = None, hard: Sourced[V] | None = None) -> Limit[V]:
        """An upper limit: values above a bound exceed it."""
        return cls(Direction.UPPER, soft, hard)

    @classmethod
    def minimum(cls, soft: Sourced[V] | None = None, hard: Sourced[V] | None = None) -> Limit[V]:
        """A lower limit: values below a bound exceed it."""
        return cls(Direction.LOWER, soft, hard)

    @property
    def innermost(self) -> Sourced[V]:
        """The bound a value meets first: the soft one, else the hard one."""
        bound = self.soft or self.hard
        assert bound is not None  # the constructor refuses a limit without bounds
        return bound

    @property
    def sources(self) -> tuple[str, ...]:
        """The source ids of the bounds (soft first), without repeats; unsourced bounds add none."""
        ids = (bound.source for bound in (self.soft, self.hard) if bound is not None)
        return tuple(dict.fromkeys(i for i in ids if i is not None))

    def classify(self, value: V) -> LimitCheck[V]:
        """Hold `value` to this limit: within, beyond the soft bound, or beyond the hard one.

        A value equal to a bound is within it. Comparing a value of another kind than
        the bounds (a mass against a dose rate) is misuse and raises `TypeError`.
        """
        if self.hard is not None and self.direction.beyond(value, self.hard.value):
            return LimitCheck(Classification.HARD_EXCEEDED, value, self.hard, self.direction)
        if self.soft is not None and self.direction.beyond(value, self.soft.value):
            return LimitCheck(Classification.SOFT_EXCEEDED, value, self.soft, self.direction)
        return LimitCheck(Classification.WITHIN, value, self.innermost, self.direction)

    def resolved(self, bound_for: Callable[[V], R | None]) -> Limit[R] | None:
        """This limit with each bound turned into another value by `bound_for`.

        For a bound that only means something in context, e.g. a titration step of
        20 % becomes the increase it allows at today's dose. Each bound keeps its
        source. A bound that `bound_for` maps to None is dropped; a soft bound that
        lands beyond the hard one is dropped too, since the hard one is crossed first
        (as it would be before resolving); None when no bound is left.
        """

        def mapped(bound: Sourced[V] | None) -> Sourced[R] | None:
            if bound is None:
                return None
            value = bound_for(bound.value)
            if value is None:
                return None
            kept = (bound.source, bound.site_default, bound.note, bound.unsourced_kind)
            return Sourced(value, *kept)

        soft, hard = mapped(self.soft), mapped(self.hard)
        if soft is not None and hard is not None and self.direction.beyond(soft.value, hard.value):
            soft = None
        if soft is None and hard is None:
            return None
        return Limit(self.direction, soft, hard)
