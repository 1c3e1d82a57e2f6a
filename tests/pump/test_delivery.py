"""Delivery by strokes: programmed volume, fractional carry, and the analytic twin."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pump.support import (
    T0,
    accepted,
    baclofen,
    baclofen_flex,
    clinician,
    implant,
    morphine_pca,
    patient,
)
from thecal.pump import SimulationMode
from thecal.pump.commands import (
    ClinicianBolus,
    MinimumRate,
    PatientBolusRequest,
    Resume,
    SetClock,
    Stop,
    WritePrescription,
)
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.prescription import (
    Bolus,
    FlexStep,
    Mode,
    PeriodicBolus,
    Prescription,
    TimeOfDay,
)
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume

STROKE = Fraction(1, 2000)  # 0.5 µL, the peristaltic profile's stroke


def test_a_day_of_flex_delivers_the_day_profile_dose_within_one_stroke():
    rx = baclofen_flex()
    twin = implant(rx, at=T0.replace(hour=0))
    twin.advance(twin.now + timedelta(days=1))
    expected = programmed_daily_dose(rx).mcg / rx.concentration.mcg_per_ml  # mL
    delivered = twin.truth().pumped_volume.ml
    assert 0 <= expected - delivered < STROKE


def test_delivered_volume_never_runs_ahead_of_programmed_volume():
    twin = implant(baclofen_flex())
    for hours in (1, 5, 7, 13, 29, 50):
        twin.advance(T0 + timedelta(hours=hours, minutes=7))
        programmed = twin.firmware.ram.therapy.programmed
        delivered = twin.truth().pumped_volume.ml
        assert delivered <= programmed
        assert programmed - delivered < STROKE


def test_strokes_are_whole_in_stroke_mode_and_fractional_in_analytic_mode():
    strokes = implant(baclofen(), mode=SimulationMode.STROKES)
    analytic = implant(baclofen(), mode=SimulationMode.ANALYTIC)
    for twin in (strokes, analytic):
        twin.advance(T0 + timedelta(hours=3, seconds=17))
    assert strokes.truth().strokes.denominator == 1
    assert analytic.truth().pumped_volume.ml == analytic.firmware.ram.therapy.programmed


def test_estimated_reservoir_is_fill_minus_programmed_volume():
    twin = implant(baclofen(400), fill_ml=20)
    twin.advance(T0 + timedelta(days=10))
    # 400 mcg/day at 2000 mcg/mL is 0.2 mL/day.
    assert twin.view().reservoir.estimated == Volume.from_ml(18)


def test_single_bolus_mode_delivers_its_dose_then_stops():
    rx = Prescription(
        "baclofen",
        Concentration.from_mcg_per_ml(2000),
        Mode.SINGLE_BOLUS,
        bolus=Bolus(Mass.from_mcg(100), Duration.from_hours(2)),
    )
    twin = implant(rx)
    twin.advance(T0 + timedelta(hours=5))
    assert twin.view().therapy.state.value == "stopped"
    assert Fraction(1, 20) - twin.truth().pumped_volume.ml < STROKE  # 100 mcg = 0.05 mL


def test_periodic_bolus_mode_follows_the_day_profile():
    rx = Prescription(
        "baclofen",
        Concentration.from_mcg_per_ml(2000),
        Mode.PERIODIC_BOLUS,
        rate=DoseRate.from_mcg_per_day(200),
        periodic=PeriodicBolus(
            Bolus(Mass.from_mcg(50), Duration.from_minutes(30)),
            Duration.from_hours(6),
            TimeOfDay.parse("02:00"),
        ),
    )
    twin = implant(rx, at=T0.replace(hour=0))
    twin.advance(twin.now + timedelta(days=2))
    expected = 2 * programmed_daily_dose(rx).mcg / 2000
    assert 0 <= expected - twin.truth().pumped_volume.ml < STROKE


# --- the analytic mode agrees with the stroke mode --------------------------------------

rates = st.integers(min_value=500, max_value=20_000)  # mcg/day: 0.05-2 mL/day at 10 mg/mL
steps = st.lists(
    st.tuples(st.integers(min_value=1, max_value=23 * 60 + 59), rates),
    max_size=11,
    unique_by=lambda s: s[0],
)


@st.composite
def prescriptions(draw: st.DrawFn) -> Prescription:
    first = draw(rates)
    rest = sorted(draw(steps))
    flex = tuple(
        FlexStep(TimeOfDay(minute), DoseRate.from_mcg_per_day(rate))
        for minute, rate in [(0, first), *rest]
    )
    return Prescription("morphine", Concentration.from_mg_per_ml(10), Mode.FLEX, steps=flex,
                        patient_bolus=morphine_pca().patient_bolus)  # fmt: skip


actions = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=36 * 3600),  # seconds to advance
        st.sampled_from(
            ["wait", "patient", "clinician", "stop", "resume", "minimum", "clock", "write"]
        ),
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rx=prescriptions(), plan=actions, fill=st.integers(min_value=1, max_value=20))
def test_analytic_and_stroke_modes_deliver_the_same_total_within_one_stroke(rx, plan, fill):
    twins = [
        implant(rx, fill_ml=fill, mode=mode)
        for mode in (SimulationMode.STROKES, SimulationMode.ANALYTIC)
    ]
    for seconds, action in plan:
        for twin in twins:
            twin.advance(twin.now + timedelta(seconds=seconds))
            if action == "patient":
                patient(twin, PatientBolusRequest())
            elif action == "clinician":
                clinician(twin, ClinicianBolus(Mass.from_mg("0.1"), Duration.from_minutes(20)))
            elif action == "stop":
                clinician(twin, Stop())
            elif action == "resume":
                clinician(twin, Resume())
            elif action == "minimum":
                clinician(twin, MinimumRate())
            elif action == "clock":
                clinician(twin, SetClock(twin.local_now + timedelta(hours=1)))
            elif action == "write":
                clinician(twin, WritePrescription(rx, rx.content_hash))
    strokes, analytic = (twin.truth().pumped_volume.ml for twin in twins)
    assert twins[0].firmware.ram.therapy.programmed == twins[1].firmware.ram.therapy.programmed
    assert 0 <= analytic - strokes < STROKE


def test_a_clinician_bolus_adds_its_volume_on_top_of_the_schedule():
    plain = implant(baclofen(400))
    boosted = implant(baclofen(400))
    accepted(clinician(boosted, ClinicianBolus(Mass.from_mcg(100), Duration.from_hours(1))))
    for twin in (plain, boosted):
        twin.advance(T0 + timedelta(hours=3))
    extra = boosted.truth().pumped_volume.ml - plain.truth().pumped_volume.ml
    assert abs(extra - Fraction(1, 20)) < STROKE  # 100 mcg at 2000 mcg/mL
