"""Read the calculators' sourced data files (clinical constants with their sources)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, TypeVar

from thecal.therapy.sourced import Sourced, SourcedReader

__all__ = ["DataFileError", "SourcedTable", "read_packaged", "require"]

T = TypeVar("T")


class DataFileError(ValueError):
    """A calculator data file that does not validate; `problems` names every problem."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = tuple(problems)
        super().__init__(f"{origin} has {len(problems)} problem(s): " + "; ".join(problems))


def read_packaged(name: str) -> str:
    """The text of a data file shipped in `thecal.therapy/data`."""
    return resources.files("thecal.therapy").joinpath(f"data/{name}").read_text("utf-8")


class SourcedTable:
    """A parsed TOML document whose numbers are `Sourced` tables citing its `[sources]`."""

    def __init__(self, text: str, origin: str) -> None:
        self.origin = origin
        self.problems: list[str] = []
        try:
            self.data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise DataFileError(origin, [f"not valid TOML: {error}"]) from None
        raw_sources = self.data.get("sources", {})
        self.sources: dict[str, str] = {}
        if isinstance(raw_sources, dict):
            for key, value in raw_sources.items():
                if isinstance(value, str) and value.strip():
                    self.sources[key] = value.strip()
                else:
                    self.problems.append(f"sources.{key}: must be non-empty citation text")
        else:
            self.problems.append("sources: must be a table of id = citation")
        self.reader = SourcedReader(self.sources, self.problems)

    def sourced(
        self, table: Mapping[str, Any], key: str, where: str, parse: Callable[[object, str], T]
    ) -> Sourced[T] | None:
        return self.reader.sourced(f"{where}{key}", table.get(key), parse)

    def finish(self) -> None:
        """Raise `DataFileError` naming every problem found so far."""
        if self.problems:
            raise DataFileError(self.origin, self.problems)


def require(value: T | None) -> T:
    """A value that `SourcedTable.finish` has vouched for."""
    assert value is not None
    return value
