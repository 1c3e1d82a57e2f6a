"""The conditions intrathecal pumps treat, grouped into the two therapy families."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from thecal.therapy.library import DrugEntry, DrugLibrary

__all__ = [
    "Diagnosis",
    "DiagnosisFamily",
    "TherapyOption",
    "family_of",
    "label_of",
    "therapies_for",
]


class DiagnosisFamily(StrEnum):
    """Pain (trial success: ≥ 50 % relief) or spasticity (≥ 2-point Ashworth drop)."""

    PAIN = "pain"
    SPASTICITY = "spasticity"


class Diagnosis(StrEnum):
    CANCER_PAIN = "cancer_pain"
    FAILED_BACK_SURGERY_SYNDROME = "failed_back_surgery_syndrome"
    CHRONIC_PANCREATITIS = "chronic_pancreatitis"
    CRPS = "crps"
    CAUSALGIA = "causalgia"
    ARACHNOIDITIS = "arachnoiditis"
    SPASTICITY_STROKE = "spasticity_stroke"
    SPASTICITY_CEREBRAL_PALSY = "spasticity_cerebral_palsy"
    SPASTICITY_MULTIPLE_SCLEROSIS = "spasticity_multiple_sclerosis"
    SPASTICITY_SPINAL_CORD_INJURY = "spasticity_spinal_cord_injury"
    SPASTICITY_BRAIN_INJURY = "spasticity_brain_injury"


_LABELS: dict[Diagnosis, str] = {
    Diagnosis.CANCER_PAIN: "Cancer pain",
    Diagnosis.FAILED_BACK_SURGERY_SYNDROME: "Failed back surgery syndrome",
    Diagnosis.CHRONIC_PANCREATITIS: "Chronic pancreatitis",
    Diagnosis.CRPS: "Complex regional pain syndrome (reflex sympathetic dystrophy)",
    Diagnosis.CAUSALGIA: "Causalgia",
    Diagnosis.ARACHNOIDITIS: "Arachnoiditis",
    Diagnosis.SPASTICITY_STROKE: "Spasticity after stroke",
    Diagnosis.SPASTICITY_CEREBRAL_PALSY: "Spasticity in cerebral palsy",
    Diagnosis.SPASTICITY_MULTIPLE_SCLEROSIS: "Spasticity in multiple sclerosis",
    Diagnosis.SPASTICITY_SPINAL_CORD_INJURY: "Spasticity after spinal cord injury",
    Diagnosis.SPASTICITY_BRAIN_INJURY: "Spasticity after brain injury",
}


def family_of(diagnosis: Diagnosis) -> DiagnosisFamily:
    """Which therapy family a diagnosis belongs to."""
    if diagnosis.value.startswith("spasticity_"):
        return DiagnosisFamily.SPASTICITY
    return DiagnosisFamily.PAIN


def label_of(diagnosis: Diagnosis) -> str:
    return _LABELS[diagnosis]


@dataclass(frozen=True)
class TherapyOption:
    """A drug the pump can deliver for a condition, with its approval status shown, not hidden."""

    drug_id: str
    name: str
    approved_for_pump: bool
    high_risk_withdrawal: bool


def _treats_spasticity(drug: DrugEntry) -> bool:
    return "antispastic" in drug.drug_class.lower()


def therapies_for(diagnosis: Diagnosis, library: DrugLibrary) -> tuple[TherapyOption, ...]:
    """The library drugs for the diagnosis's family: antispastics for spasticity, every
    other drug for pain; approved drugs first, then off-label ones."""
    spastic = family_of(diagnosis) is DiagnosisFamily.SPASTICITY
    options = [
        TherapyOption(
            drug.id,
            drug.name,
            drug.approved_for_pump.value,
            drug.high_risk_withdrawal.value,
        )
        for drug in library.drugs
        if _treats_spasticity(drug) == spastic
    ]
    return tuple(sorted(options, key=lambda option: not option.approved_for_pump))
