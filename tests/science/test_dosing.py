"""Prescriptions become the deliveries the spread model runs."""

from __future__ import annotations

import pytest

from thecal.science.dosing import deliveries_from_prescription
from thecal.therapy.prescription_toml import parse_prescription

FLEX = """
drug = "baclofen"
concentration = "500 mcg/mL"
mode = "flex"
[[steps]]
start = "00:00"
rate = "450 mcg/day"
[[steps]]
start = "06:00"
rate = "300 mcg/day"
"""

PERIODIC = """
drug = "morphine"
concentration = "10 mg/mL"
mode = "periodic_bolus"
rate = "1 mg/day"
[periodic_bolus]
dose = "0.1 mg"
duration = "10 min"
interval = "6 h"
first_start = "02:00"
"""

SINGLE = """
drug = "morphine"
concentration = "10 mg/mL"
mode = "single_bolus"
[bolus]
dose = "0.25 mg"
duration = "5 min"
"""

CONTINUOUS_WITH_PTM = """
drug = "morphine"
concentration = "10 mg/mL"
mode = "simple_continuous"
rate = "4 mg/day"
[patient_bolus]
dose = "0.2 mg"
duration = "10 min"
lockout = "3 h"
max_per_24h = 4
"""


def test_a_flex_schedule_repeats_its_day_and_delivers_its_daily_dose_each_day() -> None:
    planned = deliveries_from_prescription(parse_prescription(FLEX), 48)
    total = sum(d.drug_ug for d in planned.deliveries)
    daily = 450 * 6 / 24 + 300 * 18 / 24
    assert total == pytest.approx(2 * daily, rel=1e-12)
    assert not any(d.bolus for d in planned.deliveries)
    assert max(d.end_s for d in planned.deliveries) == pytest.approx(48 * 3600)


def test_a_flex_schedule_started_mid_day_begins_in_the_right_step() -> None:
    planned = deliveries_from_prescription(
        parse_prescription(FLEX), 2, start_second_of_day=5 * 3600
    )
    first = planned.deliveries[0]
    assert first.start_s == 0.0 and first.end_s == pytest.approx(3600.0)
    assert first.drug_rate_ug_s == pytest.approx(450 / 86400)


def test_periodic_boluses_are_bolus_deliveries_on_top_of_the_background_rate() -> None:
    planned = deliveries_from_prescription(parse_prescription(PERIODIC), 24)
    boluses = [d for d in planned.deliveries if d.bolus]
    assert [round(d.start_s / 3600) for d in boluses] == [2, 8, 14, 20]
    assert all(d.drug_ug == pytest.approx(100.0) for d in boluses)
    assert boluses[0].volume_ml == pytest.approx(0.01)
    background = sum(d.drug_ug for d in planned.deliveries if not d.bolus)
    assert background == pytest.approx(1000.0)


def test_a_single_bolus_is_given_at_the_start() -> None:
    planned = deliveries_from_prescription(parse_prescription(SINGLE), 6)
    (bolus,) = planned.deliveries
    assert bolus.bolus and bolus.start_s == 0.0 and bolus.end_s == 300.0
    assert bolus.drug_ug == pytest.approx(250.0)


def test_patient_boluses_are_left_out_and_said_so() -> None:
    planned = deliveries_from_prescription(parse_prescription(CONTINUOUS_WITH_PTM), 24)
    assert sum(d.drug_ug for d in planned.deliveries) == pytest.approx(4000.0)
    assert any("patient-requested" in note for note in planned.notes)


def test_minimum_rate_mode_is_refused_with_advice() -> None:
    rx = parse_prescription(
        'drug = "morphine"\nconcentration = "10 mg/mL"\nmode = "minimum_rate"\n'
    )
    with pytest.raises(ValueError, match="--dose"):
        deliveries_from_prescription(rx, 24)


def test_a_stopped_pump_delivers_nothing() -> None:
    rx = parse_prescription('drug = "morphine"\nconcentration = "10 mg/mL"\nmode = "stopped"\n')
    planned = deliveries_from_prescription(rx, 24)
    assert planned.deliveries == ()
    assert any("stopped" in note for note in planned.notes)
