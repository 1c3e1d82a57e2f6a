"""Refill reconciliation: does what came back out of the pump match what it should hold?

One rule for the pump's refill registration, the programmer and the clinic:

* the **tolerance** is the smaller of the pump model's accuracy band on the volume
  delivered since the fill and its refill discrepancy limit (investigate when outside
  the accuracy specification *or* above the limit: ASRA17, MAINO17 in pump_models.toml),
  never below the reading tolerance (refill_rules.toml);
* the aspirate is compared with the expectation (`expectation`): below the least it
  could hold minus the tolerance is **less than expected** (over-infusion, pocket fill),
  above the most likely plus the tolerance **more than expected** (under-delivery);
  on a bound is not a discrepancy;
* an **empty reservoir** is always flagged, whatever was expected: an aspirate of
  nearly nothing (`nearly_empty`), or the pump's own empty-reservoir alarm (it fell to
  minimum rate). The outcome says when the pump most likely ran dry and what that means
  for the drug (`InterruptionRisk`: baclofen withdrawal watch, opioid restart
  precautions), and gives no delivery error: what an empty pump delivered is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from thecal.therapy.library import DrugEntry
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Volume
from thecal.therapy.refill.expectation import Expectation, ExpectationBasis
from thecal.therapy.refill.guidance import (
    InterruptionRisk,
    RefillRules,
    interruption_risk,
    refill_rules,
)

__all__ = [
    "EMPTY_CAUSES",
    "LESS_CAUSES",
    "MORE_CAUSES",
    "Discrepancy",
    "DryEvidence",
    "DryReservoir",
    "ExpectedRange",
    "Reconciliation",
    "ToleranceBound",
    "expected_range",
    "likely_causes",
    "reconcile",
]


class Discrepancy(StrEnum):
    """What a refill reconciliation found: the one discrepancy type of every layer."""

    NONE = "none"
    LESS_THAN_EXPECTED = "less_than_expected"
    MORE_THAN_EXPECTED = "more_than_expected"
    EMPTY_RESERVOIR = "empty_reservoir"


class ToleranceBound(StrEnum):
    """Which bound set a reconciliation's tolerance."""

    ACCURACY = "accuracy"
    """The pump model's accuracy band on the volume delivered since the fill."""
    MODEL_LIMIT = "model_limit"
    """The pump model's refill discrepancy limit."""
    READING = "reading"
    """The reading tolerance: how exactly an aspirate is known."""


class DryEvidence(StrEnum):
    """What dates an empty reservoir."""

    PUMP_ALARM = "pump_alarm"
    """The pump's own empty-reservoir alarm."""
    EXPECTED = "expected"
    """The expected content ran out (with every allowed bolus, when none are on record)."""
    UNEXPLAINED_LOSS = "unexplained_loss"
    """Content was expected but none came back: the drug went elsewhere (pocket fill,
    over-infusion); the pump may have been empty since the last fill."""


@dataclass(frozen=True)
class DryReservoir:
    """When an empty pump most likely ran dry (`earliest_at` ≤ it ≤ `latest_at`: the
    window the evidence allows) and what the interruption means for its drug."""

    most_likely_at: datetime
    earliest_at: datetime
    latest_at: datetime
    evidence: DryEvidence
    risk: InterruptionRisk


LESS_CAUSES = (
    "over-infusion: the pump delivered more than programmed",
    "pocket fill at an earlier refill: drug went into the pocket, not the reservoir",
    "incomplete aspiration: solution left in the reservoir",
)
"""Less came back than expected (devices.md [S10], [S21])."""
MORE_CAUSES = (
    "under-infusion: catheter occlusion or kink",
    "inflammatory mass (granuloma) at the catheter tip: check for loss of effect and new "
    "neurological signs",
    "motor stall or stopped pump: check the event log",
)
"""More came back than expected (devices.md [S10], [S75c])."""
EMPTY_CAUSES = (
    "the refill came after the reservoir ran out (a late or missed refill)",
    *LESS_CAUSES[:2],
    "the needle is not in the reservoir: check the template and needle placement",
)
"""Nothing came back (clinic-practice 3.1, 6.1 [S71])."""


def likely_causes(discrepancy: Discrepancy) -> tuple[str, ...]:
    """The causes that fit a discrepancy (none when there is none)."""
    if discrepancy is Discrepancy.LESS_THAN_EXPECTED:
        return LESS_CAUSES
    if discrepancy is Discrepancy.MORE_THAN_EXPECTED:
        return MORE_CAUSES
    if discrepancy is Discrepancy.EMPTY_RESERVOIR:
        return EMPTY_CAUSES
    return ()


@dataclass(frozen=True)
class Reconciliation:
    """An aspirate against its expectation. `low` and `high` are the least and most
    aspirate that is not a discrepancy; `difference` is aspirated minus the most likely
    content (negative: less came back). `delivery_error` is (actual − expected) /
    expected delivery since the fill, None when the reservoir was found empty, when
    boluses are not on record, or when nothing was to be delivered."""

    expectation: Expectation
    aspirated: Volume
    discrepancy: Discrepancy
    difference: Volume
    low: Volume
    high: Volume
    tolerance: Volume
    tolerance_bound: ToleranceBound
    delivery_error: Fraction | None
    ran_dry: DryReservoir | None
    message: str

    @property
    def flagged(self) -> bool:
        """A discrepancy the clinician must act on."""
        return self.discrepancy is not Discrepancy.NONE

    @property
    def likely_causes(self) -> tuple[str, ...]:
        return likely_causes(self.discrepancy)


@dataclass(frozen=True)
class ExpectedRange:
    """The aspirates that are not a discrepancy: `low` to `high` (mL), both included, and
    the tolerance that widened the expectation, with the bound that set it."""

    low: Volume
    high: Volume
    tolerance: Volume
    tolerance_bound: ToleranceBound


def expected_range(
    expectation: Expectation, pump: PumpModel, rules: RefillRules | None = None
) -> ExpectedRange:
    """The range of aspirates `reconcile` accepts for `expectation` on a `pump` (an
    aspirate of nearly nothing is an empty reservoir even inside it)."""
    rules = rules or refill_rules()
    band = expectation.delivered.scaled(pump.accuracy_percent.value / 100)
    limit = pump.refill_discrepancy_limit.value
    tolerance, bound = (band, ToleranceBound.ACCURACY)
    if band > limit:
        tolerance, bound = (limit, ToleranceBound.MODEL_LIMIT)
    floor = rules.reading_tolerance.value
    if tolerance < floor:
        tolerance, bound = floor, ToleranceBound.READING
    low = max(expectation.least - tolerance, Volume.zero())
    return ExpectedRange(low, expectation.most_likely + tolerance, tolerance, bound)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _dry(expectation: Expectation, risk: InterruptionRisk) -> DryReservoir:
    at = expectation.at
    if expectation.pump_alarm and expectation.ran_out_at is not None:
        alarm = expectation.ran_out_at
        return DryReservoir(alarm, alarm, alarm, DryEvidence.PUMP_ALARM, risk)
    earliest = expectation.ran_out_earliest_at
    if earliest is not None:
        latest = expectation.ran_out_at or at
        # Without a record of boluses, the earliest time is every allowed bolus taken:
        # the longest the patient may have gone without the drug.
        return DryReservoir(earliest, earliest, latest, DryEvidence.EXPECTED, risk)
    # A pump estimate is no measurement: the loss may date from the last fill itself.
    since = expectation.fill.at
    return DryReservoir(since, since, at, DryEvidence.UNEXPLAINED_LOSS, risk)


def _dry_text(dry: DryReservoir, rules: RefillRules) -> str:
    guidance = rules.guidance(dry.risk)
    if dry.evidence is DryEvidence.PUMP_ALARM:
        when = f"the pump raised its empty-reservoir alarm on {_when(dry.most_likely_at)}"
    elif dry.evidence is DryEvidence.EXPECTED:
        when = f"the pump most likely ran dry on {_when(dry.most_likely_at)}"
        if dry.latest_at != dry.earliest_at:
            when += f" (at the latest {_when(dry.latest_at)})"
    else:
        when = (
            "the drug went elsewhere (pocket fill, over-infusion) and the date it ran dry "
            f"cannot be told: assume it has been empty since {_when(dry.earliest_at)}"
        )
    signs = ", ".join(guidance.signs.value)
    return (
        f"{when}. {guidance.title.value}: for {guidance.watch.value}, watch for {signs}; "
        + "; ".join(action.value for action in guidance.actions)
    )


def reconcile(
    expectation: Expectation,
    aspirated: Volume,
    pump: PumpModel,
    drug: DrugEntry | None = None,
    rules: RefillRules | None = None,
) -> Reconciliation:
    """Reconcile `aspirated` (mL) against `expectation` for a pump of model `pump`
    holding `drug` (None: not in the library). See the module docstring for the rule.
    `ValueError` for a negative aspirate (the capacity is `check_refill_volumes`'s)."""
    if aspirated.amount < 0:
        raise ValueError(f"an aspirate cannot be negative ({aspirated})")
    rules = rules or refill_rules()
    bounds = expected_range(expectation, pump, rules)
    low, high, most = bounds.low, bounds.high, expectation.most_likely
    difference = aspirated - most
    ran_dry: DryReservoir | None = None
    empty = aspirated <= rules.nearly_empty.value or expectation.pump_alarm
    if empty:
        kind = Discrepancy.EMPTY_RESERVOIR
        ran_dry = _dry(expectation, interruption_risk(drug))
        message = f"EMPTY RESERVOIR: {aspirated} came back, {most} expected; " + _dry_text(
            ran_dry, rules
        )
    elif aspirated < low:
        kind = Discrepancy.LESS_THAN_EXPECTED
        message = (
            f"{aspirated} came back, expected at least {low}: possible over-infusion or drug "
            "lost into the pocket at the last refill (pocket fill); assess the patient and "
            "interrogate the pump"
        )
    elif aspirated > high:
        kind = Discrepancy.MORE_THAN_EXPECTED
        message = (
            f"{aspirated} came back, expected at most {high}: possible under-delivery "
            "(catheter occlusion, catheter-tip mass, motor stall); assess the patient and "
            "interrogate the pump"
        )
    else:
        kind = Discrepancy.NONE
        message = f"{aspirated} came back, within the expected {low} to {high}"
    if expectation.basis is ExpectationBasis.ALLOWED_BOLUSES and expectation.unrecorded_allowance:
        message += (
            f" (no record of patient boluses: a loss of up to {expectation.unrecorded_allowance}"
            " cannot be told from boluses; interrogate the pump to use its record)"
        )
    error: Fraction | None = None
    delivered = expectation.delivered.amount
    if not empty and delivered > 0 and expectation.basis is not ExpectationBasis.ALLOWED_BOLUSES:
        actual = expectation.fill.volume.amount - aspirated.amount
        error = (actual - delivered) / delivered
    return Reconciliation(
        expectation, aspirated, kind, difference, low, high, bounds.tolerance,
        bounds.tolerance_bound, error, ran_dry, message,
    )  # fmt: skip
