"""Coverage: segments, dermatomes and body regions reached at the effective level."""

from __future__ import annotations

import dataclasses

import pytest

from thecal.science.coverage import coverage
from thecal.science.geometry import build_grid
from thecal.science.parameters import DrugTransport, drug_transport, model_parameters
from thecal.science.scenario import canal_tip_cm, run_scenario
from thecal.science.spread import Delivery, simulate
from thecal.therapy.anatomy import cord_segments, parse_vertebra


def infusion(hours: float, ug_per_day: float) -> list[Delivery]:
    return [Delivery(0, hours * 3600, ug_per_day / 86400, 1e-6)]


def test_every_cord_segment_is_reported_in_order(morphine: DrugTransport) -> None:
    result = run_scenario(morphine, parse_vertebra("T10"), infusion(12, 500), 12, resolution_cm=0.5)
    assert [e.segment.name for e in result.coverage.segments] == [s.name for s in cord_segments()]


def test_a_segment_is_covered_exactly_when_its_peak_reaches_the_effective_level(
    morphine: DrugTransport,
) -> None:
    result = run_scenario(morphine, parse_vertebra("T10"), infusion(24, 500), 24, resolution_cm=0.5)
    cov = result.coverage
    assert cov.effective_concentration == morphine.effective_concentration
    for e in cov.segments:
        assert e.covered == (e.peak >= morphine.effective_concentration)
    assert 0 < len(cov.covered_segments) < len(cov.segments)


def test_covered_segments_are_contiguous_around_the_tip(morphine: DrugTransport) -> None:
    result = run_scenario(morphine, parse_vertebra("T8"), infusion(24, 400), 24, resolution_cm=0.5)
    indices = [s.index for s in result.coverage.covered_segments]
    assert indices == list(range(indices[0], indices[-1] + 1))
    tip_segments = [s for s in cord_segments() if s.vertebra.name in {"T7", "T8", "T9"}]
    assert set(tip_segments) & set(result.coverage.covered_segments)


def test_a_body_region_is_covered_only_when_all_its_segments_are(
    morphine: DrugTransport,
) -> None:
    result = run_scenario(morphine, parse_vertebra("T10"), infusion(24, 500), 24, resolution_cm=0.5)
    covered = set(result.coverage.covered_segments)
    for region in result.coverage.covered_regions:
        assert set(region.segments) <= covered
    for region in result.coverage.partly_covered_regions:
        assert set(region.segments) & covered and not set(region.segments) <= covered


def test_a_tracer_has_no_effective_level_and_covers_nothing() -> None:
    tracer = drug_transport("tracer")
    result = run_scenario(tracer, parse_vertebra("L2"), infusion(6, 1000), 6, resolution_cm=0.5)
    assert result.coverage.effective_concentration is None
    assert result.coverage.covered_segments == ()


def test_more_drug_covers_at_least_as_many_segments(morphine: DrugTransport) -> None:
    tip = parse_vertebra("T10")
    low = run_scenario(morphine, tip, infusion(24, 300), 24, resolution_cm=0.5)
    high = run_scenario(morphine, tip, infusion(24, 900), 24, resolution_cm=0.5)
    assert set(low.coverage.covered_segments) < set(high.coverage.covered_segments)


def test_profile_has_a_point_at_every_vertebral_level_from_c1_to_s2(
    morphine: DrugTransport,
) -> None:
    result = run_scenario(morphine, parse_vertebra("L1"), infusion(4, 500), 4, resolution_cm=0.5)
    names = [p.vertebra.name for p in result.profile]
    assert names[0] == "C1" and names[-1] == "S2" and "S1" in names
    assert len(names) == 7 + 12 + 5 + 2


@pytest.mark.parametrize("level", ["S3", "S4", "S5"])
def test_a_tip_below_the_dural_sac_is_refused(level: str) -> None:
    with pytest.raises(ValueError, match="below the end of the dural sac"):
        canal_tip_cm(parse_vertebra(level))


def test_coverage_needs_the_segments_to_have_been_probed(morphine: DrugTransport) -> None:
    run = simulate(build_grid(model_parameters(), 0.5), morphine, 30.0, infusion(1, 100), 3600.0)
    with pytest.raises(ValueError, match="did not probe"):
        coverage(run)


def test_hours_must_be_positive(morphine: DrugTransport) -> None:
    with pytest.raises(ValueError, match="positive"):
        run_scenario(morphine, parse_vertebra("T10"), infusion(1, 1), 0)


def test_a_less_potent_effective_level_covers_fewer_segments(morphine: DrugTransport) -> None:
    tip = parse_vertebra("T10")
    strict = dataclasses.replace(morphine, effective_concentration=2.0)
    base = run_scenario(morphine, tip, infusion(24, 500), 24, resolution_cm=0.5)
    harder = run_scenario(strict, tip, infusion(24, 500), 24, resolution_cm=0.5)
    assert len(harder.coverage.covered_segments) < len(base.coverage.covered_segments)
