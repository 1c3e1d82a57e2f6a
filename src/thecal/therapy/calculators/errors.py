"""The one error a calculator raises for input it cannot calculate with."""

from __future__ import annotations

__all__ = ["CalculatorInputError"]


class CalculatorInputError(ValueError):
    """An input a calculator cannot use: names the field, the problem and what is accepted."""

    def __init__(self, field: str, problem: str, accepted: str) -> None:
        self.field = field
        self.problem = problem
        self.accepted = accepted
        super().__init__(f"{field}: {problem}; accepted: {accepted}")
