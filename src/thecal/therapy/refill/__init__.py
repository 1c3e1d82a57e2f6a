"""The refill rules: one place for every layer (pump firmware, programmer, clinic, web,
command line, calculators).

* `volumes`: an aspirate or a fill is never more than the reservoir holds
  (`check_refill_volumes`, typed `VolumeRefusal`);
* `solution`: is this the prescribed solution (`check_solution`, `same_drug`: the
  library's names and aliases, exact concentration);
* `expectation`: what the reservoir should hold, and on which basis (the pump's record
  of the patient boluses it gave, or every allowed bolus);
* `reconciliation`: the aspirate against the expectation, with the one `Discrepancy`
  type; an empty reservoir is always flagged, dated, with what it means for the drug;
* `guidance`: the thresholds and the empty-reservoir guidance, from
  `data/refill_rules.toml`, every value sourced or a labelled site default.

Standard library only, exact arithmetic, no clock: times are passed in.
"""

from thecal.therapy.refill.expectation import (
    AnchorKind,
    DeliveryPeriod,
    Expectation,
    ExpectationBasis,
    RecordedBolus,
    ReservoirAnchor,
    expect_from_deliveries,
    expect_from_pump,
    time_moved,
    volume_moved,
)
from thecal.therapy.refill.guidance import (
    InterruptionGuidance,
    InterruptionRisk,
    RefillRules,
    interruption_risk,
    parse_refill_rules,
    refill_rules,
)
from thecal.therapy.refill.reconciliation import (
    Discrepancy,
    DryEvidence,
    DryReservoir,
    ExpectedRange,
    Reconciliation,
    ToleranceBound,
    expected_range,
    likely_causes,
    reconcile,
)
from thecal.therapy.refill.solution import (
    Solution,
    SolutionCheck,
    SolutionMismatch,
    check_solution,
    drug_identity,
    same_drug,
)
from thecal.therapy.refill.volumes import (
    RefillVolume,
    VolumeRefusal,
    VolumeRule,
    check_refill_volumes,
)

RECONCILIATION_TYPES: tuple[type, ...] = (
    Reconciliation,
    Discrepancy,
    ToleranceBound,
    DryReservoir,
    DryEvidence,
    InterruptionRisk,
    Expectation,
    ExpectationBasis,
    ReservoirAnchor,
    AnchorKind,
)
"""Every value inside a `Reconciliation`: what a codec must know to carry one."""

__all__ = [
    "RECONCILIATION_TYPES",
    "AnchorKind",
    "DeliveryPeriod",
    "Discrepancy",
    "DryEvidence",
    "DryReservoir",
    "Expectation",
    "ExpectationBasis",
    "ExpectedRange",
    "InterruptionGuidance",
    "InterruptionRisk",
    "Reconciliation",
    "RecordedBolus",
    "RefillRules",
    "RefillVolume",
    "ReservoirAnchor",
    "Solution",
    "SolutionCheck",
    "SolutionMismatch",
    "ToleranceBound",
    "VolumeRefusal",
    "VolumeRule",
    "check_refill_volumes",
    "check_solution",
    "drug_identity",
    "expect_from_deliveries",
    "expect_from_pump",
    "expected_range",
    "interruption_risk",
    "likely_causes",
    "parse_refill_rules",
    "reconcile",
    "refill_rules",
    "same_drug",
    "time_moved",
    "volume_moved",
]
