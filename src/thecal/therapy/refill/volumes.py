"""Refill volumes: nothing aspirated from, or filled into, a reservoir is more than it holds.

An aspirate larger than the reservoir is a misread syringe or a needle outside the
reservoir (pocket, catheter access port), never a real content; a fill larger than the
reservoir overfills it, a risk factor for over-infusion (clinic-practice "Do not
overfill", S29/S24). Every entry point (the pump's refill registration, the programmer,
the clinic service and its API and pages, the command line, the calculators) calls
`check_refill_volumes` and refuses with the typed `VolumeRefusal` it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from thecal.therapy.quantities import Volume

__all__ = ["RefillVolume", "VolumeRefusal", "VolumeRule", "check_refill_volumes"]


class RefillVolume(StrEnum):
    """Which volume of a refill a refusal is about."""

    ASPIRATED = "aspirated"
    FILL = "fill"


class VolumeRule(StrEnum):
    """Which bound a refill volume broke."""

    NEGATIVE = "negative"
    """Below zero."""
    EMPTY_FILL = "empty_fill"
    """A fill of nothing where a fill is required."""
    OVER_CAPACITY = "over_capacity"
    """More than the reservoir holds."""


@dataclass(frozen=True)
class VolumeRefusal:
    """A refill volume refused: which volume, the rule, the value and the bound it broke
    (0 mL for `NEGATIVE` and `EMPTY_FILL`, the reservoir capacity for `OVER_CAPACITY`)."""

    volume: RefillVolume
    rule: VolumeRule
    value: Volume
    bound: Volume
    capacity: Volume | None
    """None: the reservoir is not known (a calculation without a pump model)."""
    zero_allowed: bool = True
    """Whether 0 mL is an accepted value of this volume."""

    @property
    def accepted(self) -> str:
        """What this volume may be, in words."""
        low = "from 0 mL" if self.zero_allowed else "more than 0 mL"
        return low if self.capacity is None else f"{low} to at most {self.capacity}"

    @property
    def message(self) -> str:
        name = "aspirated volume" if self.volume is RefillVolume.ASPIRATED else "fill volume"
        if self.rule is VolumeRule.NEGATIVE:
            return f"the {name} {self.value} is negative; accepted: {self.accepted}"
        if self.rule is VolumeRule.EMPTY_FILL:
            return f"the {name} is {self.value}; accepted: {self.accepted}"
        if self.volume is RefillVolume.ASPIRATED:
            return (
                f"the aspirated volume {self.value} is more than the {self.bound} reservoir "
                "holds: re-read the syringe and check the needle is in the reservoir"
            )
        return (
            f"the fill volume {self.value} would overfill the {self.bound} reservoir; "
            "overfilling is a risk factor for over-infusion"
        )


def check_refill_volumes(
    capacity: Volume | None,
    fill: Volume | None = None,
    aspirated: Volume | None = None,
    *,
    fill_may_be_empty: bool = False,
) -> tuple[VolumeRefusal, ...]:
    """Every refusal of a refill's volumes (mL) against the reservoir `capacity`, aspirate
    first; empty when both are acceptable. On the capacity itself is accepted.

    A fill must be more than zero unless `fill_may_be_empty` (the pump registering a
    reservoir emptied on purpose, e.g. before an MRI). A `None` volume is not checked; a
    `None` capacity (no pump model known) checks everything but the capacity.
    """
    if capacity is not None and capacity.amount <= 0:
        raise ValueError(f"a reservoir capacity must be more than 0 mL, not {capacity}")
    zero = Volume.zero()
    refusals: list[VolumeRefusal] = []
    for which, value in ((RefillVolume.ASPIRATED, aspirated), (RefillVolume.FILL, fill)):
        if value is None:
            continue
        zero_allowed = which is RefillVolume.ASPIRATED or fill_may_be_empty
        if value < zero:
            rule, bound = VolumeRule.NEGATIVE, zero
        elif value == zero and not zero_allowed:
            rule, bound = VolumeRule.EMPTY_FILL, zero
        elif capacity is not None and value > capacity:
            rule, bound = VolumeRule.OVER_CAPACITY, capacity
        else:
            continue
        refusals.append(VolumeRefusal(which, rule, value, bound, capacity, zero_allowed))
    return tuple(refusals)
