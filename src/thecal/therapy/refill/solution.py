"""Is this the solution the prescription calls for? One answer for every layer.

A drug is named by its library id, its name or any of its aliases, in any case and
with stray whitespace ("Lioresal ", "gablofen" and "baclofen" are one drug); a name
the library does not know is compared as written, trimmed and lower-cased. The
concentration must be equal exactly: there is no "close enough" for a concentration,
a wrong one is a documented, dangerous failure mode (clinic-practice 3.2, S94).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from thecal.therapy.library import DrugLibrary
from thecal.therapy.quantities import Concentration

__all__ = [
    "Solution",
    "SolutionCheck",
    "SolutionMismatch",
    "check_solution",
    "drug_identity",
    "same_drug",
]


def drug_identity(library: DrugLibrary, name: str) -> str:
    """The drug `name` stands for: its library id when the library knows the name or an
    alias of it (case and surrounding whitespace ignored), else the name trimmed and
    lower-cased."""
    entry = library.find(name)
    return entry.id if entry is not None else name.strip().lower()


def same_drug(library: DrugLibrary, first: str, second: str) -> bool:
    """True when both names stand for the same drug (`drug_identity`)."""
    return drug_identity(library, first) == drug_identity(library, second)


@dataclass(frozen=True)
class Solution:
    """A drug (as named) at a concentration: what a reservoir holds or a syringe carries."""

    drug: str
    concentration: Concentration

    def __str__(self) -> str:
        return f"{self.drug} {self.concentration}"


class SolutionMismatch(StrEnum):
    """How a solution differs from the one expected."""

    DRUG = "drug"
    CONCENTRATION = "concentration"


@dataclass(frozen=True)
class SolutionCheck:
    """A solution against the one expected, both with the drug as its identity."""

    expected: Solution
    given: Solution
    mismatches: tuple[SolutionMismatch, ...]

    @property
    def matches(self) -> bool:
        return not self.mismatches

    @property
    def message(self) -> str:
        if self.matches:
            return f"{self.given} is the expected solution"
        parts = " and ".join(m.value for m in self.mismatches)
        return f"{self.given} differs in {parts} from the expected {self.expected}"


def check_solution(library: DrugLibrary, expected: Solution, given: Solution) -> SolutionCheck:
    """Compare `given` (a refill, a prescription) with `expected` (the prescription in
    force, what the reservoir holds): same drug by `drug_identity`, equal concentration."""
    want = Solution(drug_identity(library, expected.drug), expected.concentration)
    got = Solution(drug_identity(library, given.drug), given.concentration)
    mismatches: list[SolutionMismatch] = []
    if want.drug != got.drug:
        mismatches.append(SolutionMismatch.DRUG)
    if want.concentration != got.concentration:
        mismatches.append(SolutionMismatch.CONCENTRATION)
    return SolutionCheck(want, got, tuple(mismatches))
