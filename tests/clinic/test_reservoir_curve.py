"""The reservoir curve the patient page draws agrees with the refill schedule."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.clinic.support import (
    SYSTEM,
    add_implant,
    add_patient,
    filled_baclofen_pump,
    later,
)
from thecal.clinic.access import Actor, Role
from thecal.clinic.errors import Forbidden
from thecal.clinic.service import Clinic, FixedClock, implants
from thecal.clinic.service.reservoir_curve import reservoir_curve


def test_the_curve_runs_from_the_fill_down_to_the_refill_by_date(clinic: Clinic) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    with clinic.read(SYSTEM) as call:
        curve = reservoir_curve(call, implant_id, samples=10)
        implant = implants.get_implant(call, implant_id)
    assert curve is not None
    volumes = [Fraction(p.volume_ml) for p in curve.points]
    assert len(volumes) == 11
    assert volumes[0] == 20
    assert volumes == sorted(volumes, reverse=True)
    assert curve.points[-1].at == implant.schedule.next_refill_due


def test_at_the_refill_by_date_the_reservoir_is_still_above_the_alarm(clinic: Clinic) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    with clinic.read(SYSTEM) as call:
        curve = reservoir_curve(call, implant_id)
    assert curve is not None
    assert Fraction(curve.points[-1].volume_ml) >= Fraction(curve.alarm_threshold_ml)


def test_an_implant_never_filled_has_no_curve(clinic: Clinic) -> None:
    patient = add_patient(clinic, "P-2")
    implant = add_implant(clinic, patient.id, serial="PS-2")
    with clinic.read(SYSTEM) as call:
        assert reservoir_curve(call, implant.id) is None


def test_a_patient_may_not_read_another_patients_curve(clinic: Clinic) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    other = add_patient(clinic, "P-3")
    stranger = Actor(99, "someone", Role.PATIENT, other.id)
    with clinic.read(stranger) as call, pytest.raises(Forbidden):
        reservoir_curve(call, implant_id)


def test_the_curve_follows_the_clock_only_through_its_dates(
    clinic: Clinic, clock: FixedClock
) -> None:
    _, implant_id = filled_baclofen_pump(clinic)
    with clinic.read(SYSTEM) as call:
        before = reservoir_curve(call, implant_id)
    later(clock, 3)
    with clinic.read(SYSTEM) as call:
        after = reservoir_curve(call, implant_id)
    assert before == after  # the anchor is the refill, not "now"
