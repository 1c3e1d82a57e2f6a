"""Values that carry their provenance, and a reader that builds them from data files.

Every dosing or device number that enters thecal names where it comes from: a
published source (an id in the file's ``[sources]`` table) or a plain statement
that it is a configurable default with no published number behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from thecal.therapy.units import QuantityParseError

__all__ = ["Sourced", "SourcedReader", "parse_bool", "parse_int"]

T = TypeVar("T")


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value with its provenance: a source id, or an unsourced configurable default.

    `unsourced_kind` says what an unsourced value is called where it is shown:
    "site default" in the drug library, "profile parameter" for device models.
    """

    value: T
    source: str | None = None
    site_default: bool = False
    note: str = ""
    unsourced_kind: str = "site default"

    @property
    def provenance(self) -> str:
        """Human text: ``"source S46"`` or ``"site default"`` / ``"profile parameter"``."""
        return self.unsourced_kind if self.site_default else f"source {self.source}"


def parse_bool(raw: object, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"{where}: must be true or false")
    return raw


def parse_int(raw: object, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ValueError(f"{where}: must be a whole number >= 0")
    return raw


class SourcedReader:
    """Builds `Sourced` values from ``{ value = ..., source = ... }`` tables.

    Problems are collected in `problems` instead of raised, so that a loader can
    report every problem of a file at once.
    """

    def __init__(
        self,
        sources: Mapping[str, str],
        problems: list[str] | None = None,
        unsourced_key: str = "site_default",
        unsourced_kind: str = "site default",
    ) -> None:
        self.sources = sources
        self.problems: list[str] = [] if problems is None else problems
        self.unsourced_key = unsourced_key
        self.unsourced_kind = unsourced_kind

    def sourced(
        self,
        where: str,
        raw: object,
        parse: Callable[[object, str], T],
        required: bool = True,
    ) -> Sourced[T] | None:
        """Parse one sourced table; None (and a recorded problem) when it is invalid."""
        flag = self.unsourced_key
        if raw is None:
            if required:
                self.problems.append(f"{where}: missing")
            return None
        if not isinstance(raw, dict):
            self.problems.append(
                f"{where}: must be a table {{ value = ..., source = ... }} "
                f"or {{ value = ..., {flag} = true }}"
            )
            return None
        unknown = set(raw) - {"value", "source", flag, "note"}
        if unknown:
            self.problems.append(f"{where}: unknown key(s) {sorted(unknown)}")
        source = raw.get("source")
        unsourced = raw.get(flag, False)
        note = raw.get("note", "")
        if not isinstance(unsourced, bool):
            self.problems.append(f"{where}.{flag}: must be true or false")
            unsourced = False
        if source is not None and unsourced:
            self.problems.append(
                f"{where}: has both a source and {flag} = true; a number is either sourced "
                f"or a {self.unsourced_kind}, not both (cite other sources in its note)"
            )
        if source is None and not unsourced:
            self.problems.append(
                f"{where}: needs a source or {flag} = true (every number carries its source)"
            )
        if source is not None:
            if not isinstance(source, str):
                self.problems.append(f"{where}.source: must be text")
                source = None
            elif source not in self.sources:
                self.problems.append(f"{where}.source: {source!r} is not in [sources]")
        if "value" not in raw:
            self.problems.append(f"{where}.value: missing")
            return None
        try:
            value = parse(raw["value"], f"{where}.value")
        except (QuantityParseError, ValueError, TypeError) as error:
            self.problems.append(str(error))
            return None
        return Sourced(value, source, unsourced, str(note), self.unsourced_kind)
