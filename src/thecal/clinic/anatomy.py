"""Where does it hurt? The clinic's one door to `thecal.therapy.anatomy`.

The body map, the dermatome mapping, the catheter-tip suggestion and their sources all
live in the therapy core (`thecal.therapy.anatomy`, data in ``anatomy.toml``); the clinic
only turns them into plain values it can store with an assessment and show.
"""

from __future__ import annotations

from dataclasses import dataclass

from thecal.therapy import anatomy

__all__ = [
    "BodyRegionView",
    "CitedSource",
    "PainMap",
    "body_map",
    "cited_sources",
    "map_pain",
    "tip_level",
]


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
    """The mapping for these body-map regions (None when none is marked); an unknown region
    raises `anatomy.UnknownRegionError` (a `ValueError` listing the accepted ids)."""
    if not region_ids:
        return None
    suggestion = anatomy.suggest_tip_level(region_ids)
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
    """Every body-map region, front and back, with the segments that supply it."""
    return tuple(
        BodyRegionView(
            region.id,
            region.label,
            region.view,
            region.side,
            tuple(segment.name for segment in region.segments),
        )
        for region in anatomy.body_regions()
    )


def tip_level(text: str) -> str:
    """A catheter-tip vertebral level in canonical form ("T10"); `ValueError` naming the
    accepted levels otherwise."""
    return anatomy.parse_vertebra(text).name


@dataclass(frozen=True)
class CitedSource:
    """A source the anatomy data cites: its id, kind ('published', 'derived', 'model
    parameter'), citation text and, when it has one, a link."""

    id: str
    kind: str
    citation: str
    url: str | None


def cited_sources(source_ids: tuple[str, ...]) -> tuple[CitedSource, ...]:
    """The citations behind these source ids, in the given order; ids the data does not
    know are left out (a stored mapping may predate a data edit)."""
    known = anatomy.sources()
    return tuple(
        CitedSource(s.id, s.kind, s.citation, s.url)
        for s in (known.get(source_id) for source_id in dict.fromkeys(source_ids))
        if s is not None
    )
