"""The per-patient Python loop (the benchmark's baseline) is the same model."""

from __future__ import annotations

import dataclasses
import math

import pytest

from thecal.science.fleet_loop import simulate_patient
from thecal.science.fleet_model import simulate_block
from thecal.science.fleet_parameters import fleet_parameters
from thecal.science.fleet_population import block_generator, block_population


@pytest.mark.parametrize("stressed", [False, True], ids=["usual clinic", "careless attendance"])
def test_python_loop_gives_the_vectorised_results_for_the_same_draws(stressed: bool) -> None:
    params = fleet_parameters()
    if stressed:
        params = dataclasses.replace(
            params,
            no_show_probability=0.35,
            low_alarm_report_probability=0.2,
            replacement_delay_days_max=150,
        )
    n, years, seed = 300, 4.0, 17
    out = simulate_block(params, seed, 0, n, years, record=True)
    population = block_population(params, 0, n, block_generator(seed, 0))
    for j in range(n):
        loop = simulate_patient(params, population, j, years, lambda k, j=j: out.draws[k][:, j])
        counts = (
            loop.refills,
            loop.replacements,
            loop.dry_events,
            loop.intervals,
            loop.dry_intervals,
        )
        assert counts == (
            out.refills[j],
            out.replacements[j],
            out.dry_events[j],
            out.intervals[j],
            out.dry_intervals[j],
        ), j
        assert loop.delivered_volume == pytest.approx(out.delivered_volume[j], rel=1e-9)
        assert loop.programmed_volume == pytest.approx(out.programmed_volume[j], rel=1e-9)
        assert loop.low_alarm_days == pytest.approx(out.low_alarm_days[j], abs=1e-9)
        assert loop.no_drug_days == pytest.approx(out.no_drug_days[j], abs=1e-9)
        if math.isnan(out.first_eri_day[j]):
            assert math.isnan(loop.first_eri_day)
        else:
            assert loop.first_eri_day == pytest.approx(out.first_eri_day[j], abs=1e-9)
    assert out.dry_events.sum() > 0 and out.replacements.sum() > 0
