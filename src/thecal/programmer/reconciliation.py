"""What a refill discrepancy may mean, for the clinician reading the pump's reconciliation.

The pump firmware reconciles (expected against aspirated volume, against its labelled
accuracy and a volume limit: `thecal.pump` `RefillReconciliation`); this module only
names the causes that fit the direction of a flagged discrepancy:

* **less** left than expected: the pump delivered more than programmed (over-infusion),
  or drug never reached the reservoir at the last refill (pocket fill), or aspiration
  was incomplete;
* **more** left than expected: the pump delivered less (under-infusion): catheter
  occlusion or kink, an inflammatory mass at the catheter tip, or a stalled motor.

Sources (devices.md): disparity between expected and actual volume is a warning sign of
over-infusion or catheter-tip granuloma/occlusion [S10], [S75c]; pocket fill [S21].
"""

from __future__ import annotations

from collections.abc import Iterable

from thecal.pump.payloads import RefillFinding

__all__ = ["LESS_CAUSES", "MORE_CAUSES", "likely_causes"]

LESS_CAUSES = (
    "over-infusion: the pump delivered more than programmed",
    "pocket fill at an earlier refill: drug went into the pocket, not the reservoir",
    "incomplete aspiration: solution left in the reservoir",
)
MORE_CAUSES = (
    "under-infusion: catheter occlusion or kink",
    "inflammatory mass (granuloma) at the catheter tip: check for loss of effect and new "
    "neurological signs",
    "motor stall or stopped pump: check the event log",
)


def likely_causes(findings: Iterable[RefillFinding]) -> tuple[str, ...]:
    """The causes that fit the pump's refill findings (empty when within expected)."""
    causes: list[str] = []
    for finding in findings:
        if finding is RefillFinding.LESS_THAN_EXPECTED:
            causes.extend(LESS_CAUSES)
        elif finding is RefillFinding.MORE_THAN_EXPECTED:
            causes.extend(MORE_CAUSES)
    return tuple(causes)
