"""The errors a calculator raises for input it cannot calculate with."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CalculatorInputError", "InputProblem", "MissingOrConflictingInput"]


class CalculatorInputError(ValueError):
    """An input a calculator cannot use: names the field, the problem and what is accepted."""

    def __init__(self, field: str, problem: str, accepted: str) -> None:
        self.field = field
        self.problem = problem
        self.accepted = accepted
        super().__init__(f"{field}: {problem}; accepted: {accepted}")


class InputProblem(StrEnum):
    """A set of inputs a calculator cannot work from: something missing, or two sources of
    one value. Typed, so that each front end words it with its own field names."""

    MINIMUM_RATE_NEEDS_PUMP = "minimum_rate_needs_pump"
    """A minimum-rate prescription runs at the pump model's minimum rate: no pump, no rate."""
    BOTH_LENGTHS = "both_lengths"
    """The implanted length given both directly and as catheter length − trimmed length."""
    TRIMMED_NEEDS_CATHETER_LENGTH = "trimmed_needs_catheter_length"
    """A trimmed length without the full catheter length (given or from a catheter model)."""
    NO_IMPLANTED_LENGTH = "no_implanted_length"
    NO_VOLUME_PER_CM = "no_volume_per_cm"
    """Neither a catheter volume per cm nor a catheter model."""
    NO_TUBING_VOLUME = "no_tubing_volume"
    """Neither a pump tubing volume nor a pump model."""
    BOTH_OLD_SOLUTIONS = "both_old_solutions"
    """The old solution given both as a prescription and as a dose and concentration."""
    NO_OLD_SOLUTION = "no_old_solution"
    BOTH_NEW_SOLUTIONS = "both_new_solutions"
    """The new solution given both as a prescription and as a concentration."""
    DRUG_DIFFERS = "drug_differs"
    """A drug given beside a prescription of another drug."""
    CONCENTRATION_DIFFERS = "concentration_differs"
    """A concentration given beside a prescription at another concentration."""
    DRUG_WITHOUT_CONCENTRATION = "drug_without_concentration"
    """A drug without its concentration, or a concentration without its drug."""


_WORDING: dict[InputProblem, tuple[str, str]] = {
    InputProblem.MINIMUM_RATE_NEEDS_PUMP: (
        "a minimum-rate prescription runs at the pump model's minimum rate",
        "a pump model",
    ),
    InputProblem.BOTH_LENGTHS: (
        "the implanted length is given twice",
        "the implanted length or the trimmed length, not both",
    ),
    InputProblem.TRIMMED_NEEDS_CATHETER_LENGTH: (
        "a trimmed length needs the full catheter length",
        "the catheter length or a catheter model",
    ),
    InputProblem.NO_IMPLANTED_LENGTH: (
        "no implanted length",
        "the implanted length, or the trimmed length with the catheter length or model",
    ),
    InputProblem.NO_VOLUME_PER_CM: (
        "no catheter volume per cm",
        "a volume per cm, e.g. '0.0026 mL/cm', or a catheter model",
    ),
    InputProblem.NO_TUBING_VOLUME: (
        "no pump tubing volume",
        "a tubing volume, e.g. '0.14 mL', or a pump model",
    ),
    InputProblem.BOTH_OLD_SOLUTIONS: (
        "the old solution is given twice",
        "the current prescription or the old dose and concentration, not both",
    ),
    InputProblem.NO_OLD_SOLUTION: (
        "no old solution",
        "the current prescription, or the old daily dose and old concentration",
    ),
    InputProblem.BOTH_NEW_SOLUTIONS: (
        "the new solution is given twice",
        "the new prescription or the new concentration, not both",
    ),
    InputProblem.DRUG_DIFFERS: (
        "differs from the prescription's drug",
        "the prescription's drug, or no drug",
    ),
    InputProblem.CONCENTRATION_DIFFERS: (
        "differs from the prescription's concentration",
        "the prescription's concentration, or none",
    ),
    InputProblem.DRUG_WITHOUT_CONCENTRATION: (
        "a drug and a concentration go together",
        "both (for the stability limit) or neither",
    ),
}


class MissingOrConflictingInput(CalculatorInputError):
    """Inputs that do not determine a calculation: `problem_kind` says which way.

    Its message names the calculator's own fields; a front end with other names for them
    (command-line options, form fields) words `problem_kind` itself.
    """

    def __init__(self, problem_kind: InputProblem, field: str) -> None:
        self.problem_kind = problem_kind
        problem, accepted = _WORDING[problem_kind]
        super().__init__(field, problem, accepted)
