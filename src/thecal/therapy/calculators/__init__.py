"""Dosing calculators: pure, exact functions over therapy values.

One module per idea (`rate`, `refill`, `priming`, `bridge`, `route_conversion`,
`baclofen_start`, `titration_plan`). Each returns a frozen, typed result; an input
that cannot be calculated (a trimmed length longer than the catheter, a zero
concentration) raises `CalculatorInputError`, which names the field and what is
accepted. Clinical constants come from sourced data files, never from code.
"""

from thecal.therapy.calculators.errors import CalculatorInputError

__all__ = ["CalculatorInputError"]
