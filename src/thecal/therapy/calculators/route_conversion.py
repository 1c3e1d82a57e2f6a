"""Opioid route conversion (morphine): oral, IV, epidural and intrathecal.

    ratio (from:to)  = equivalent[from] / equivalent[to]
    exact dose       = dose / ratio
    converted dose   = exact dose rounded DOWN to the target route's step

Defaults (`data/conversions.toml`): oral 300 = IV 100 = epidural 10 = intrathecal 1
(S52, S54, S87), i.e. 10:1 per step. Ratios are configurable: pass another
`ConversionTable` (a clinic's file) or an explicit `ratio`. Every conversion carries
the warning that conversions are estimates (S53), and every oral <-> intrathecal
conversion the warning that observed oral:IT ratios range from 10:1 to 125:1 (S55).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import cache
from pathlib import Path

from thecal.therapy.calculators.data import SourcedTable, read_packaged, require
from thecal.therapy.calculators.errors import CalculatorInputError
from thecal.therapy.quantities import DoseRate, decimal_text, exact
from thecal.therapy.sourced import Sourced
from thecal.therapy.units import parse_dose_rate

__all__ = [
    "ConversionTable",
    "Route",
    "RouteConversion",
    "convert_dose",
    "default_conversions",
    "load_conversions",
    "parse_conversions",
    "parse_ratio",
    "parse_route",
]


class Route(StrEnum):
    ORAL = "oral"
    IV = "iv"
    EPIDURAL = "epidural"
    INTRATHECAL = "intrathecal"


@dataclass(frozen=True)
class RouteEntry:
    """One route: its equivalent dose to 1 mg intrathecal, and its rounding step."""

    route: Route
    aliases: tuple[str, ...]
    equivalent: Sourced[Fraction]
    round_down_to: Sourced[DoseRate]


@dataclass(frozen=True)
class ConversionTable:
    """A validated conversion table for one drug."""

    drug: str
    routes: Mapping[Route, RouteEntry]
    observed_oral_to_intrathecal: tuple[Sourced[Fraction], Sourced[Fraction]]
    sources: Mapping[str, str]

    def route(self, name: str) -> Route:
        """The route named `name` (or an alias); `CalculatorInputError` otherwise."""
        return parse_route(name, self)


@dataclass(frozen=True)
class RouteConversion:
    """A converted daily dose, the exact value before rounding, and the warnings."""

    drug: str
    from_route: Route
    to_route: Route
    dose: DoseRate
    ratio: Fraction
    ratio_source: str
    exact: DoseRate
    converted: DoseRate
    rounding_step: DoseRate
    warnings: tuple[str, ...]

    @property
    def ratio_text(self) -> str:
        """``"300:1"`` or ``"1:300"``."""
        if self.ratio >= 1:
            return f"{decimal_text(self.ratio, 4)}:1"
        return f"1:{decimal_text(1 / self.ratio, 4)}"


def parse_route(name: str, table: ConversionTable | None = None) -> Route:
    """Read a route name or alias (case-insensitive)."""
    table = table or default_conversions()
    wanted = name.strip().lower()
    for entry in table.routes.values():
        if wanted == entry.route.value or wanted in entry.aliases:
            return entry.route
    accepted = ", ".join(
        f"{e.route.value}" + (f" ({', '.join(e.aliases)})" if e.aliases else "")
        for e in table.routes.values()
    )
    raise CalculatorInputError("route", f"{name!r} is not a route", accepted)


def parse_ratio(text: str, field: str = "ratio") -> Fraction:
    """Read a from:to ratio such as ``"300:1"``, ``"1:300"`` or ``"100"`` (= 100:1)."""
    accepted = "a positive ratio FROM:TO such as '300:1' or '100'"
    left, sep, right = text.strip().partition(":")
    try:
        value = exact(left) / (exact(right) if sep else 1)
    except (ValueError, TypeError, ZeroDivisionError):
        raise CalculatorInputError(field, f"{text!r} is not a ratio", accepted) from None
    if value <= 0:
        raise CalculatorInputError(field, f"{text!r} is not positive", accepted)
    return value


def _positive_number(raw: object, where: str) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f'{where}: must be a number in quotes, e.g. "300"')
    value = exact(raw if isinstance(raw, int) else raw.strip())
    if value <= 0:
        raise ValueError(f"{where}: must be above zero")
    return value


def _positive_rate(raw: object, where: str) -> DoseRate:
    value = parse_dose_rate(raw, where)
    if value.amount <= 0:
        raise ValueError(f"{where}: must be above zero")
    return value


def parse_conversions(text: str, origin: str = "<text>") -> ConversionTable:
    """Build a `ConversionTable` from TOML; `DataFileError` names every problem."""
    table = SourcedTable(text, origin)
    data = table.data
    if data.get("schema") != 1:
        table.problems.append("schema: must be 1")
    drug = data.get("drug")
    if not isinstance(drug, str) or not drug.strip():
        table.problems.append("drug: missing or not text")
        drug = ""
    raw_routes = data.get("routes", {})
    if not isinstance(raw_routes, dict):
        table.problems.append("routes: must be a table of [routes.NAME]")
        raw_routes = {}
    routes: dict[Route, RouteEntry] = {}
    for route in Route:
        raw = raw_routes.get(route.value)
        where = f"routes.{route.value}"
        if not isinstance(raw, dict):
            table.problems.append(f"{where}: missing (every route needs an entry)")
            continue
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            table.problems.append(f"{where}.aliases: must be a list of names")
            aliases = []
        equivalent = table.sourced(raw, "equivalent", f"{where}.", _positive_number)
        step = table.sourced(raw, "round_down_to", f"{where}.", _positive_rate)
        if equivalent is not None and step is not None:
            names = tuple(a.strip().lower() for a in aliases)
            routes[route] = RouteEntry(route, names, equivalent, step)
    unknown = set(raw_routes) - {route.value for route in Route}
    if unknown:
        table.problems.append(
            f"routes: unknown route(s) {sorted(unknown)}; accepted: "
            + ", ".join(route.value for route in Route)
        )
    observed = data.get("observed_oral_to_intrathecal", {})
    if not isinstance(observed, dict):
        table.problems.append("observed_oral_to_intrathecal: must be a table")
        observed = {}
    low = table.sourced(observed, "low", "observed_oral_to_intrathecal.", _positive_number)
    high = table.sourced(observed, "high", "observed_oral_to_intrathecal.", _positive_number)
    if low is not None and high is not None and low.value > high.value:
        table.problems.append("observed_oral_to_intrathecal: low is above high")
    table.finish()
    return ConversionTable(
        drug.strip().lower(), routes, (require(low), require(high)), table.sources
    )


def load_conversions(path: Path | str) -> ConversionTable:
    """Read and validate a clinic's conversion file."""
    file = Path(path)
    return parse_conversions(file.read_text(encoding="utf-8"), origin=str(file))


@cache
def default_conversions() -> ConversionTable:
    """The shipped morphine conversion table (`data/conversions.toml`)."""
    return parse_conversions(read_packaged("conversions.toml"), "thecal conversion table")


def _ratio_text(value: Fraction) -> str:
    return f"{decimal_text(value, 4)}:1"


def convert_dose(
    dose: DoseRate,
    from_route: Route,
    to_route: Route,
    table: ConversionTable | None = None,
    ratio: Fraction | None = None,
) -> RouteConversion:
    """Convert a daily morphine dose between routes; the result is rounded DOWN.

    `ratio` (from:to, e.g. 300 for oral -> intrathecal) overrides the table's.
    """
    table = table or default_conversions()
    if dose.amount <= 0:
        raise CalculatorInputError("dose", f"{dose}", "a daily dose above zero, e.g. '90 mg/day'")
    source_entry, target_entry = table.routes[from_route], table.routes[to_route]
    if ratio is None:
        ratio = source_entry.equivalent.value / target_entry.equivalent.value
        provenance = (
            f"{from_route.value} {source_entry.equivalent.provenance}; "
            f"{to_route.value} {target_entry.equivalent.provenance}"
        )
    else:
        if ratio <= 0:
            raise CalculatorInputError("ratio", f"{ratio}", "a positive FROM:TO ratio")
        provenance = "given by the user"
    exact_dose = dose.scaled(1 / ratio)
    step = target_entry.round_down_to.value
    converted = exact_dose.floor_to(step)
    warnings = [
        "route conversion is an estimate with wide variation between patients: start low "
        "and titrate under monitoring (S53)"
    ]
    if {from_route, to_route} == {Route.ORAL, Route.INTRATHECAL}:
        low, high = table.observed_oral_to_intrathecal
        warnings.append(
            f"observed oral:intrathecal ratios range from {_ratio_text(low.value)} to "
            f"{_ratio_text(high.value)} ({low.provenance}), far from the "
            f"{_ratio_text(max(ratio, 1 / ratio))} used here"
        )
    if converted != exact_dose:
        warnings.append(
            f"rounded down from {decimal_text(exact_dose.mg_per_day, 6)} mg/day to a multiple "
            f"of {decimal_text(step.mg_per_day, 6)} mg/day"
        )
    if converted.is_zero():
        warnings.append(
            f"the converted dose is below the {to_route.value} rounding step "
            f"{decimal_text(step.mg_per_day, 6)} mg/day"
        )
    return RouteConversion(
        drug=table.drug,
        from_route=from_route,
        to_route=to_route,
        dose=dose,
        ratio=ratio,
        ratio_source=provenance,
        exact=exact_dose,
        converted=converted,
        rounding_step=step,
        warnings=tuple(warnings),
    )
