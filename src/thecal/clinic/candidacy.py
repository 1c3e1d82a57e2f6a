"""Candidacy screening and trial success: pure rules over recorded facts.

Screening (eviCore CMM-210, PACC 2024; see devices.md §3.6): conservative therapies
tried, no other surgical option, no active untreated addiction, no contraindication
(infection, insufficient body size, implant too deep), and, for non-cancer pain, a
psychological evaluation. Trial success: ≥ 50 % pain relief, or a ≥ 2-point drop on
the (modified) Ashworth scale for spasticity; equal to the threshold is a success.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from thecal.clinic.diagnoses import Diagnosis, DiagnosisFamily, family_of

__all__ = [
    "ASHWORTH_DROP_THRESHOLD",
    "ASHWORTH_GRADES",
    "PAIN_RELIEF_THRESHOLD",
    "PsychEvaluation",
    "ScreeningCriteria",
    "ScreeningResult",
    "TrialCriterion",
    "TrialMethod",
    "TrialOutcome",
    "ashworth_value",
    "screen",
    "trial_outcome",
]

PAIN_RELIEF_THRESHOLD = Fraction(1, 2)
"""≥ 50 % reduction in pain score (payer criteria, devices.md [S66])."""

ASHWORTH_DROP_THRESHOLD = Fraction(2)
"""≥ 2-point Ashworth improvement for a baclofen trial (devices.md [S66b])."""

ASHWORTH_GRADES = ("0", "1", "1+", "2", "3", "4")
"""Modified Ashworth grades; 1+ lies half-way between 1 and 2."""


class PsychEvaluation(StrEnum):
    FAVOURABLE = "favourable"
    UNFAVOURABLE = "unfavourable"
    NOT_DONE = "not_done"


@dataclass(frozen=True)
class ScreeningCriteria:
    conservative_therapies_tried: bool
    no_other_surgical_option: bool
    no_untreated_addiction: bool
    no_infection: bool
    body_size_adequate: bool
    implant_depth_adequate: bool
    psychological_evaluation: PsychEvaluation


@dataclass(frozen=True)
class ScreeningResult:
    eligible: bool
    unmet: tuple[str, ...]


def screen(criteria: ScreeningCriteria, diagnosis: Diagnosis) -> ScreeningResult:
    """Eligible when every criterion is met; `unmet` names each one that is not.

    A psychological evaluation is required for non-cancer pain (PACC 2024, Grade B); for
    cancer pain and spasticity an unfavourable one still counts against the candidate.
    """
    unmet: list[str] = []
    checks = (
        (criteria.conservative_therapies_tried, "conservative therapies not yet tried"),
        (criteria.no_other_surgical_option, "another surgical option exists"),
        (criteria.no_untreated_addiction, "active untreated addiction"),
        (criteria.no_infection, "contraindication: infection"),
        (criteria.body_size_adequate, "contraindication: insufficient body size"),
        (criteria.implant_depth_adequate, "contraindication: implant depth"),
    )
    unmet.extend(message for ok, message in checks if not ok)
    psych = criteria.psychological_evaluation
    needs_psych = (
        family_of(diagnosis) is DiagnosisFamily.PAIN and diagnosis is not Diagnosis.CANCER_PAIN
    )
    if psych == PsychEvaluation.UNFAVOURABLE:
        unmet.append("psychological evaluation unfavourable")
    elif psych == PsychEvaluation.NOT_DONE and needs_psych:
        unmet.append("psychological evaluation required for non-cancer pain")
    return ScreeningResult(not unmet, tuple(unmet))


class TrialMethod(StrEnum):
    SINGLE_SHOT = "single_shot"
    REPEATED_BOLUS = "repeated_bolus"
    CATHETER_INFUSION = "catheter_infusion"


class TrialCriterion(StrEnum):
    PAIN_RELIEF_50 = "pain_relief_50_percent"
    ASHWORTH_DROP_2 = "ashworth_drop_2_points"


@dataclass(frozen=True)
class TrialOutcome:
    criterion: TrialCriterion
    success: bool
    improvement: Fraction
    """Pain: the fraction of relief (1/2 = 50 %); spasticity: Ashworth points dropped."""
    explanation: str


def ashworth_value(grade: str) -> Fraction:
    """The numeric value of a modified Ashworth grade (1+ = 1.5); `ValueError` otherwise."""
    if grade not in ASHWORTH_GRADES:
        raise ValueError(f"Ashworth grade {grade!r}; accepted: {', '.join(ASHWORTH_GRADES)}")
    return Fraction(3, 2) if grade == "1+" else Fraction(int(grade))


def _score(value: int | None, name: str) -> int:
    if value is None:
        raise ValueError(f"{name}: required; accepted: a pain score from 0 to 10")
    if not 0 <= value <= 10:
        raise ValueError(f"{name}: {value}; accepted: a pain score from 0 to 10")
    return value


def trial_outcome(
    diagnosis: Diagnosis,
    baseline_pain: int | None = None,
    post_pain: int | None = None,
    baseline_ashworth: str | None = None,
    post_ashworth: str | None = None,
) -> TrialOutcome:
    """Judge a trial by its family's criterion. Raises `ValueError` naming a missing or
    unusable measurement (e.g. a baseline pain score of 0 leaves nothing to relieve)."""
    if family_of(diagnosis) is DiagnosisFamily.SPASTICITY:
        if baseline_ashworth is None or post_ashworth is None:
            raise ValueError(
                "baseline_ashworth and post_ashworth: required for a spasticity trial; "
                f"accepted: {', '.join(ASHWORTH_GRADES)}"
            )
        drop = ashworth_value(baseline_ashworth) - ashworth_value(post_ashworth)
        success = drop >= ASHWORTH_DROP_THRESHOLD
        return TrialOutcome(
            TrialCriterion.ASHWORTH_DROP_2,
            success,
            drop,
            f"Ashworth {baseline_ashworth} → {post_ashworth}: {drop} point(s) "
            f"({'meets' if success else 'below'} the 2-point criterion)",
        )
    before = _score(baseline_pain, "baseline_pain")
    after = _score(post_pain, "post_pain")
    if before == 0:
        raise ValueError("baseline_pain: 0 leaves no pain to relieve; accepted: 1 to 10")
    relief = Fraction(before - after, before)
    success = relief >= PAIN_RELIEF_THRESHOLD
    percent = relief * 100
    shown = str(int(percent))  # truncated toward zero, never rounded up
    return TrialOutcome(
        TrialCriterion.PAIN_RELIEF_50,
        success,
        relief,
        f"pain {before} → {after}: {shown} % relief "
        f"({'meets' if success else 'below'} the 50 % criterion)",
    )
