"""Qualitative behaviour a clinician would expect: distance, bolus vs continuous, tip level."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from thecal.science.geometry import build_grid
from thecal.science.parameters import DrugTransport, model_parameters
from thecal.science.scenario import run_scenario
from thecal.science.spread import Delivery, bolus_delivery, continuous_delivery, simulate
from thecal.therapy.anatomy import parse_vertebra
from thecal.therapy.units import parse_concentration, parse_dose_rate, parse_duration, parse_mass

TIP_L3 = float(parse_vertebra("L3").position_cm)
TIP_T10 = float(parse_vertebra("T10").position_cm)
DAY = 24 * 3600.0


def grid(resolution: float = 0.2):  # type: ignore[no-untyped-def]
    return build_grid(model_parameters(), resolution)


def test_concentration_falls_with_distance_from_the_tip_on_both_sides(
    morphine: DrugTransport,
) -> None:
    run = simulate(grid(), morphine, TIP_T10, [Delivery(0, 2 * DAY, 0.01, 1e-5)], 2 * DAY)
    c = run.final_canal
    tip_cell = int(np.argmin(np.abs(run.grid.centres - TIP_T10)))
    assert np.all(np.diff(c[: tip_cell + 1]) > 0)  # rising towards the tip from the neck
    assert np.all(np.diff(c[tip_cell + 1 :]) < 0)  # falling away towards the sac


def test_a_bolus_peaks_far_higher_near_the_tip_than_the_same_dose_infused_over_a_day(
    morphine: DrugTransport,
) -> None:
    conc = parse_concentration("10 mg/mL")
    bolus = bolus_delivery(parse_mass("0.5 mg"), conc, parse_duration("10 min"))
    steady = continuous_delivery(parse_dose_rate("0.5 mg/day"), conc, parse_duration("24 h"))
    probes = [TIP_L3, TIP_T10]
    b = simulate(grid(), morphine, TIP_L3, [bolus], DAY, probes_cm=probes)
    c = simulate(grid(), morphine, TIP_L3, [steady], DAY, probes_cm=probes)
    assert b.probe_peak[0] > 5 * c.probe_peak[0]
    assert b.mass.infused_ug == pytest.approx(c.mass.infused_ug, rel=1e-12)


def test_a_bolus_reaches_distant_segments_later_and_lower(morphine: DrugTransport) -> None:
    bolus = bolus_delivery(
        parse_mass("0.5 mg"), parse_concentration("10 mg/mL"), parse_duration("10 min")
    )
    levels = ["L1", "T10", "T6", "T2", "C4"]
    probes = [float(parse_vertebra(v).position_cm) for v in levels]
    run = simulate(grid(), morphine, TIP_L3, [bolus], DAY, probes_cm=probes)
    assert np.all(np.diff(run.probe_peak_time_s) > 0)
    assert np.all(np.diff(run.probe_peak) < 0)


def test_a_bolus_is_cleared_while_a_continuous_infusion_holds_its_level(
    morphine: DrugTransport,
) -> None:
    conc = parse_concentration("10 mg/mL")
    bolus = bolus_delivery(parse_mass("0.5 mg"), conc, parse_duration("10 min"))
    infusion = continuous_delivery(parse_dose_rate("0.5 mg/day"), conc, parse_duration("72 h"))
    b = simulate(grid(), morphine, TIP_L3, [bolus], 72 * 3600.0, probes_cm=[TIP_L3])
    c = simulate(grid(), morphine, TIP_L3, [infusion], 72 * 3600.0, probes_cm=[TIP_L3], samples=73)
    assert b.probe_final[0] < 1e-3 * b.probe_peak[0]
    last_day = c.probe_history[-25:, 0]
    assert last_day.max() / last_day.min() < 1.001


def test_near_tip_mixing_spreads_a_bolus_wider_while_it_runs(morphine: DrugTransport) -> None:
    mixed = Delivery(0, 60, 500 / 60, 1 / 60, bolus=True)
    unmixed = dataclasses.replace(mixed, bolus=False)
    g = grid(0.1)

    def width(delivery: Delivery) -> float:
        run = simulate(g, morphine, TIP_L3, [delivery], 60.0, samples=2)
        c, x = run.final_canal, run.grid.centres
        mean = float((c * x).sum() / c.sum())
        return float(np.sqrt((c * (x - mean) ** 2).sum() / c.sum()))

    assert width(mixed) > 2 * width(unmixed)


def test_a_higher_tip_moves_coverage_towards_the_neck(morphine: DrugTransport) -> None:
    conc = parse_concentration("10 mg/mL")
    dose = continuous_delivery(parse_dose_rate("0.6 mg/day"), conc, parse_duration("48 h"))
    low = run_scenario(morphine, parse_vertebra("L2"), [dose], 48, resolution_cm=0.2)
    high = run_scenario(morphine, parse_vertebra("T4"), [dose], 48, resolution_cm=0.2)
    low_names = [s.name for s in low.coverage.covered_segments]
    high_names = [s.name for s in high.coverage.covered_segments]
    assert low_names and high_names
    assert high.coverage.covered_segments[0] < low.coverage.covered_segments[0]
    assert "T1" in high_names and "T1" not in low_names


def test_a_lumbar_tip_brings_less_drug_to_the_cranium_than_a_cervical_tip(
    morphine: DrugTransport,
) -> None:
    dose = [Delivery(0, DAY, 0.01, 1e-5)]
    lumbar = simulate(grid(), morphine, TIP_L3, dose, DAY)
    cervical = simulate(grid(), morphine, float(parse_vertebra("C5").position_cm), dose, DAY)
    assert lumbar.final_cranial < 0.5 * cervical.final_cranial


def test_a_cranial_drift_shifts_the_drug_towards_the_head(morphine: DrugTransport) -> None:
    dose = [Delivery(0, DAY, 0.01, 0.0)]
    still = simulate(grid(), morphine, TIP_T10, dose, DAY, probes_cm=[10.0])
    # 10 micrometre/s: the order of the steady streaming estimated in the cranial SAS.
    g = dataclasses.replace(grid(), drift_velocity_cm_s=-1e-3)
    drifting = simulate(g, morphine, TIP_T10, dose, DAY, probes_cm=[10.0])
    assert drifting.probe_final[0] > 1.1 * still.probe_final[0]


def test_more_infusate_volume_for_the_same_dose_carries_drug_further_cranially(
    morphine: DrugTransport,
) -> None:
    concentrated = [Delivery(0, DAY, 0.01, 0.1 / DAY)]
    dilute = [Delivery(0, DAY, 0.01, 20.0 / DAY)]
    a = simulate(grid(), morphine, TIP_L3, concentrated, DAY, probes_cm=[10.0])
    b = simulate(grid(), morphine, TIP_L3, dilute, DAY, probes_cm=[10.0])
    assert b.probe_final[0] > a.probe_final[0]
