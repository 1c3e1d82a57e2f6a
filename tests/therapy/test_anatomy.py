"""Specification of the anatomy module: levels, segments, body map, tip suggestion."""

from __future__ import annotations

import copy
import tomllib
from fractions import Fraction
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thecal.therapy import anatomy
from thecal.therapy.anatomy import (
    AnatomyDataError,
    UnknownRegionError,
    body_region,
    body_regions,
    canal_landmarks,
    cord_segments,
    nearest_vertebra,
    parse_segment,
    parse_vertebra,
    segments_for_regions,
    sources,
    suggest_tip_level,
    tip_evidence,
    tip_rules,
    vertebrae,
)

# --- vertebral levels -------------------------------------------------------


def test_vertebrae_are_c1_to_s5_in_cranial_to_caudal_order() -> None:
    names = [v.name for v in vertebrae()]
    expected = (
        [f"C{n}" for n in range(1, 8)]
        + [f"T{n}" for n in range(1, 13)]
        + [f"L{n}" for n in range(1, 6)]
        + [f"S{n}" for n in range(1, 6)]
    )
    assert names == expected
    positions = [v.position_cm for v in vertebrae()]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(isinstance(p, Fraction) for p in positions)


@pytest.mark.parametrize(
    ("text", "name"),
    [("T10", "T10"), ("t10", "T10"), (" L2 ", "L2"), ("c1", "C1"), ("S5", "S5"), ("T 12", "T12")],
)
def test_parse_vertebra_accepts_names_in_any_case(text: str, name: str) -> None:
    assert parse_vertebra(text).name == name


@pytest.mark.parametrize("text", ["T13", "C8", "L6", "S6", "C0", "X1", "", "T", "10", "T10.5"])
def test_parse_vertebra_rejects_unknown_levels_and_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"accepted: C1-C7, T1-T12, L1-L5, S1-S5"):
        parse_vertebra(text)


def test_parse_vertebra_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="not text"):
        parse_vertebra(10)  # type: ignore[arg-type]


def test_nearest_vertebra_breaks_ties_caudally() -> None:
    t10, t11 = parse_vertebra("T10"), parse_vertebra("T11")
    middle = (t10.position_cm + t11.position_cm) / 2
    assert nearest_vertebra(middle) == t11
    assert nearest_vertebra(t10.position_cm) == t10


# --- canal landmarks ----------------------------------------------------------


def test_conus_lies_between_l1_and_l2_as_cited() -> None:
    conus = canal_landmarks().conus_cm
    assert parse_vertebra("L1").position_cm < conus < parse_vertebra("L2").position_cm


def test_cord_length_is_within_the_cited_42_to_45_cm() -> None:
    assert Fraction(42) <= canal_landmarks().conus_cm <= Fraction(45)


def test_dural_sac_ends_at_s2_within_the_55_to_65_cm_canal_length() -> None:
    end = canal_landmarks().dural_sac_end_cm
    assert parse_vertebra("S2").position_cm < end < parse_vertebra("S3").position_cm
    assert Fraction(55) <= end <= Fraction(65)


# --- cord segments --------------------------------------------------------------


def test_cord_segments_are_c1_to_s5_in_order_and_all_above_the_conus() -> None:
    segs = cord_segments()
    expected = (
        [f"C{n}" for n in range(1, 9)]
        + [f"T{n}" for n in range(1, 13)]
        + [f"L{n}" for n in range(1, 6)]
        + [f"S{n}" for n in range(1, 6)]
    )
    assert [s.name for s in segs] == expected
    positions = [s.position_cm for s in segs]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(s.position_cm < canal_landmarks().conus_cm for s in segs)


def test_each_segment_lies_at_its_nearest_vertebral_level() -> None:
    for seg in cord_segments():
        assert nearest_vertebra(seg.position_cm) == seg.vertebra, seg.name


@pytest.mark.parametrize(("n"), range(2, 9))
def test_cervical_segment_lies_one_vertebra_above_its_number(n: int) -> None:
    assert parse_segment(f"C{n}").vertebra.name == f"C{n - 1}"


@pytest.mark.parametrize(("n"), range(3, 13))
def test_thoracic_segment_t3_to_t12_lies_two_vertebrae_above(n: int) -> None:
    assert parse_segment(f"T{n}").vertebra.name == f"T{n - 2}"


def test_lumbar_segments_lie_at_t10_to_t12_and_sacral_segments_at_l1() -> None:
    for n in range(1, 6):
        assert parse_segment(f"L{n}").vertebra.name in {"T10", "T11", "T12"}
        assert parse_segment(f"S{n}").vertebra.name == "L1"


@pytest.mark.parametrize(
    ("segment", "landmark"),
    [
        ("C6", "thumb"),
        ("C8", "little finger"),
        ("T4", "nipple"),
        ("T6", "xiphisternum"),
        ("T10", "umbilicus"),
        ("T12", "inguinal ligament"),
        ("L4", "medial malleolus"),
        ("S1", "lateral heel"),
        ("S3", "ischial tuberosity"),
        ("S5", "perianal"),
    ],
)
def test_segment_carries_its_isncsci_key_sensory_point(segment: str, landmark: str) -> None:
    assert landmark in parse_segment(segment).key_point


def test_parse_segment_rejects_c9_naming_accepted_segments() -> None:
    with pytest.raises(ValueError, match="C1-C8"):
        parse_segment("C9")


# --- body map ---------------------------------------------------------------------


def test_region_ids_are_view_part_and_optional_side() -> None:
    for region in body_regions():
        parts = region.id.split(".")
        assert parts[0] == region.view
        assert 2 <= len(parts) <= 3
        assert region.side == (parts[2] if len(parts) == 3 else None)
        assert region.label


def test_every_sided_region_has_its_mirror_image() -> None:
    ids = {r.id for r in body_regions()}
    for region in body_regions():
        if region.side == "left":
            mirror = region.id.removesuffix(".left") + ".right"
            assert mirror in ids
            assert body_region(mirror).segments == region.segments


@pytest.mark.parametrize(
    "part",
    [
        "front.face",
        "front.neck",
        "back.head",
        "back.neck",
        "front.shoulder.left",
        "front.upper_arm.right",
        "front.forearm.left",
        "front.hand.right",
        "front.chest.left",
        "front.upper_abdomen.right",
        "front.lower_abdomen.left",
        "front.groin.right",
        "front.pelvis",
        "back.perineum",
        "back.upper_back",
        "back.low_back",
        "back.buttock.left",
        "front.thigh.right",
        "back.thigh.left",
        "front.lower_leg.left",
        "back.calf.right",
        "front.foot.left",
        "back.foot.right",
    ],
)
def test_body_map_has_the_regions_a_clinician_marks(part: str) -> None:
    assert body_region(part).id == part


def test_only_the_face_is_supplied_by_no_spinal_segment() -> None:
    unsupplied = [r.id for r in body_regions() if not r.segments]
    assert unsupplied == ["front.face"]
    assert "trigeminal" in (body_region("front.face").note or "")


def test_every_cited_source_is_listed_with_its_kind() -> None:
    known = sources()
    cited = {i for r in body_regions() for i in r.source_ids}
    cited |= {i for s in cord_segments() for i in s.source_ids}
    cited |= {i for r in tip_rules() for i in r.source_ids}
    cited |= {i for e in tip_evidence() for i in e.source_ids}
    assert cited <= set(known)
    assert known["positions"].kind == "model parameter"
    assert known["tip_table"].kind == "derived"


def test_segments_for_regions_is_a_sorted_union_without_repeats() -> None:
    segs = segments_for_regions(["front.foot.left", "back.low_back", "front.foot.right"])
    assert [s.name for s in segs] == ["L1", "L2", "L3", "L4", "L5", "S1"]


def test_segments_for_regions_reads_a_single_id_as_one_region() -> None:
    assert [s.name for s in segments_for_regions("back.head")] == ["C2", "C3"]


def test_unknown_region_id_is_refused_listing_the_accepted_ids() -> None:
    with pytest.raises(UnknownRegionError) as info:
        segments_for_regions(["front.chest.left", "front.tail"])
    message = str(info.value)
    assert "'front.tail'" in message
    assert "accepted region ids" in message
    assert "back.low_back" in message and "front.thigh.right" in message
    assert isinstance(info.value, ValueError)


# --- derived tip table and suggestion --------------------------------------------------

SECTION_4_3 = [
    ("occiput_neck", "C2", "C4", "C1", "C3"),
    ("upper_limb", "C5", "T1", "C4", "C7"),
    ("chest_wall", "T2", "T6", "T1", "T4"),
    ("upper_abdomen", "T6", "T9", "T4", "T7"),
    ("lower_abdomen", "T10", "T12", "T8", "T10"),
    ("groin_hip", "L1", "L2", "T10", "T11"),
    ("lower_limb", "L2", "S1", "T11", "L1"),
    ("pelvis_perineum", "S2", "S5", "L1", "L1"),
]


@pytest.mark.parametrize(("rule_id", "first", "last", "cranial", "caudal"), SECTION_4_3)
def test_tip_table_holds_the_derived_section_4_3_rows(
    rule_id: str, first: str, last: str, cranial: str, caudal: str
) -> None:
    rule = {r.id: r for r in tip_rules()}[rule_id]
    assert (rule.first_segment.name, rule.last_segment.name) == (first, last)
    assert (rule.cranial_tip.name, rule.caudal_tip.name) == (cranial, caudal)


@pytest.mark.parametrize(("rule_id", "first", "last", "cranial", "caudal"), SECTION_4_3)
def test_segment_offsets_reproduce_each_tip_table_row(
    rule_id: str, first: str, last: str, cranial: str, caudal: str
) -> None:
    rule = {r.id: r for r in tip_rules()}[rule_id]
    assert rule.segments[0].vertebra.name == cranial
    assert rule.segments[-1].vertebra.name == caudal


@pytest.mark.parametrize(
    ("regions", "cranial", "caudal", "suggested"),
    [
        (["front.neck"], "C1", "C3", "C2"),
        (["front.hand.left"], "C5", "C7", "C6"),
        (["front.chest.left"], "T1", "T4", "T2"),
        (["front.lower_abdomen.right"], "T8", "T10", "T9"),
        (["back.low_back"], "T10", "T11", "T11"),
        (["front.foot.right", "back.foot.right"], "T12", "L1", "T12"),
        (["back.perineum"], "L1", "L1", "L1"),
    ],
)
def test_tip_suggestion_for_typical_pain_maps(
    regions: list[str], cranial: str, caudal: str, suggested: str
) -> None:
    tip = suggest_tip_level(regions)
    assert (tip.cranial_level.name, tip.caudal_level.name) == (cranial, caudal)
    assert tip.suggested_level.name == suggested


def test_tip_suggestion_says_it_is_derived_and_not_a_guideline() -> None:
    tip = suggest_tip_level(["front.chest.left"])
    assert "not a clinical guideline" in tip.disclaimer
    assert "tip_table" in tip.source_ids and "positions" in tip.source_ids
    assert {e.id for e in tip.evidence} >= {"below_conus", "not_diffuse"}
    assert [r.id for r in tip.matching_rules] == ["chest_wall", "upper_abdomen"]


def test_tip_suggestion_above_the_conus_mentions_inflammatory_masses() -> None:
    tip = suggest_tip_level(["front.chest.right"])
    assert any("inflammatory masses" in line for line in tip.rationale)


def test_widespread_pain_map_is_flagged_as_possibly_diffuse() -> None:
    tip = suggest_tip_level(["front.hand.left", "front.foot.left"])
    assert tip.target_span_cm > 20
    assert any("diffuse" in line for line in tip.rationale)
    assert not any("diffuse" in line for line in suggest_tip_level("back.low_back").rationale)


def test_face_alone_cannot_be_targeted_intrathecally() -> None:
    with pytest.raises(ValueError, match="trigeminal"):
        suggest_tip_level(["front.face"])


def test_face_with_neck_pain_is_noted_and_the_neck_targeted() -> None:
    tip = suggest_tip_level(["front.face", "front.neck"])
    assert tip.cranial_level.name == "C1"
    assert any("face" in line and "Not included" in line for line in tip.rationale)


def test_no_region_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no body region given"):
        suggest_tip_level([])


def test_unknown_region_in_a_suggestion_lists_accepted_ids() -> None:
    with pytest.raises(UnknownRegionError, match="accepted region ids"):
        suggest_tip_level(["front.chestt.left"])


SUPPLIED = sorted(r.id for r in body_regions() if r.segments)


@given(st.lists(st.sampled_from(SUPPLIED), min_size=1, max_size=6))
def test_suggested_level_lies_in_the_range_opposite_all_target_segments(ids: list[str]) -> None:
    tip = suggest_tip_level(ids)
    assert tip.cranial_level <= tip.suggested_level <= tip.caudal_level
    assert tip.vertebral_range[0] == tip.cranial_level
    assert tip.vertebral_range[-1] == tip.caudal_level
    for seg in tip.segments:
        assert tip.cranial_level <= seg.vertebra <= tip.caudal_level
    assert set(tip.segments) == set(segments_for_regions(ids))


# --- the data file guards itself ---------------------------------------------------------


def _raw() -> dict[str, object]:
    text = resources.files("thecal.therapy").joinpath("data", "anatomy.toml").read_text()
    return tomllib.loads(text)


def test_misedited_data_file_with_an_unknown_source_fails_loudly() -> None:
    data = copy.deepcopy(_raw())
    data["segments"][0]["sources"] = ["no_such_source"]  # type: ignore[index]
    with pytest.raises(AnatomyDataError, match="unknown sources"):
        anatomy._load(data)


def test_misedited_data_file_with_a_missing_level_fails_loudly() -> None:
    data = copy.deepcopy(_raw())
    del data["vertebrae"][3]  # type: ignore[attr-defined]
    with pytest.raises(AnatomyDataError, match="C1-C7, T1-T12"):
        anatomy._load(data)


def test_misedited_region_naming_an_unknown_segment_fails_loudly() -> None:
    data = copy.deepcopy(_raw())
    data["regions"][1]["segments"] = ["C9"]  # type: ignore[index]
    with pytest.raises(AnatomyDataError, match="unknown segments"):
        anatomy._load(data)
