"""Patient boluses: lockout, the rolling 24-hour maximum, the reservoir, and what a
refusal tells the patient."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from tests.pump.support import (
    T0,
    accepted,
    clinician,
    implant,
    morphine_pca,
    patient,
    rejected,
)
from thecal.pump.bolus import judge_patient_bolus
from thecal.pump.commands import (
    PatientBolusRequest,
    Rejection,
    SetClock,
    StatusSummary,
    Stop,
    WritePrescription,
)
from thecal.pump.payloads import BolusDenial, BolusGrant, PatientStatus
from thecal.pump.timebase import DAY_US, HOUR_US
from thecal.therapy.prescription import PatientBolus
from thecal.therapy.quantities import Duration, Mass, Volume

SETTINGS = PatientBolus(Mass.from_mg("0.2"), Duration.from_minutes(10), Duration.from_hours(3), 4)
BOLUS_ML = Fraction(1, 50)  # 0.2 mg at 10 mg/mL


def judge(starts=(), lockout_from=None, now=10 * DAY_US, estimate=Fraction(10)):
    return judge_patient_bolus(
        SETTINGS, tuple(starts), lockout_from, now, estimate, Fraction(1), BOLUS_ML
    )


@pytest.mark.parametrize(
    ("since_last", "allowed"),
    [
        (3 * HOUR_US, True),  # exactly at the end of the lockout: allowed
        (3 * HOUR_US - 1, False),  # one microsecond before: refused
        (5 * HOUR_US, True),
    ],
)
def test_lockout_boundary(since_last, allowed):
    now = 10 * DAY_US
    verdict = judge(starts=[now - since_last], now=now)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.reason is Rejection.LOCKOUT
        assert verdict.retry_after == now - since_last + 3 * HOUR_US


@pytest.mark.parametrize(
    ("starts_ago_h", "allowed"),
    [
        ((3, 6, 9), True),  # three in the window, the candidate is the fourth: allowed
        ((3, 6, 9, 12), False),  # four already: the candidate would be the fifth
        ((3, 6, 9, 24), True),  # exactly 24 h ago has left the window
        ((3, 6, 9, 23), False),
    ],
)
def test_rolling_24h_maximum_counts_the_candidate(starts_ago_h, allowed):
    now = 10 * DAY_US
    starts = [now - h * HOUR_US for h in starts_ago_h]
    verdict = judge(starts=starts, now=now)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.reason is Rejection.DAILY_CAP
        oldest = min(s for s in starts if s > now - DAY_US)
        assert verdict.retry_after == oldest + DAY_US
        assert verdict.count_24h == 4


@pytest.mark.parametrize(
    ("estimate", "allowed"),
    [
        (Fraction(1) + BOLUS_ML, True),  # leaves exactly the empty level
        (Fraction(1) + BOLUS_ML - Fraction(1, 10**6), False),
    ],
)
def test_reservoir_must_hold_the_bolus_above_the_empty_level(estimate, allowed):
    verdict = judge(estimate=estimate)
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.reason is Rejection.RESERVOIR
        assert verdict.retry_after is None


def test_lockout_is_checked_before_the_daily_maximum():
    now = 10 * DAY_US
    starts = [now - h * HOUR_US for h in (1, 4, 7, 10)]
    assert judge(starts=starts, now=now).reason is Rejection.LOCKOUT


def test_granted_bolus_reports_the_count_and_the_next_allowed_time():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=4))
    grant = accepted(patient(twin, PatientBolusRequest())).payload
    assert isinstance(grant, BolusGrant)
    assert grant.count_24h == 1 and grant.max_per_24h == 4
    assert grant.next_allowed_at == twin.local_now + timedelta(hours=3)
    assert grant.volume == Volume(BOLUS_ML)


def test_denied_bolus_gives_reason_retry_time_and_todays_count():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=4))
    accepted(patient(twin, PatientBolusRequest()))
    twin.advance(twin.now + timedelta(hours=1))
    refusal = rejected(patient(twin, PatientBolusRequest()))
    assert refusal.reason is Rejection.LOCKOUT
    assert refusal.retry_after == twin.local_now + timedelta(hours=2)
    assert refusal.payload == BolusDenial(1, 4, refusal.retry_after)


def test_a_refill_restarts_the_lockout():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=10))
    twin.refill_visit(Volume.from_ml(20))
    refusal = rejected(patient(twin, PatientBolusRequest()))
    assert refusal.reason is Rejection.LOCKOUT
    assert refusal.retry_after == twin.local_now + timedelta(hours=3)


def test_a_new_prescription_restarts_the_lockout():
    rx = morphine_pca()
    twin = implant(rx)
    twin.advance(T0 + timedelta(hours=10))
    accepted(clinician(twin, WritePrescription(rx, rx.content_hash)))
    assert rejected(patient(twin, PatientBolusRequest())).reason is Rejection.LOCKOUT


def test_no_patient_bolus_while_stopped():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=4))
    accepted(clinician(twin, Stop()))
    assert rejected(patient(twin, PatientBolusRequest())).reason is Rejection.INVALID_STATE


def test_no_second_bolus_while_one_is_running():
    twin = implant(morphine_pca(lockout_h=1))
    twin.advance(T0 + timedelta(hours=4))
    grant = accepted(patient(twin, PatientBolusRequest())).payload
    twin.advance(twin.now + timedelta(minutes=5))
    refusal = rejected(patient(twin, PatientBolusRequest()))
    assert refusal.reason is Rejection.INVALID_STATE
    assert refusal.retry_after == grant.ends_at


def test_setting_the_clock_back_does_not_shorten_the_lockout():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=4))
    accepted(patient(twin, PatientBolusRequest()))
    twin.advance(twin.now + timedelta(hours=1))
    accepted(clinician(twin, SetClock(twin.local_now + timedelta(hours=5))))
    assert rejected(patient(twin, PatientBolusRequest())).reason is Rejection.LOCKOUT


def test_patient_status_shows_bolus_availability():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=1))
    status = accepted(patient(twin, StatusSummary())).payload
    assert isinstance(status, PatientStatus)
    assert status.patient_bolus is not None
    assert status.patient_bolus.available is False
    assert status.patient_bolus.reason is Rejection.LOCKOUT
    twin.advance(T0 + timedelta(hours=3))
    status = accepted(patient(twin, StatusSummary())).payload
    assert status.patient_bolus.available is True
