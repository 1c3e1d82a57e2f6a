"""Where does it hurt? The clinic's one door to `thecal.therapy.anatomy`.

The body map, the dermatome mapping, the catheter-tip suggestion and their sources
all live in the therapy core (`thecal.therapy.anatomy`, data in ``anatomy.toml``); the
clinic only turns them into plain values it can store and show. If this installation
has no anatomy module yet, `map_pain` returns None and tip levels are kept as entered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["BodyRegionView", "PainMap", "anatomy_available", "body_map", "map_pain", "tip_level"]


def _module() -> ModuleType | None:
    try:
        return importlib.import_module("thecal.therapy.anatomy")
    except ImportError:
        return None


def anatomy_available() -> bool:
    return _module() is not None


@dataclass(frozen=True)
class PainMap:
    """Body regions → spinal segments → a suggested catheter-tip level, with its evidence."""

    region_ids: tuple[str, ...]
    segments: tuple[str, ...]
    suggested_tip_level: str
    tip_range: tuple[str, str]
    rationale: tuple[str, ...]
    evidence: tuple[str, ...]
    source_ids: tuple[str, ...]
    disclaimer: str


@dataclass(frozen=True)
class BodyRegionView:
    id: str
    label: str
    view: str
    side: str | None
    segments: tuple[str, ...]


def map_pain(region_ids: tuple[str, ...]) -> PainMap | None:
    """The mapping for these body-map regions; `ValueError` (naming the accepted ids) for an
    unknown region; None when the anatomy module is not installed or no region is marked."""
    module = _module()
    if module is None or not region_ids:
        return None
    suggestion: Any = module.suggest_tip_level(region_ids)
    return PainMap(
        region_ids=tuple(suggestion.region_ids),
        segments=tuple(segment.name for segment in suggestion.segments),
        suggested_tip_level=suggestion.suggested_level.name,
        tip_range=(suggestion.cranial_level.name, suggestion.caudal_level.name),
        rationale=tuple(suggestion.rationale),
        evidence=tuple(note.text for note in suggestion.evidence),
        source_ids=tuple(suggestion.source_ids),
        disclaimer=suggestion.disclaimer,
    )


def body_map() -> tuple[BodyRegionView, ...]:
    """Every body-map region (empty when the anatomy module is not installed)."""
    module = _module()
    if module is None:
        return ()
    return tuple(
        BodyRegionView(
            region.id,
            region.label,
            region.view,
            region.side,
            tuple(segment.name for segment in region.segments),
        )
        for region in module.body_regions()
    )


def tip_level(text: str) -> str:
    """A catheter-tip vertebral level in canonical form ("T10"); `ValueError` naming the
    accepted levels when the anatomy module knows it is not one."""
    module = _module()
    if module is None:
        cleaned = text.strip().upper()
        if not cleaned:
            raise ValueError("catheter_tip_level: empty; accepted: a vertebral level, e.g. T10")
        return cleaned
    return str(module.parse_vertebra(text).name)
