"""The compiled fleet kernel gives the whole-array numpy model's numbers, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.science.fleet_reference import reference_block
from thecal.science import fleet_model
from thecal.science.fleet_model import simulate_block
from thecal.science.fleet_parameters import FleetParameters, fleet_parameters


def _variants() -> dict[str, tuple[FleetParameters, int, int, int, float]]:
    base = fleet_parameters()
    stressed = dataclasses.replace(
        base,
        no_show_probability=0.35,
        low_alarm_report_probability=0.2,
        replacement_delay_days_max=150,
    )
    return {
        "usual clinic": (base, 3, 0, 2000, 6.0),
        "careless attendance, long horizon": (stressed, 17, 1, 600, 30.0),
        "no missed or postponed visits": (
            dataclasses.replace(base, no_show_probability=0.0, delay_probability=0.0),
            12,
            2,
            1000,
            8.0,
        ),
        "everyone calls at once": (
            dataclasses.replace(
                base, low_alarm_report_probability=1.0, empty_alarm_report_probability=1.0
            ),
            5,
            0,
            800,
            4.0,
        ),
        "a few weeks": (base, 9, 3, 500, 0.1),
    }


VARIANTS = _variants()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_kernel_gives_the_array_models_numbers_exactly(name: str) -> None:
    params, seed, block, size, years = VARIANTS[name]
    out = simulate_block(params, seed, block, size, years, record=True)
    ref = reference_block(params, seed, block, size, years)
    for key, expected in ref.items():
        if key == "draws":
            assert len(out.draws) == len(expected)
            for got, want in zip(out.draws, expected, strict=True):
                assert np.array_equal(got, want, equal_nan=True)
            continue
        got = getattr(out, key)
        assert got.dtype == expected.dtype, key
        assert np.array_equal(got, expected, equal_nan=True), key
    assert out.refills.sum() > 0


def test_nearly_whole_missed_appointment_counts_are_left_to_numpy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kernel counts missed appointments with its own log1p and hands counts that
    are nearly whole to numpy's; with every count handed over, nothing changes."""
    params, seed, block, size, years = VARIANTS["careless attendance, long horizon"]
    monkeypatch.setattr(fleet_model, "NO_SHOW_TOLERANCE", 1.0)
    out = simulate_block(params, seed, block, size, years)
    ref = reference_block(params, seed, block, size, years)
    for key in ("refills", "dry_events", "low_alarm_days", "delivered_volume"):
        assert np.array_equal(getattr(out, key), ref[key]), key
