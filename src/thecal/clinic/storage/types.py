"""Column types that keep clinical values exact and times unambiguous.

Doses, volumes and concentrations are stored as exact fraction text in the base unit
of their kind (``"1/3"`` mL, ``"500"`` mcg/mL), never as binary floats; times are
stored as UTC and always come back time-zone aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from thecal.therapy.quantities import (
    Concentration,
    DoseRate,
    Duration,
    Mass,
    Volume,
    VolumeRate,
    exact,
)

__all__ = ["ExactFraction", "QuantityType", "UTCDateTime", "fraction_text"]

Q = TypeVar("Q", Mass, Volume, Duration, Concentration, DoseRate, VolumeRate)


def fraction_text(value: Fraction) -> str:
    """Canonical exact text of a fraction: ``"3"``, ``"-1/3"``."""
    return str(value)


class ExactFraction(TypeDecorator[Fraction]):
    """A `Fraction` stored as its exact text ("7/3"); floats are refused."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("exact columns refuse binary floats")
        return fraction_text(exact(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Fraction | None:
        if value is None:
            return None
        return Fraction(value)


class QuantityType(TypeDecorator[Q], Generic[Q]):
    """A therapy quantity stored as the exact fraction text of its base-unit amount."""

    impl = String(64)
    cache_ok = True

    def __init__(self, kind: type[Q]) -> None:
        super().__init__()
        self.kind: type[Q] = kind

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, self.kind):
            raise TypeError(f"expected a {self.kind.__name__}, got {type(value).__name__}")
        return fraction_text(value.amount)

    def process_result_value(self, value: Any, dialect: Dialect) -> Q | None:
        if value is None:
            return None
        quantity: Q = self.kind(Fraction(value))
        return quantity


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC; naive datetimes are refused as a misuse."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetimes are refused: give a time-zone aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite may hand back text for raw SQL columns
            value = datetime.fromisoformat(value)
        moment: datetime = value.replace(tzinfo=UTC)
        return moment
