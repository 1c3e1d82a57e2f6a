"""What a refill discrepancy may mean: the refill rules' causes for the pump's findings.

The causes themselves are the therapy core's (`thecal.therapy.refill.likely_causes`); this
module only reads the pump's `RefillFinding`s as the core's `Discrepancy`.
"""

from __future__ import annotations

from collections.abc import Iterable

from thecal.pump.payloads import RefillFinding
from thecal.therapy.refill import Discrepancy
from thecal.therapy.refill import likely_causes as causes_of

__all__ = ["likely_causes"]


def likely_causes(findings: Iterable[RefillFinding]) -> tuple[str, ...]:
    """The causes that fit the pump's refill findings (empty when within expected)."""
    causes: list[str] = []
    for finding in findings:
        if finding.value in {d.value for d in Discrepancy}:
            causes.extend(causes_of(Discrepancy(finding.value)))
    return tuple(causes)
