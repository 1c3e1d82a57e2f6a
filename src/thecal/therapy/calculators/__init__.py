"""Dosing calculators: pure, exact functions over therapy values.

One module per idea (`rate`, `refill`, `priming`, `fluid_path`, `bridge`,
`route_conversion`, `baclofen_start`, `titration_plan`, and `prescribed`: what a
calculator reads from a prescription). Each returns a frozen, typed result; an input
that cannot be calculated (a trimmed length longer than the catheter, a zero
concentration) raises `CalculatorInputError`, which names the field and what is
accepted; inputs that are missing or given twice raise its `MissingOrConflictingInput`,
whose `InputProblem` a front end words with its own field names. Clinical constants
come from sourced data files, never from code.
"""

from thecal.therapy.calculators.errors import (
    CalculatorInputError,
    InputProblem,
    MissingOrConflictingInput,
)

__all__ = ["CalculatorInputError", "InputProblem", "MissingOrConflictingInput"]
