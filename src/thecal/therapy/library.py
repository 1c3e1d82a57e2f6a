"""The drug library: which drugs and concentrations a pump may hold, with their limits.

Every number in the library is a `Sourced` value: it names its published source,
or it says plainly that it is a site-configurable default. The reference library
ships in `data/drug_library.toml`; a clinic may load its own file in the same
format. Loading validates the whole file and reports every problem at once
(`DrugLibraryError.problems`), so a pharmacist fixes a file in one pass.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from thecal.therapy.display import DoseUnit, format_dose, infer_dose_unit, parse_dose_unit
from thecal.therapy.limits import Direction, Limit, LimitError, LimitProblem
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, decimal_text, exact
from thecal.therapy.sourced import Sourced, SourcedReader, parse_bool
from thecal.therapy.units import (
    parse_concentration,
    parse_dose_rate,
    parse_duration,
    parse_mass,
)

__all__ = [
    "ConcentrationEntry",
    "DrugEntry",
    "DrugLibrary",
    "DrugLibraryError",
    "TitrationStep",
    "default_library",
    "load_library",
    "parse_library",
]

T = TypeVar("T")


@dataclass(frozen=True)
class TitrationStep:
    """Largest allowed increase of the daily dose: absolute, or a percentage of the current."""

    absolute: DoseRate | None = None
    percent: Fraction | None = None

    def bound_for(self, current: DoseRate) -> DoseRate:
        """The largest allowed increase from `current`."""
        if self.absolute is not None:
            return self.absolute
        assert self.percent is not None
        return current.scaled(self.percent / 100)

    def show(self, unit: DoseUnit | None = None) -> str:
        """``"2.4 mcg/day"`` (in the drug's `unit` when given) or ``"20 %"``."""
        if self.absolute is not None:
            return format_dose(self.absolute, unit) if unit is not None else str(self.absolute)
        assert self.percent is not None
        return f"{decimal_text(self.percent)} %"

    def __str__(self) -> str:
        return self.show()

    # A partial order, like sets: two absolute steps compare by their dose rate, two
    # percentage steps by their percentage; an absolute and a percentage step are not
    # comparable (which is larger depends on the current dose), so every comparison
    # between them is False. `Limit` needs no more: it only asks whether a soft step is
    # beyond a hard one, and resolves steps to dose rates before classifying.
    def _key(self) -> tuple[bool, Fraction]:
        if self.absolute is not None:
            return (True, self.absolute.amount)
        assert self.percent is not None
        return (False, self.percent)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, TitrationStep):
            return NotImplemented
        (mine, a), (theirs, b) = self._key(), other._key()
        return mine == theirs and a < b

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, TitrationStep):
            return NotImplemented
        return other < self

    def __le__(self, other: object) -> bool:
        if not isinstance(other, TitrationStep):
            return NotImplemented
        return self == other or self < other

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, TitrationStep):
            return NotImplemented
        return self == other or other < self


@dataclass(frozen=True)
class ConcentrationEntry:
    """One concentration a drug may be filled at; may carry its own stability limit."""

    concentration: Sourced[Concentration]
    stability_max_interval: Sourced[Duration] | None = None
    note: str = ""


@dataclass(frozen=True)
class DrugEntry:
    """One drug's library entry. Limits are per day unless named otherwise.

    The dose limits are `Limit`s: `daily_dose` (worst-case daily dose, both bounds),
    `bolus_dose` (each bolus), `titration_step` (the increase of the daily dose, absolute
    or a percentage of the current), `titration_interval` (a minimum: time between
    increases) and `start_dose` (a soft maximum for a start or restart). Each bound is
    also readable under its library-file key (`daily_dose_soft_max`, ...).
    """

    id: str
    name: str
    drug_class: str
    opioid: bool
    aliases: tuple[str, ...]
    approved_for_pump: Sourced[bool]
    high_risk_withdrawal: Sourced[bool]
    concentrations: tuple[ConcentrationEntry, ...]
    daily_dose: Limit[DoseRate]
    bolus_dose: Limit[Mass] | None
    titration_step: Limit[TitrationStep] | None
    titration_interval: Limit[Duration] | None
    stability_max_interval: Sourced[Duration]
    first_fill_max_interval: Sourced[Duration] | None = None
    start_dose: Limit[DoseRate] | None = None
    dose_unit: DoseUnit | None = None
    """The unit this drug's doses are shown in; None: inferred (`infer_dose_unit`)."""

    def __post_init__(self) -> None:
        # Which side each limit holds is part of its meaning, not a choice of the data.
        sides = (
            ("daily_dose", self.daily_dose, Direction.UPPER),
            ("bolus_dose", self.bolus_dose, Direction.UPPER),
            ("titration_step", self.titration_step, Direction.UPPER),
            ("titration_interval", self.titration_interval, Direction.LOWER),
            ("start_dose", self.start_dose, Direction.UPPER),
        )
        for name, limit, side in sides:
            if limit is not None and limit.direction is not side:
                raise ValueError(f"{self.id}: {name} must be a {side.value} limit")
        if self.daily_dose.soft is None or self.daily_dose.hard is None:
            raise ValueError(f"{self.id}: daily_dose needs a soft and a hard maximum")
        if self.start_dose is not None and self.start_dose.hard is not None:
            raise ValueError(f"{self.id}: start_dose is a soft maximum only (it warns)")

    @property
    def daily_dose_soft_max(self) -> Sourced[DoseRate]:
        bound = self.daily_dose.soft
        assert bound is not None  # __post_init__ requires it
        return bound

    @property
    def daily_dose_hard_max(self) -> Sourced[DoseRate]:
        bound = self.daily_dose.hard
        assert bound is not None  # __post_init__ requires it
        return bound

    @property
    def bolus_dose_soft_max(self) -> Sourced[Mass] | None:
        return self.bolus_dose.soft if self.bolus_dose is not None else None

    @property
    def bolus_dose_hard_max(self) -> Sourced[Mass] | None:
        return self.bolus_dose.hard if self.bolus_dose is not None else None

    @property
    def titration_max_step_soft(self) -> Sourced[TitrationStep] | None:
        return self.titration_step.soft if self.titration_step is not None else None

    @property
    def titration_max_step_hard(self) -> Sourced[TitrationStep] | None:
        return self.titration_step.hard if self.titration_step is not None else None

    @property
    def titration_min_interval_soft(self) -> Sourced[Duration] | None:
        return self.titration_interval.soft if self.titration_interval is not None else None

    @property
    def titration_min_interval_hard(self) -> Sourced[Duration] | None:
        return self.titration_interval.hard if self.titration_interval is not None else None

    @property
    def start_dose_max(self) -> Sourced[DoseRate] | None:
        return self.start_dose.soft if self.start_dose is not None else None

    @property
    def display_unit(self) -> DoseUnit:
        """The unit every dose of this drug is shown in (library `dose_unit`, else inferred)."""
        if self.dose_unit is not None:
            return self.dose_unit
        return infer_dose_unit(self.daily_dose_hard_max.value)

    def show(self, value: Mass | DoseRate | Concentration) -> str:
        """A dose, dose rate or concentration of this drug, in its display unit."""
        return format_dose(value, self.display_unit)

    def refill_limit(
        self, concentration: Concentration, first_fill: bool = False
    ) -> Sourced[Duration]:
        """Longest time a fill of `concentration` may stay in the pump.

        The concentration's own stability limit, else the drug's; on a first fill the
        shorter of that and the drug's first-fill limit (ziconotide: 14 days, S45).
        """
        limit = self.stability_for(concentration)
        first = self.first_fill_max_interval
        if first_fill and first is not None and first.value < limit.value:
            return first
        return limit

    def concentration_entry(self, concentration: Concentration) -> ConcentrationEntry | None:
        """The library entry for exactly this concentration, or None."""
        for entry in self.concentrations:
            if entry.concentration.value == concentration:
                return entry
        return None

    def stability_for(self, concentration: Concentration) -> Sourced[Duration]:
        """Longest refill interval for this concentration (its own, else the drug's)."""
        entry = self.concentration_entry(concentration)
        if entry is not None and entry.stability_max_interval is not None:
            return entry.stability_max_interval
        return self.stability_max_interval

    def sourced_values(self) -> Iterable[tuple[str, Sourced[Any]]]:
        """Every sourced number of this entry with its field name (for display and audit)."""
        for name in (
            "approved_for_pump",
            "high_risk_withdrawal",
            "daily_dose_soft_max",
            "daily_dose_hard_max",
            "bolus_dose_soft_max",
            "bolus_dose_hard_max",
            "titration_max_step_soft",
            "titration_max_step_hard",
            "titration_min_interval_soft",
            "titration_min_interval_hard",
            "stability_max_interval",
            "first_fill_max_interval",
            "start_dose_max",
        ):
            value = getattr(self, name)
            if value is not None:
                yield name, value
        for index, entry in enumerate(self.concentrations):
            yield f"concentrations[{index}]", entry.concentration
            if entry.stability_max_interval is not None:
                yield (
                    f"concentrations[{index}].stability_max_interval",
                    entry.stability_max_interval,
                )


@dataclass(frozen=True)
class DrugLibrary:
    """A validated drug library."""

    name: str
    version: str
    drugs: tuple[DrugEntry, ...]
    sources: Mapping[str, str] = field(default_factory=dict)

    def find(self, name: str) -> DrugEntry | None:
        """The entry whose id, name or alias matches `name` (case-insensitive), or None."""
        wanted = name.strip().lower()
        for drug in self.drugs:
            if wanted in (drug.id, drug.name.lower(), *drug.aliases):
                return drug
        return None

    def get(self, name: str) -> DrugEntry:
        """Like `find`, but a `ValueError` naming the accepted drugs when absent."""
        drug = self.find(name)
        if drug is None:
            raise ValueError(f"drug {name!r} is not in the library; accepted: {self.drug_ids()}")
        return drug

    def drug_ids(self) -> str:
        return ", ".join(drug.id for drug in self.drugs)

    def cite(self, sourced: Sourced[Any]) -> str:
        """Full citation text for a sourced value, or the site-default statement."""
        if sourced.site_default or sourced.source is None:
            return "site-configurable default (no published number found)"
        return self.sources.get(sourced.source, sourced.source)


class DrugLibraryError(ValueError):
    """A library file that does not validate; `problems` lists every problem found."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = tuple(problems)
        listing = "; ".join(problems)
        super().__init__(f"drug library {origin} has {len(problems)} problem(s): {listing}")


# ---------------------------------------------------------------------------
# Loading


def _parse_step(raw: object, where: str) -> TitrationStep:
    if isinstance(raw, str) and raw.strip().endswith("%"):
        number = raw.strip()[:-1].strip()
        try:
            percent = exact(number)
        except (ValueError, TypeError):
            raise ValueError(f"{where}: {raw!r} is not a percentage like '20 %'") from None
        if percent <= 0:
            raise ValueError(f"{where}: {raw!r} must be a positive percentage")
        return TitrationStep(percent=percent)
    return TitrationStep(absolute=parse_dose_rate(raw, where))


def _text(entry: Mapping[str, object], key: str, where: str, problems: list[str]) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key}: missing or not text")
        return ""
    return value.strip()


def _limit_problem(what: str, error: LimitError, shown: Callable[[object], str]) -> str:
    """A library problem about one limit, its doses in the drug's unit."""
    soft, hard = error.soft, error.hard
    if error.problem is LimitProblem.SOFT_OUTSIDE_HARD and soft is not None and hard is not None:
        if error.direction is Direction.UPPER:
            relation = f"soft limit {shown(soft.value)} is above its hard limit"
        else:
            relation = f"soft minimum {shown(soft.value)} is below its hard minimum"
        return f"{what} {relation} {shown(hard.value)} (soft must be inside hard)"
    if error.problem is LimitProblem.BELOW_ZERO:
        return f"{what} limits must not be below zero"
    return f"{what} limit cannot be used ({error.problem.value})"


def _build_drug(raw: object, where: str, collect: SourcedReader) -> DrugEntry | None:
    if not isinstance(raw, dict):
        collect.problems.append(f"{where}: must be a table")
        return None
    before = len(collect.problems)
    drug_id = _text(raw, "id", where, collect.problems).lower()
    where = f"drug {drug_id!r}" if drug_id else where
    name = _text(raw, "name", where, collect.problems)
    drug_class = _text(raw, "drug_class", where, collect.problems)
    opioid = raw.get("opioid", False)
    if not isinstance(opioid, bool):
        collect.problems.append(f"{where}.opioid: must be true or false")
        opioid = False
    aliases_raw = raw.get("aliases", [])
    aliases: tuple[str, ...] = ()
    if isinstance(aliases_raw, list) and all(isinstance(a, str) for a in aliases_raw):
        aliases = tuple(a.strip().lower() for a in aliases_raw)
    else:
        collect.problems.append(f"{where}.aliases: must be a list of names")

    def s(key: str, parse: Callable[[object, str], T], required: bool = True) -> Sourced[T] | None:
        return collect.sourced(f"{where}.{key}", raw.get(key), parse, required)

    approved = s("approved_for_pump", parse_bool)
    withdrawal = s("high_risk_withdrawal", parse_bool)
    soft = s("daily_dose_soft_max", parse_dose_rate)
    hard = s("daily_dose_hard_max", parse_dose_rate)
    bolus_soft = s("bolus_dose_soft_max", parse_mass, required=False)
    bolus_hard = s("bolus_dose_hard_max", parse_mass, required=False)
    step_soft = s("titration_max_step_soft", _parse_step, required=False)
    step_hard = s("titration_max_step_hard", _parse_step, required=False)
    interval_soft = s("titration_min_interval_soft", parse_duration, required=False)
    interval_hard = s("titration_min_interval_hard", parse_duration, required=False)
    stability = s("stability_max_interval", parse_duration)
    first_fill = s("first_fill_max_interval", parse_duration, required=False)
    start_max = s("start_dose_max", parse_dose_rate, required=False)
    dose_unit: DoseUnit | None = None
    if "dose_unit" in raw:
        try:
            dose_unit = parse_dose_unit(raw["dose_unit"], f"{where}.dose_unit")
        except ValueError as error:
            collect.problems.append(str(error))

    known = {
        "id", "name", "drug_class", "opioid", "aliases", "concentrations",
        "approved_for_pump", "high_risk_withdrawal", "daily_dose_soft_max",
        "daily_dose_hard_max", "bolus_dose_soft_max", "bolus_dose_hard_max",
        "titration_max_step_soft", "titration_max_step_hard", "titration_min_interval_soft",
        "titration_min_interval_hard", "stability_max_interval", "first_fill_max_interval",
        "start_dose_max", "dose_unit",
    }  # fmt: skip
    unknown = set(raw) - known
    if unknown:
        collect.problems.append(f"{where}: unknown key(s) {sorted(unknown)}")

    concentrations: list[ConcentrationEntry] = []
    raw_concentrations = raw.get("concentrations")
    if not isinstance(raw_concentrations, list) or not raw_concentrations:
        collect.problems.append(
            f"{where}.concentrations: needs at least one [[drugs.concentrations]]"
        )
        raw_concentrations = []
    seen: set[Concentration] = set()
    for index, item in enumerate(raw_concentrations):
        at = f"{where}.concentrations[{index}]"
        if not isinstance(item, dict):
            collect.problems.append(f"{at}: must be a table")
            continue
        # A misspelt key here would silently drop a stricter per-concentration limit.
        stray = set(item) - {"value", "stability_max_interval", "note"}
        if stray:
            collect.problems.append(
                f"{at}: unknown key(s) {sorted(stray)}; "
                "accepted: ['note', 'stability_max_interval', 'value']"
            )
        value = collect.sourced(f"{at}.value", item.get("value"), parse_concentration)
        own_stability = collect.sourced(
            f"{at}.stability_max_interval",
            item.get("stability_max_interval"),
            parse_duration,
            required=False,
        )
        if value is None:
            continue
        if value.value.amount <= 0:
            collect.problems.append(f"{at}.value: a concentration must be positive")
        if value.value in seen:
            collect.problems.append(f"{at}: duplicate concentration {value.value}")
        seen.add(value.value)
        concentrations.append(ConcentrationEntry(value, own_stability, str(item.get("note", ""))))

    # Problems about doses read in the drug's own unit, like everything else about it.
    unit = dose_unit or (infer_dose_unit(hard.value) if hard is not None else DoseUnit.MCG)

    def shown(value: object) -> str:
        if isinstance(value, Mass | DoseRate | Concentration):
            return format_dose(value, unit)
        if isinstance(value, TitrationStep):
            return value.show(unit)
        return str(value)

    def limit(
        what: str, direction: Direction, soft: Sourced[Any] | None, hard: Sourced[Any] | None
    ) -> Limit[Any] | None:
        """The `Limit` of two bounds read from the file; None (and a problem) if it cannot be."""
        if soft is None and hard is None:
            return None
        try:
            return Limit(direction, soft, hard)
        except LimitError as error:
            collect.problems.append(f"{where}: {_limit_problem(what, error, shown)}")
            return None

    daily = limit("daily dose", Direction.UPPER, soft, hard)
    bolus = limit("bolus dose", Direction.UPPER, bolus_soft, bolus_hard)
    step = limit("titration step", Direction.UPPER, step_soft, step_hard)
    interval = limit("titration interval", Direction.LOWER, interval_soft, interval_hard)
    start = limit("start dose", Direction.UPPER, start_max, None)
    if start_max is not None and hard is not None and start_max.value > hard.value:
        collect.problems.append(
            f"{where}: start_dose_max {shown(start_max.value)} is above the daily hard limit "
            f"{shown(hard.value)}"
        )
    positives: tuple[tuple[str, Sourced[DoseRate] | Sourced[Duration] | None], ...] = (
        ("daily_dose_hard_max", hard),
        ("stability_max_interval", stability),
    )
    for label, positive in positives:
        if positive is not None and positive.value.amount <= 0:
            collect.problems.append(f"{where}.{label}: must be positive")
    for index, entry in enumerate(concentrations):
        own = entry.stability_max_interval
        if own is not None and own.value.amount <= 0:
            collect.problems.append(
                f"{where}.concentrations[{index}].stability_max_interval: must be positive"
            )

    if len(collect.problems) > before:
        return None
    assert approved and withdrawal and daily and stability
    return DrugEntry(
        id=drug_id,
        name=name,
        drug_class=drug_class,
        opioid=opioid,
        aliases=aliases,
        approved_for_pump=approved,
        high_risk_withdrawal=withdrawal,
        concentrations=tuple(concentrations),
        daily_dose=daily,
        bolus_dose=bolus,
        titration_step=step,
        titration_interval=interval,
        stability_max_interval=stability,
        first_fill_max_interval=first_fill,
        start_dose=start,
        dose_unit=dose_unit,
    )


def parse_library(text: str, origin: str = "<text>") -> DrugLibrary:
    """Build a `DrugLibrary` from TOML text; raise `DrugLibraryError` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DrugLibraryError(origin, [f"not valid TOML: {error}"]) from None
    problems: list[str] = []
    stray = set(data) - {"schema", "name", "version", "sources", "drugs"}
    if stray:
        problems.append(
            f"unknown top-level key(s) {sorted(stray)}; "
            "accepted: ['drugs', 'name', 'schema', 'sources', 'version']"
        )
    if data.get("schema") != 1:
        problems.append("schema: must be 1")
    raw_sources = data.get("sources", {})
    sources: dict[str, str] = {}
    if isinstance(raw_sources, dict):
        for key, value in raw_sources.items():
            if isinstance(value, str) and value.strip():
                sources[key] = value.strip()
            else:
                problems.append(f"sources.{key}: must be non-empty citation text")
    else:
        problems.append("sources: must be a table of id = citation")
    collect = SourcedReader(sources, problems)
    raw_drugs = data.get("drugs")
    if not isinstance(raw_drugs, list) or not raw_drugs:
        problems.append("drugs: needs at least one [[drugs]] entry")
        raw_drugs = []
    drugs: list[DrugEntry] = []
    names: dict[str, str] = {}
    for index, raw in enumerate(raw_drugs):
        drug = _build_drug(raw, f"drugs[{index}]", collect)
        if drug is None:
            continue
        for key in dict.fromkeys((drug.id, drug.name.lower(), *drug.aliases)):
            if key in names and names[key] != drug.id:
                problems.append(f"drug {drug.id!r}: name {key!r} is also used by {names[key]!r}")
            elif key in names and key == drug.id:
                problems.append(f"drug {drug.id!r}: duplicate drug id")
            names[key] = drug.id
        drugs.append(drug)
    if problems:
        raise DrugLibraryError(origin, problems)
    name = str(data.get("name", origin))
    version = str(data.get("version", ""))
    return DrugLibrary(name=name, version=version, drugs=tuple(drugs), sources=sources)


def load_library(path: Path | str) -> DrugLibrary:
    """Read and validate a clinic's library file."""
    file = Path(path)
    return parse_library(file.read_text(encoding="utf-8"), origin=str(file))


_DEFAULT: DrugLibrary | None = None


def default_library() -> DrugLibrary:
    """The reference library shipped with thecal (validated once, then cached)."""
    global _DEFAULT
    if _DEFAULT is None:
        text = (
            resources.files("thecal.therapy")
            .joinpath("data/drug_library.toml")
            .read_text(encoding="utf-8")
        )
        _DEFAULT = parse_library(text, origin="thecal reference library")
    return _DEFAULT
