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
    capacity: Volume

    @property
    def accepted(self) -> str:
        """What this volume may be, in words."""
        low = "more than 0 mL" if self.rule is VolumeRule.EMPTY_FILL else "from 0 mL"
        return f"{low} to at most {self.capacity}"

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
    capacity: Volume,
    fill: Volume | None = None,
    aspirated: Volume | None = None,
    *,
    fill_may_be_empty: bool = False,
) -> tuple[VolumeRefusal, ...]:
    """Every refusal of a refill's volumes (mL) against the reservoir `capacity`, aspirate
    first; empty when both are acceptable. On the capacity itself is accepted.

    A fill must be more than zero unless `fill_may_be_empty` (the pump registering a
    reservoir emptied on purpose, e.g. before an MRI). A `None` volume is not checked.
    """
    if capacity.amount <= 0:
        raise ValueError(f"a reservoir capacity must be more than 0 mL, not {capacity}")
    zero = Volume.zero()
    refusals: list[VolumeRefusal] = []
    for which, value in ((RefillVolume.ASPIRATED, aspirated), (RefillVolume.FILL, fill)):
        if value is None:
            continue
        if value < zero:
            refusals.append(VolumeRefusal(which, VolumeRule.NEGATIVE, value, zero, capacity))
        elif which is RefillVolume.FILL and value == zero and not fill_may_be_empty:
            refusals.append(VolumeRefusal(which, VolumeRule.EMPTY_FILL, value, zero, capacity))
        elif value > capacity:
            refusals.append(
                VolumeRefusal(which, VolumeRule.OVER_CAPACITY, value, capacity, capacity)
            )
    return tuple(refusals)
