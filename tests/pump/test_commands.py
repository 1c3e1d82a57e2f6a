"""The command API as the firmware executes it: idempotent requests, roles, prescription
writes with hash and hard-limit checks, refills, boluses, delivery changes, settings."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from tests.pump.support import (
    BACLOFEN,
    T0,
    accepted,
    baclofen,
    clinician,
    implant,
    morphine_pca,
    rejected,
    request,
)
from thecal.pump import PumpTwin
from thecal.pump.alarms import Tone
from thecal.pump.commands import (
    AcknowledgeAlarm,
    AlarmTest,
    BridgeBolus,
    ClinicianBolus,
    Interrogate,
    MinimumRate,
    PatientBolusRequest,
    PrimingBolus,
    RegisterRefill,
    Rejection,
    ResetFlowValve,
    Resume,
    Role,
    SetAlarmSettings,
    SetClock,
    StatusSummary,
    Stop,
    WritePrescription,
)
from thecal.pump.eventlog import LogKind
from thecal.pump.payloads import (
    AlarmTestResult,
    BolusGrant,
    HardLimitRefusal,
    InterrogationReport,
    PrescriptionStored,
    TherapyState,
)
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Mass, Volume


def test_a_repeated_request_id_returns_the_stored_response_and_acts_once():
    twin = implant(morphine_pca())
    twin.advance(T0 + timedelta(hours=4))
    bolus = request(PatientBolusRequest(), "tap-1", Role.PATIENT)
    first = twin.handle(bolus)
    before = twin.view().events
    second = twin.handle(bolus)
    assert second == first
    assert isinstance(first.payload, BolusGrant)
    starts = [e for e in twin.view().events if e.kind is LogKind.BOLUS_STARTED]
    assert len(starts) == 1
    assert twin.view().events == before  # nothing was done or logged again


def test_a_request_id_reused_for_another_command_is_refused():
    twin = implant(baclofen())
    accepted(twin.handle(request(Stop(), "x")))
    assert rejected(twin.handle(request(Resume(), "x"))).reason is Rejection.INVALID_ARGUMENT
    assert twin.view().therapy.state is TherapyState.STOPPED


def test_remembered_requests_survive_a_power_loss():
    twin = implant(baclofen())
    first = twin.handle(request(Stop(), "stop-1"))
    twin.power_loss()
    assert twin.handle(request(Stop(), "stop-1")) == first


@pytest.mark.parametrize(
    "command",
    [
        Stop(),
        Resume(),
        MinimumRate(),
        Interrogate(),
        AlarmTest(),
        ClinicianBolus(Mass.from_mcg(10), Duration.from_minutes(5)),
        WritePrescription(baclofen(), baclofen().content_hash),
        SetClock(T0),
    ],
)
def test_a_patient_may_not_send_clinician_commands(command):
    twin = implant(baclofen())
    refusal = rejected(twin.handle(request(command, "p-1", Role.PATIENT)))
    assert refusal.reason is Rejection.NOT_PERMITTED
    last = twin.view().events[-1]
    assert last.kind is LogKind.COMMAND_REJECTED and last.detail("reason") == "not_permitted"


@pytest.mark.parametrize(
    "command", [StatusSummary(), PatientBolusRequest(), AcknowledgeAlarm("eri")]
)
def test_a_patient_may_send_the_patient_commands(command):
    twin = implant(morphine_pca())
    response = twin.handle(request(command, "p-1", Role.PATIENT))
    assert getattr(response, "reason", None) is not Rejection.NOT_PERMITTED


def test_write_prescription_needs_the_matching_content_hash():
    twin = implant(baclofen(400))
    new = baclofen(500)
    refusal = rejected(clinician(twin, WritePrescription(new, baclofen(400).content_hash)))
    assert refusal.reason is Rejection.HASH_MISMATCH
    assert twin.view().prescription == baclofen(400)


def test_write_prescription_rechecks_hard_limits_in_firmware():
    twin = implant(baclofen(400))
    over = baclofen(2500)  # above the 2000 mcg/day hard limit
    refusal = rejected(clinician(twin, WritePrescription(over, over.content_hash)))
    assert refusal.reason is Rejection.HARD_LIMIT
    assert isinstance(refusal.payload, HardLimitRefusal)
    assert {v.rule.value for v in refusal.payload.verdicts} == {"daily_dose"}
    assert twin.view().prescription == baclofen(400)


def test_write_prescription_for_another_drug_than_the_reservoir_holds_is_refused():
    twin = implant(baclofen())
    other = Prescription(
        "baclofen", Concentration.from_mcg_per_ml(500), Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate.from_mcg_per_day(400),
    )  # fmt: skip
    refusal = rejected(clinician(twin, WritePrescription(other, other.content_hash)))
    assert refusal.reason is Rejection.INVALID_ARGUMENT
    assert "register a refill" in refusal.message


def test_a_written_prescription_starts_at_once():
    twin = implant(baclofen(400))
    new = baclofen(800)
    stored = accepted(clinician(twin, WritePrescription(new, new.content_hash))).payload
    assert isinstance(stored, PrescriptionStored)
    assert stored.daily_dose == Mass.from_mcg(800)
    assert twin.view().therapy.volume_rate.ml_per_day == Fraction(2, 5)


def test_refill_over_capacity_is_refused():
    twin = implant(baclofen())
    refusal = rejected(
        clinician(twin, RegisterRefill(Volume.from_ml(5), Volume.from_ml(21), "baclofen", BACLOFEN))
    )
    assert refusal.reason is Rejection.OVER_CAPACITY


def test_refill_with_a_new_solution_waits_for_its_prescription_at_minimum_rate():
    twin = implant(baclofen())
    twin.advance(T0 + timedelta(days=10))
    new_conc = Concentration.from_mcg_per_ml(500)
    visit = twin.refill_visit(Volume.from_ml(20), concentration=new_conc)
    rec = accepted(visit.response).payload
    assert rec.new_solution
    view = twin.view()
    assert view.therapy.state is TherapyState.MINIMUM_RATE
    assert view.reservoir.awaiting_prescription
    assert rejected(clinician(twin, Resume())).reason is Rejection.INVALID_STATE
    new = Prescription(
        "baclofen", new_conc, Mode.SIMPLE_CONTINUOUS, rate=DoseRate.from_mcg_per_day(400)
    )
    accepted(clinician(twin, WritePrescription(new, new.content_hash)))
    assert twin.view().therapy.state is TherapyState.RUNNING


def test_bridge_bolus_runs_before_the_new_prescription_then_hands_over():
    twin = implant(baclofen())
    twin.advance(T0 + timedelta(days=10))
    new_conc = Concentration.from_mcg_per_ml(500)
    twin.refill_visit(Volume.from_ml(20), concentration=new_conc)
    assert (
        rejected(
            clinician(twin, BridgeBolus(Volume.from_ml("0.2"), Duration.from_hours(12)))
        ).reason
        is Rejection.INVALID_STATE
    )
    new = Prescription(
        "baclofen", new_conc, Mode.SIMPLE_CONTINUOUS, rate=DoseRate.from_mcg_per_day(400)
    )
    accepted(clinician(twin, WritePrescription(new, new.content_hash)))
    grant = accepted(
        clinician(twin, BridgeBolus(Volume.from_ml("0.2"), Duration.from_hours(12)))
    ).payload
    assert grant.volume == Volume.from_ml("0.2")
    assert twin.view().therapy.volume_rate.ml_per_day == Fraction(2, 5)  # 0.2 mL over 12 h
    twin.advance(twin.now + timedelta(hours=13))
    assert twin.view().therapy.volume_rate.ml_per_day == Fraction(4, 5)  # 400 mcg/day at 500


def test_priming_bolus_moves_its_volume_then_starts_the_stored_prescription():
    twin = implant(baclofen())
    accepted(clinician(twin, Stop()))
    accepted(clinician(twin, PrimingBolus(Volume.from_ml("0.25"), Duration.from_hours(1))))
    twin.advance(T0 + timedelta(hours=2))
    view = twin.view()
    assert view.therapy.state is TherapyState.RUNNING
    assert abs(twin.truth().pumped_volume.ml - Fraction(1, 4) - Fraction(1, 5) / 24) < Fraction(
        1, 1000
    )


@pytest.mark.parametrize(
    ("mcg", "refused"),
    [("100", False),  # at the soft limit
     ("150", False),  # above the soft limit: the clinician's to override, not the pump's
     ("200", False),  # exactly at the hard limit
     ("200.001", True),  # just above it
     ("250", True)],
)  # fmt: skip
def test_clinician_bolus_above_the_library_hard_limit_is_refused(mcg, refused):
    twin = implant(baclofen())
    response = clinician(twin, ClinicianBolus(Mass.from_mcg(mcg), Duration.from_hours(1)))
    if refused:
        refusal = rejected(response)
        assert refusal.reason is Rejection.HARD_LIMIT
        assert "above the hard limit 200 mcg (site default)" in refusal.message
    else:
        accepted(response)


def test_stop_resume_and_minimum_rate_change_delivery():
    twin = implant(baclofen(400))
    accepted(clinician(twin, Stop()))
    assert twin.view().therapy.volume_rate.amount == 0
    accepted(clinician(twin, MinimumRate()))
    assert twin.view().therapy.volume_rate == twin.profile.model.minimum_rate.value
    accepted(clinician(twin, Resume()))
    assert twin.view().therapy.volume_rate.ml_per_day == Fraction(1, 5)


def test_alarm_settings_are_validated_and_stored():
    twin = implant(baclofen())
    bad = SetAlarmSettings(Volume.from_ml("0.5"), Duration.from_minutes(10))
    assert rejected(clinician(twin, bad)).reason is Rejection.INVALID_ARGUMENT
    accepted(clinician(twin, SetAlarmSettings(Volume.from_ml(4), Duration.from_minutes(5))))
    assert twin.view().settings.low_reservoir_threshold == Volume.from_ml(4)


def test_alarm_test_sounds_both_tones_and_is_logged():
    twin = implant(baclofen())
    result = accepted(clinician(twin, AlarmTest())).payload
    assert result == AlarmTestResult((Tone.TWO_TONE, Tone.SINGLE_TONE))
    assert any(e.kind is LogKind.ALARM_TEST for e in twin.view().events)


def test_acknowledging_an_unknown_or_inactive_alarm_is_refused():
    twin = implant(baclofen())
    assert rejected(clinician(twin, AcknowledgeAlarm("kaboom"))).reason is Rejection.NO_SUCH_ALARM
    assert rejected(clinician(twin, AcknowledgeAlarm("eri"))).reason is Rejection.NO_SUCH_ALARM


def test_flow_valve_reset_on_a_pump_without_one_is_refused():
    twin = implant(baclofen())
    assert rejected(clinician(twin, ResetFlowValve())).reason is Rejection.INVALID_STATE


def test_interrogation_returns_the_log_since_a_sequence_number():
    twin = implant(baclofen())
    clinician(twin, Stop())
    clinician(twin, Resume())
    report = accepted(clinician(twin, Interrogate(log_since=1))).payload
    assert isinstance(report, InterrogationReport)
    assert [e.seq for e in report.events] == list(range(2, report.log_next_seq))


def test_every_command_is_in_the_log():
    twin = implant(baclofen())
    for command in (Stop(), Resume(), AlarmTest(), MinimumRate()):
        clinician(twin, command)
    names = [e.detail("command") for e in twin.view().events if e.kind is LogKind.COMMAND]
    assert names == ["Stop", "Resume", "AlarmTest", "MinimumRate"]


def test_a_constant_flow_pump_answers_no_command():
    twin = PumpTwin.implant(
        "constant-flow-30", T0, drug="morphine", concentration=Concentration.from_mg_per_ml(1),
        fill=Volume.from_ml(30),
    )  # fmt: skip
    assert rejected(clinician(twin, Interrogate())).reason is Rejection.NOT_PROGRAMMABLE
    twin.advance(T0 + timedelta(days=10))
    assert twin.truth().pumped_volume == Volume.from_ml(10)  # the restrictor's 1 mL/day
