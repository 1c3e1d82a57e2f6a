"""Spinal anatomy: vertebral levels, cord segments, dermatomes and the body map.

This is the link from "where does it hurt?" to "where should the catheter tip
be?". Everything here comes from one data file shipped with the package,
``thecal/therapy/data/anatomy.toml``, where every entry names its sources:

* `vertebrae()`: C1-C7, T1-T12, L1-L5, S1-S5 with a nominal position along the
  spinal canal, in cm from the foramen magnum (an exact `Fraction`). The
  position table is a labelled *model parameter*: no cited source gives it
  level by level, and patients differ by a level or more.
* `cord_segments()`: spinal-cord segments C1-C8, T1-T12, L1-L5, S1-S5, each with
  the vertebral level it lies at (cord segments sit above their same-numbered
  vertebrae: ~1 level in the neck, ~2 in the thorax, lumbar segments at
  T10-T12, sacral at L1) and its dermatome key sensory point (ISNCSCI).
* `body_regions()`: front and back body-map regions (``front.chest.left``,
  ``back.low_back``, ...) with a human label and the segments that supply them.
* `suggest_tip_level(region_ids)`: target segments -> vertebral range -> one
  suggested level, with rationale, sources and the published evidence notes.
  It is *derived* from dermatome and segment-offset data, **not a clinical
  guideline**.

Positions are exact (`Fraction` cm, stored as integer mm) so the therapy core
never carries a binary float. All values are frozen dataclasses; every lookup
failure is a `ValueError` that names what is accepted.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "AnatomyDataError",
    "BodyRegion",
    "CanalLandmarks",
    "CordSegment",
    "EvidenceNote",
    "Source",
    "TipRule",
    "TipSuggestion",
    "UnknownRegionError",
    "Vertebra",
    "body_region",
    "body_regions",
    "canal_landmarks",
    "cord_segments",
    "disclaimer",
    "nearest_vertebra",
    "parse_segment",
    "parse_vertebra",
    "segments_for_regions",
    "sources",
    "suggest_tip_level",
    "tip_evidence",
    "tip_rules",
    "vertebrae",
]

SpinalRegion = Literal["C", "T", "L", "S"]
View = Literal["front", "back"]
Side = Literal["left", "right"]

_REGION_NAMES: dict[str, str] = {
    "C": "cervical",
    "T": "thoracic",
    "L": "lumbar",
    "S": "sacral",
}
_VERTEBRA_COUNTS: dict[str, int] = {"C": 7, "T": 12, "L": 5, "S": 5}
_SEGMENT_COUNTS: dict[str, int] = {"C": 8, "T": 12, "L": 5, "S": 5}
ACCEPTED_VERTEBRAE = "C1-C7, T1-T12, L1-L5, S1-S5 (case-insensitive, e.g. 'T10' or 't10')"
ACCEPTED_SEGMENTS = "C1-C8, T1-T12, L1-L5, S1-S5 (case-insensitive, e.g. 'L2')"

# A target spread along the cord longer than this is "widespread" pain for the
# rationale: about one e-folding length of the calibrated CSF spread model
# (Kroin 1993, ~24 cm) -- beyond it a single tip cannot bathe both ends alike.
_WIDESPREAD_CM = Fraction(20)

_LEVEL_TEXT = re.compile(r"^\s*([CcTtLlSs])\s*(\d{1,2})\s*$")


class AnatomyDataError(ValueError):
    """The anatomy data file is inconsistent (a packaging or editing mistake)."""


class UnknownRegionError(ValueError):
    """A body-region id that is not on the body map; lists the accepted ids."""

    def __init__(self, unknown: Iterable[str], accepted: Iterable[str]) -> None:
        self.unknown = tuple(unknown)
        self.accepted = tuple(accepted)
        names = ", ".join(repr(u) for u in self.unknown)
        super().__init__(
            f"unknown body region {names}; accepted region ids: {', '.join(self.accepted)}"
        )


@dataclass(frozen=True, slots=True)
class Source:
    """Where a fact comes from. `kind`: 'published', 'derived' or 'model parameter'."""

    id: str
    kind: str
    citation: str
    url: str | None


@dataclass(frozen=True, order=True, slots=True)
class Vertebra:
    """One vertebral level. Ordered cranial -> caudal by `index` (C1 = 0).

    `position_cm`: nominal centre of the vertebral body along the canal, in cm
    from the foramen magnum (model parameter, exact).
    """

    index: int
    name: str
    region: SpinalRegion
    number: int
    position_cm: Fraction

    @property
    def region_name(self) -> str:
        """'cervical', 'thoracic', 'lumbar' or 'sacral'."""
        return _REGION_NAMES[self.region]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, order=True, slots=True)
class CordSegment:
    """One spinal-cord segment. Ordered cranial -> caudal by `index` (C1 = 0).

    `position_cm`: where the segment lies along the canal (cm from the foramen
    magnum, derived from the segment-vertebra offsets); `vertebra`: the
    vertebral level it lies at; `key_point`: its dermatome key sensory point.
    """

    index: int
    name: str
    region: SpinalRegion
    number: int
    position_cm: Fraction
    vertebra: Vertebra
    key_point: str
    source_ids: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class BodyRegion:
    """One body-map region a clinician can mark, e.g. ``front.chest.left``.

    `segments` is empty for regions no spinal segment supplies (the face).
    """

    id: str
    label: str
    view: View
    side: Side | None
    segments: tuple[CordSegment, ...]
    note: str | None
    source_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CanalLandmarks:
    """Canal landmarks in cm from the foramen magnum (model positions)."""

    conus_cm: Fraction
    dural_sac_end_cm: Fraction
    source_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TipRule:
    """One row of the derived pain-region -> segments -> tip-level table."""

    id: str
    pain_region: str
    first_segment: CordSegment
    last_segment: CordSegment
    cranial_tip: Vertebra
    caudal_tip: Vertebra
    source_ids: tuple[str, ...]

    @property
    def segments(self) -> tuple[CordSegment, ...]:
        """The target segments, cranial to caudal."""
        return tuple(
            s
            for s in cord_segments()
            if self.first_segment.index <= s.index <= self.last_segment.index
        )


@dataclass(frozen=True, slots=True)
class EvidenceNote:
    """A published statement about tip placement, with its sources."""

    id: str
    text: str
    source_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TipSuggestion:
    """A derived catheter-tip suggestion for a set of painful body regions.

    `cranial_level`..`caudal_level` is the vertebral range opposite the target
    segments; `suggested_level` is the one level nearest the middle of the
    target segments along the canal. Derived, not a clinical guideline
    (`disclaimer`); `evidence` carries the published notes to weigh it against.
    """

    region_ids: tuple[str, ...]
    segments: tuple[CordSegment, ...]
    cranial_level: Vertebra
    caudal_level: Vertebra
    suggested_level: Vertebra
    target_span_cm: Fraction
    rationale: tuple[str, ...]
    matching_rules: tuple[TipRule, ...]
    evidence: tuple[EvidenceNote, ...]
    source_ids: tuple[str, ...]
    disclaimer: str

    @property
    def vertebral_range(self) -> tuple[Vertebra, ...]:
        """Every vertebral level from `cranial_level` to `caudal_level`."""
        return tuple(
            v for v in vertebrae() if self.cranial_level.index <= v.index <= self.caudal_level.index
        )


# ---------------------------------------------------------------------------
# Loading the data file
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Anatomy:
    disclaimer: str
    sources: Mapping[str, Source]
    canal: CanalLandmarks
    vertebrae: tuple[Vertebra, ...]
    segments: tuple[CordSegment, ...]
    regions: tuple[BodyRegion, ...]
    rules: tuple[TipRule, ...]
    evidence: tuple[EvidenceNote, ...]


def _req(table: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise AnatomyDataError(f"anatomy data: {where} has no '{key}'")
    return table[key]


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = _req(table, key, where)
    if not isinstance(value, str) or not value.strip():
        raise AnatomyDataError(f"anatomy data: {where}.{key} must be non-empty text")
    return value


def _integer(table: Mapping[str, Any], key: str, where: str) -> int:
    value = _req(table, key, where)
    if not isinstance(value, int) or isinstance(value, bool):
        raise AnatomyDataError(f"anatomy data: {where}.{key} must be an integer")
    return value


def _texts(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = _req(table, key, where)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AnatomyDataError(f"anatomy data: {where}.{key} must be a list of text")
    return tuple(value)


def _tables(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = _req(data, key, "file")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise AnatomyDataError(f"anatomy data: '{key}' must be an array of tables")
    return value


def _split_level(name: str) -> tuple[SpinalRegion, int]:
    match = _LEVEL_TEXT.match(name)
    if match is None:
        raise AnatomyDataError(f"anatomy data: {name!r} is not a level name")
    letter = match[1].upper()
    region: SpinalRegion
    if letter == "C":
        region = "C"
    elif letter == "T":
        region = "T"
    elif letter == "L":
        region = "L"
    else:
        region = "S"
    return region, int(match[2])


def _expected_names(counts: Mapping[str, int]) -> list[str]:
    return [f"{r}{n}" for r in ("C", "T", "L", "S") for n in range(1, counts[r] + 1)]


def _check_sources(ids: tuple[str, ...], known: Mapping[str, Source], where: str) -> None:
    missing = [i for i in ids if i not in known]
    if missing:
        raise AnatomyDataError(f"anatomy data: {where} cites unknown sources {missing}")
    if not ids:
        raise AnatomyDataError(f"anatomy data: {where} cites no source")


def _mm(value: int) -> Fraction:
    return Fraction(value, 10)


def _load(data: Mapping[str, Any]) -> _Anatomy:
    raw_sources = _req(data, "sources", "file")
    if not isinstance(raw_sources, dict):
        raise AnatomyDataError("anatomy data: 'sources' must be a table")
    known: dict[str, Source] = {}
    for sid, entry in raw_sources.items():
        where = f"sources.{sid}"
        if not isinstance(entry, dict):
            raise AnatomyDataError(f"anatomy data: {where} must be a table")
        url = entry.get("url")
        if url is not None and not isinstance(url, str):
            raise AnatomyDataError(f"anatomy data: {where}.url must be text")
        kind = _text(entry, "kind", where)
        if kind not in {"published", "derived", "model parameter"}:
            raise AnatomyDataError(f"anatomy data: {where}.kind {kind!r} is not a known kind")
        known[sid] = Source(sid, kind, _text(entry, "citation", where), url)

    canal_table = _req(data, "canal", "file")
    canal = CanalLandmarks(
        conus_cm=_mm(_integer(canal_table, "conus_mm", "canal")),
        dural_sac_end_cm=_mm(_integer(canal_table, "dural_sac_end_mm", "canal")),
        source_ids=_texts(canal_table, "sources", "canal"),
    )
    _check_sources(canal.source_ids, known, "canal")

    verts: list[Vertebra] = []
    for i, entry in enumerate(_tables(data, "vertebrae")):
        name = _text(entry, "name", f"vertebrae[{i}]")
        region, number = _split_level(name)
        verts.append(Vertebra(i, name, region, number, _mm(_integer(entry, "position_mm", name))))
    if [v.name for v in verts] != _expected_names(_VERTEBRA_COUNTS):
        raise AnatomyDataError(
            "anatomy data: vertebrae must be C1-C7, T1-T12, L1-L5, S1-S5 in order"
        )
    by_vertebra = {v.name: v for v in verts}

    segs: list[CordSegment] = []
    for i, entry in enumerate(_tables(data, "segments")):
        name = _text(entry, "name", f"segments[{i}]")
        region, number = _split_level(name)
        vname = _text(entry, "vertebra", f"segment {name}")
        if vname not in by_vertebra:
            raise AnatomyDataError(f"anatomy data: segment {name} lies at unknown level {vname}")
        ids = _texts(entry, "sources", f"segment {name}")
        _check_sources(ids, known, f"segment {name}")
        segs.append(
            CordSegment(
                index=i,
                name=name,
                region=region,
                number=number,
                position_cm=_mm(_integer(entry, "position_mm", f"segment {name}")),
                vertebra=by_vertebra[vname],
                key_point=_text(entry, "key_point", f"segment {name}"),
                source_ids=ids,
            )
        )
    if [s.name for s in segs] != _expected_names(_SEGMENT_COUNTS):
        raise AnatomyDataError(
            "anatomy data: segments must be C1-C8, T1-T12, L1-L5, S1-S5 in order"
        )
    by_segment = {s.name: s for s in segs}

    regions: list[BodyRegion] = []
    seen: set[str] = set()
    for i, entry in enumerate(_tables(data, "regions")):
        rid = _text(entry, "id", f"regions[{i}]")
        if rid in seen:
            raise AnatomyDataError(f"anatomy data: region {rid} is listed twice")
        seen.add(rid)
        parts = rid.split(".")
        view: View
        if parts[0] == "front":
            view = "front"
        elif parts[0] == "back":
            view = "back"
        else:
            raise AnatomyDataError(f"anatomy data: region {rid} must start with front. or back.")
        side: Side | None = None
        if parts[-1] == "left":
            side = "left"
        elif parts[-1] == "right":
            side = "right"
        names = _texts(entry, "segments", f"region {rid}")
        unknown = [n for n in names if n not in by_segment]
        if unknown:
            raise AnatomyDataError(f"anatomy data: region {rid} names unknown segments {unknown}")
        note = entry.get("note")
        if note is not None and not isinstance(note, str):
            raise AnatomyDataError(f"anatomy data: region {rid}.note must be text")
        if not names and note is None:
            raise AnatomyDataError(f"anatomy data: region {rid} has no segments and no note")
        ids = _texts(entry, "sources", f"region {rid}")
        _check_sources(ids, known, f"region {rid}")
        regions.append(
            BodyRegion(
                id=rid,
                label=_text(entry, "label", f"region {rid}"),
                view=view,
                side=side,
                segments=tuple(sorted(by_segment[n] for n in names)),
                note=note,
                source_ids=ids,
            )
        )

    rules: list[TipRule] = []
    for i, entry in enumerate(_tables(data, "tip_rules")):
        rid = _text(entry, "id", f"tip_rules[{i}]")
        seg_range = _texts(entry, "segments", f"tip rule {rid}")
        tip_range = _texts(entry, "tip", f"tip rule {rid}")
        if len(seg_range) != 2 or len(tip_range) != 2:
            raise AnatomyDataError(f"anatomy data: tip rule {rid} needs [first, last] ranges")
        try:
            first, last = by_segment[seg_range[0]], by_segment[seg_range[1]]
            cranial, caudal = by_vertebra[tip_range[0]], by_vertebra[tip_range[1]]
        except KeyError as missing:
            raise AnatomyDataError(f"anatomy data: tip rule {rid} names {missing}") from None
        ids = _texts(entry, "sources", f"tip rule {rid}")
        _check_sources(ids, known, f"tip rule {rid}")
        rules.append(
            TipRule(rid, _text(entry, "pain_region", rid), first, last, cranial, caudal, ids)
        )

    notes: list[EvidenceNote] = []
    for i, entry in enumerate(_tables(data, "evidence")):
        nid = _text(entry, "id", f"evidence[{i}]")
        ids = _texts(entry, "sources", f"evidence {nid}")
        _check_sources(ids, known, f"evidence {nid}")
        notes.append(EvidenceNote(nid, _text(entry, "text", f"evidence {nid}"), ids))

    return _Anatomy(
        disclaimer=_text(data, "disclaimer", "file"),
        sources=MappingProxyType(known),
        canal=canal,
        vertebrae=tuple(verts),
        segments=tuple(segs),
        regions=tuple(regions),
        rules=tuple(rules),
        evidence=tuple(notes),
    )


@cache
def _anatomy() -> _Anatomy:
    text = resources.files("thecal.therapy").joinpath("data", "anatomy.toml").read_text("utf-8")
    return _load(tomllib.loads(text))


# ---------------------------------------------------------------------------
# Public lookups
# ---------------------------------------------------------------------------


def sources() -> Mapping[str, Source]:
    """Every source cited by the anatomy data, by id (read-only mapping)."""
    return _anatomy().sources


def disclaimer() -> str:
    """The plain statement that the tip table is derived, not a guideline."""
    return _anatomy().disclaimer


def canal_landmarks() -> CanalLandmarks:
    """Conus and end of the dural sac along the canal (cm from the foramen magnum)."""
    return _anatomy().canal


def vertebrae() -> tuple[Vertebra, ...]:
    """C1-C7, T1-T12, L1-L5, S1-S5, cranial to caudal."""
    return _anatomy().vertebrae


def cord_segments() -> tuple[CordSegment, ...]:
    """Cord segments C1-C8, T1-T12, L1-L5, S1-S5, cranial to caudal."""
    return _anatomy().segments


def body_regions() -> tuple[BodyRegion, ...]:
    """Every body-map region (front view first, then back view)."""
    return _anatomy().regions


def tip_rules() -> tuple[TipRule, ...]:
    """The derived pain-region -> segments -> tip-level table (not a guideline)."""
    return _anatomy().rules


def tip_evidence() -> tuple[EvidenceNote, ...]:
    """Published evidence notes on tip placement, shown with every suggestion."""
    return _anatomy().evidence


def _parse_level(text: object, what: str, accepted: str, table: Iterable[Any]) -> Any:
    if not isinstance(text, str):
        raise ValueError(f"{what}: {text!r} is not text; accepted: {accepted}")
    match = _LEVEL_TEXT.match(text)
    if match is not None:
        name = f"{match[1].upper()}{int(match[2])}"
        for item in table:
            if item.name == name:
                return item
    raise ValueError(f"{what}: {text!r} is not a known level; accepted: {accepted}")


def parse_vertebra(text: str) -> Vertebra:
    """The vertebral level named by `text` ("T10", "t10", " L2 ").

    Raises `ValueError` naming the accepted forms for anything else.
    """
    result: Vertebra = _parse_level(text, "vertebral level", ACCEPTED_VERTEBRAE, vertebrae())
    return result


def parse_segment(text: str) -> CordSegment:
    """The spinal-cord segment named by `text` ("C8", "s2")."""
    result: CordSegment = _parse_level(text, "cord segment", ACCEPTED_SEGMENTS, cord_segments())
    return result


def nearest_vertebra(position_cm: Fraction | int) -> Vertebra:
    """The vertebral level whose nominal position is nearest `position_cm`.

    Ties go to the caudal level (the lower of two equally near levels).
    """
    position = Fraction(position_cm)
    best = vertebrae()[0]
    for v in vertebrae():
        if abs(v.position_cm - position) <= abs(best.position_cm - position):
            best = v
    return best


def _region_index() -> dict[str, BodyRegion]:
    return {r.id: r for r in body_regions()}


def body_region(region_id: str) -> BodyRegion:
    """The body-map region with id `region_id`; `UnknownRegionError` otherwise."""
    index = _region_index()
    if region_id not in index:
        raise UnknownRegionError([region_id], index)
    return index[region_id]


def _resolve(region_ids: Iterable[str] | str) -> tuple[BodyRegion, ...]:
    # A lone string would otherwise be iterated character by character.
    ids = (region_ids,) if isinstance(region_ids, str) else tuple(region_ids)
    index = _region_index()
    unknown = [i for i in ids if i not in index]
    if unknown:
        raise UnknownRegionError(unknown, index)
    unique = tuple(dict.fromkeys(ids))
    return tuple(index[i] for i in unique)


def segments_for_regions(region_ids: Iterable[str] | str) -> tuple[CordSegment, ...]:
    """The cord segments supplying any of `region_ids`, cranial to caudal, no repeats."""
    regions = _resolve(region_ids)
    found = {s for r in regions for s in r.segments}
    return tuple(sorted(found))


def suggest_tip_level(region_ids: Iterable[str] | str) -> TipSuggestion:
    """Derive a catheter-tip level for the painful body regions `region_ids`.

    Target segments are those supplying the regions; the vertebral range runs
    from the level opposite the most cranial target segment to the level
    opposite the most caudal one (this reproduces the section 4.3 table of the
    reference notes row by row). The single suggested level is the vertebra
    nearest the midpoint of the target segments along the canal, kept inside
    that range; ties go caudal.

    Raises `UnknownRegionError` (a `ValueError`) for unknown ids (listing the
    accepted ones) and `ValueError` when no region is given or none of them is
    supplied by a spinal segment.
    """
    regions = _resolve(region_ids)
    if not regions:
        raise ValueError(
            "no body region given; mark at least one region, e.g. 'back.low_back' "
            "(see body_regions() for the accepted ids)"
        )
    segments = segments_for_regions(r.id for r in regions)
    unsupplied = [r for r in regions if not r.segments]
    if not segments:
        names = ", ".join(r.id for r in unsupplied)
        raise ValueError(
            f"{names}: not supplied by any spinal-cord segment (facial skin is the "
            "trigeminal nerve), so no intrathecal tip level can target it"
        )
    first, last = segments[0], segments[-1]
    cranial, caudal = first.vertebra, last.vertebra
    middle = (first.position_cm + last.position_cm) / 2
    suggested = nearest_vertebra(middle)
    if suggested.index < cranial.index:
        suggested = cranial
    elif suggested.index > caudal.index:
        suggested = caudal
    span = last.position_cm - first.position_cm

    rationale: list[str] = [
        f"Target segments {first.name}-{last.name} "
        f"({', '.join(s.name for s in segments)}) supply "
        f"{', '.join(r.label.lower() for r in regions if r.segments)}.",
        f"These segments lie opposite vertebrae {cranial.name}-{caudal.name} "
        f"(cord segments sit above their same-numbered vertebrae: ~1 level in the neck, "
        f"~2 in the thorax, lumbar segments at T10-T12, sacral at L1).",
        f"{suggested.name} is the level nearest the middle of the target segments "
        f"({_cm(middle)} cm from the foramen magnum; target span {_cm(span)} cm).",
    ]
    if unsupplied:
        rationale.append(
            f"Not included: {', '.join(r.label.lower() for r in unsupplied)} "
            "(no spinal segment supplies it)."
        )
    if span > _WIDESPREAD_CM:
        rationale.append(
            f"The targets span {_cm(span)} cm of cord, more than one e-folding length of "
            "intrathecal spread: one tip cannot bathe both ends alike; consider whether the "
            "pain is diffuse rather than localized (PACC separates the two)."
        )
    conus = canal_landmarks().conus_cm
    if suggested.position_cm < conus:
        rationale.append(
            f"{suggested.name} is above the conus (cord level); some experts place tips only "
            "below the conus because of catheter-tip inflammatory masses."
        )
    rationale.append("Positions and offsets vary by a level or more between people.")

    matching = tuple(
        rule
        for rule in tip_rules()
        if rule.first_segment.index <= last.index and first.index <= rule.last_segment.index
    )
    cited: dict[str, None] = {}
    for ids in (
        *(r.source_ids for r in regions),
        *(s.source_ids for s in segments),
        *(rule.source_ids for rule in matching),
        ("positions", "tip_table"),
    ):
        cited.update(dict.fromkeys(ids))
    evidence = tip_evidence()
    for note in evidence:
        cited.update(dict.fromkeys(note.source_ids))
    return TipSuggestion(
        region_ids=tuple(r.id for r in regions),
        segments=segments,
        cranial_level=cranial,
        caudal_level=caudal,
        suggested_level=suggested,
        target_span_cm=span,
        rationale=tuple(rationale),
        matching_rules=matching,
        evidence=evidence,
        source_ids=tuple(cited),
        disclaimer=_anatomy().disclaimer,
    )


def _cm(value: Fraction) -> str:
    """Text for a position in cm, one decimal, truncated toward zero."""
    tenths = value * 10
    whole = tenths.numerator // tenths.denominator
    return f"{whole // 10}.{whole % 10}"
