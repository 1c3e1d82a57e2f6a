"""The clinician programmer's and patient controller's workflows against a real pump twin
over the real link (in memory, simulated time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from tests.link.pumps import EXAMPLES, PTM, T0, SimulatedPump, simulated_pump
from thecal.link.controller import ControllerLink, OutcomeUnknown, RetryPolicy
from thecal.link.keys import StaticKey
from thecal.link.messages import LinkCommand
from thecal.programmer import clinician, patient
from thecal.programmer.calculations import CatheterData
from thecal.programmer.clinician import Outcome, RefillRequest
from thecal.programmer.connection import JournaledLink, resolve_pending
from thecal.programmer.home import ControllerHome
from thecal.pump import RateError
from thecal.pump.commands import Command, PatientBolusRequest, Response, Role, WritePrescription
from thecal.pump.eventlog import LogKind
from thecal.pump.payloads import BatteryState, TherapyState
from thecal.therapy.prescription import Prescription
from thecal.therapy.prescription_toml import read_prescription
from thecal.therapy.projection import RefillLimit
from thecal.therapy.pump_models import find_catheter_model
from thecal.therapy.quantities import Concentration, DoseRate, Duration, Volume
from thecal.therapy.refill import Discrepancy

CATHETER = CatheterData(find_catheter_model("prometra-110"), Fraction(50))


def _rx(mg_per_day: str, mg_per_ml: int = 10) -> Prescription:
    return replace(
        PTM, concentration=Concentration.from_mg_per_ml(mg_per_ml),
        rate=DoseRate.from_mg_per_day(mg_per_day),
    )  # fmt: skip


def _clinic(pump: SimulatedPump) -> ControllerLink:
    return pump.controller(pump.enrol(Role.CLINICIAN))


def _boluses(pump: SimulatedPump, kind: str) -> int:
    return sum(
        1
        for e in pump.twin.view().events
        if e.kind is LogKind.BOLUS_STARTED and e.detail("kind") == kind
    )


# -- program ---------------------------------------------------------------------


def test_programming_writes_and_verifies_the_reviewed_prescription() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    proposed = _rx("4.4")
    checked = clinician.review_against_pump(proposed, clinician.interrogate(link))
    result = clinician.program(link, checked, {})
    assert result.outcome is Outcome.DONE
    assert result.read_back_hash == proposed.content_hash == pump.twin.view().prescription_hash


def test_nothing_is_sent_until_every_soft_limit_has_a_reason() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    proposed = _rx("5.2")  # +30 %: above the 20 % soft titration step
    checked = clinician.review_against_pump(proposed, clinician.interrogate(link))
    assert checked.needs_reasons
    before = pump.twin.view().prescription_hash
    assert clinician.program(link, checked, {}).outcome is Outcome.NOT_SENT
    assert pump.twin.view().prescription_hash == before
    reasons = {rule: "pain uncontrolled, discussed" for rule in checked.needs_reasons}
    assert clinician.program(link, checked, reasons).outcome is Outcome.DONE


def test_a_hard_limit_is_never_sent() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    checked = clinician.review_against_pump(_rx("40"), clinician.interrogate(link))
    before = pump.endpoint.stats.commands_handled
    result = clinician.program(link, checked, {rule: "x" for rule in checked.needs_reasons})
    assert result.outcome is Outcome.NOT_SENT
    assert pump.endpoint.stats.commands_handled == before


class _Tampering:
    """A faulty programmer pipeline that swaps the prescription (with its own matching hash)
    between review and transmission: only the read-back can catch it."""

    def __init__(self, link: ControllerLink, swap: Prescription) -> None:
        self.link, self.swap = link, swap

    def call(self, body: Command | LinkCommand, request_id: str | None = None) -> Response:
        if isinstance(body, WritePrescription):
            body = WritePrescription(self.swap, self.swap.content_hash)
        return self.link.call(body, request_id)


def test_a_prescription_altered_after_review_is_caught_by_the_read_back() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    checked = clinician.review_against_pump(_rx("4.4"), clinician.interrogate(link))
    result = clinician.program(_Tampering(link, _rx("4.2")), checked, {})
    assert result.outcome is Outcome.VERIFY_FAILED
    assert "do not rely" in result.message


# -- implant ---------------------------------------------------------------------


def test_implant_primes_tubing_and_catheter_then_therapy_starts() -> None:
    pump = simulated_pump(prescription=None, catheter_volume=Volume.from_ml("0.13"), primed=False)
    link = _clinic(pump)
    result = clinician.implant(link, PTM, CATHETER)
    assert result.outcome is Outcome.DONE
    assert result.priming is not None and result.priming.volume == Volume.from_ml("0.27")
    assert "medical supervision" in result.message
    assert _boluses(pump, "priming") == 1
    pump.advance(3600)
    view = pump.twin.view()
    assert view.bolus is None and view.therapy.state is TherapyState.RUNNING
    assert view.prescription_hash == PTM.content_hash


# -- refill ----------------------------------------------------------------------


def test_refill_discrepancy_flags_possible_over_infusion_or_pocket_fill() -> None:
    pump = simulated_pump()
    pump.twin.inject_fault(RateError(pump.now(), None, Fraction(3, 2)))
    pump.advance(20 * 86400)
    link = _clinic(pump)
    aspirated = pump.twin.aspirate(None).floor_to(Volume.from_ml("0.01"))
    pump.twin.inject(Volume.from_ml(20), PTM.drug, PTM.concentration)
    result = clinician.refill(link, RefillRequest(aspirated, Volume.from_ml(20)))
    assert result.outcome is Outcome.DONE
    assert result.reconciliation is not None and result.reconciliation.flagged
    assert result.reconciliation.discrepancy is Discrepancy.LESS_THAN_EXPECTED
    causes = " ".join(result.likely_causes)
    assert "over-infusion" in causes and "pocket fill" in causes
    assert result.next_refill is not None and result.next_refill.refill_by is not None


@pytest.mark.parametrize(("fill", "sent"), [("20", True), ("20.01", False)])
def test_refill_refuses_to_fill_beyond_capacity(fill: str, sent: bool) -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    result = clinician.refill(link, RefillRequest(Volume.from_ml(18), Volume.from_ml(fill)))
    assert (result.outcome is not Outcome.NOT_SENT) is sent
    refills = [e for e in pump.twin.view().events if e.kind is LogKind.REFILL]
    assert bool(refills) is sent


@pytest.mark.parametrize(("aspirated", "sent"), [("20", True), ("20.01", False), ("25", False)])
def test_refill_refuses_an_aspirate_larger_than_the_reservoir(aspirated: str, sent: bool) -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    before = clinician.interrogate(link)
    request = RefillRequest(Volume.from_ml(aspirated), Volume.from_ml(20))
    preview = clinician.preview_refill(before, request)
    assert preview.aspirate_over_capacity is not sent
    assert (preview.reconciliation is None) is not sent
    result = clinician.refill(link, request)
    assert (result.outcome is not Outcome.NOT_SENT) is sent
    refills = [e for e in pump.twin.view().events if e.kind is LogKind.REFILL]
    assert bool(refills) is sent


def test_the_preview_shows_the_discrepancy_the_pump_will_flag() -> None:
    pump = simulated_pump()
    pump.advance(10 * 86400)
    link = _clinic(pump)
    before = clinician.interrogate(link)
    missing = before.reservoir.estimated - Volume.from_ml("9.7")  # 9.7 mL of morphine gone
    preview = clinician.preview_refill(before, RefillRequest(missing, Volume.from_ml(20)))
    assert preview.reconciliation is not None
    assert preview.reconciliation.discrepancy is Discrepancy.LESS_THAN_EXPECTED
    result = clinician.refill(link, RefillRequest(missing, Volume.from_ml(20)))
    assert result.reconciliation is not None and result.reconciliation.flagged


BACLOFEN_FLEX = read_prescription(EXAMPLES / "baclofen-flex-spasticity.toml")


@pytest.mark.parametrize("named", ["lioresal", " Lioresal", "GABLOFEN", "baclofen"])
def test_a_refill_named_by_a_brand_of_the_drug_is_no_solution_change(named: str) -> None:
    pump = simulated_pump(prescription=BACLOFEN_FLEX)
    pump.advance(5 * 86400)
    link = _clinic(pump)
    before = clinician.interrogate(link)
    request = RefillRequest(
        before.reservoir.estimated, Volume.from_ml(20), drug=named,
        concentration=BACLOFEN_FLEX.concentration,
    )  # fmt: skip
    preview = clinician.preview_refill(before, request)
    assert (preview.solution_change, preview.drug, preview.refusal) == (False, "baclofen", None)
    result = clinician.refill(link, request)
    assert result.outcome is Outcome.DONE
    view = pump.twin.view()
    assert view.therapy.state is TherapyState.RUNNING
    assert not view.reservoir.awaiting_prescription


def test_a_concentration_change_without_its_prescription_is_not_sent() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    request = RefillRequest(
        Volume.from_ml(18), Volume.from_ml(20), concentration=Concentration.from_mg_per_ml(25)
    )
    result = clinician.refill(link, request)
    assert result.outcome is Outcome.NOT_SENT
    assert not [e for e in pump.twin.view().events if e.kind is LogKind.REFILL]


def test_a_concentration_change_reprograms_and_bridges_at_the_old_daily_dose() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    stronger = _rx("4", mg_per_ml=25)
    pump.twin.aspirate(None)
    pump.twin.inject(Volume.from_ml(20), "morphine", stronger.concentration)
    request = RefillRequest(
        Volume.from_ml("18.3"), Volume.from_ml(20), concentration=stronger.concentration,
        prescription=stronger, catheter=CATHETER,
        reasons={"bridge_bolus": "bridged by the programmer's bridge bolus"},
    )  # fmt: skip
    result = clinician.refill(link, request)
    assert result.outcome is Outcome.DONE, result.message
    assert result.bridge is not None and result.bridge.old_daily_dose == DoseRate.from_mg_per_day(4)
    assert result.bridge.old_volume_rate.ml_per_day == Fraction(2, 5)
    assert result.reconciliation is not None and result.reconciliation.new_solution
    view = pump.twin.view()
    assert view.prescription_hash == stronger.content_hash
    assert view.bolus is not None and view.bolus.kind.value == "bridge"


# -- controls, checks, battery -------------------------------------------------------------


def test_stop_minimum_rate_and_resume_change_delivery() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    assert clinician.stop(link).accepted
    assert pump.twin.view().therapy.state is TherapyState.STOPPED
    assert clinician.minimum_rate(link).accepted
    assert pump.twin.view().therapy.state is TherapyState.MINIMUM_RATE
    assert clinician.resume(link).accepted
    assert pump.twin.view().therapy.state is TherapyState.RUNNING


def test_alarm_test_and_post_mri_check_are_carried_out() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    assert clinician.alarm_test(link).accepted
    assert clinician.post_mri_check(link).accepted


def test_replacement_is_planned_six_months_before_end_of_service() -> None:
    pump = simulated_pump()
    plan = clinician.replacement_plan(_clinic(pump))
    assert plan.battery is BatteryState.NORMAL and not plan.urgent
    assert plan.eos_at is not None and plan.schedule_from == plan.eos_at - timedelta(days=182)


def test_enrolment_revocation_and_listing() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    newcomer = StaticKey.generate()
    assert clinician.enrol_controller(link, newcomer.public, Role.PATIENT, "PTM").accepted
    listed = clinician.controllers(link)
    assert newcomer.id in {c.key_id for c in listed.controllers}
    assert clinician.revoke_controller(link, newcomer.id).accepted
    assert newcomer.id in clinician.controllers(link).revoked


# -- patient controller ------------------------------------------------------------------


def test_a_patient_bolus_is_granted_then_denied_with_reason_wait_and_count() -> None:
    pump = simulated_pump()
    link = pump.controller(pump.enrol(Role.PATIENT))
    granted = patient.request_bolus(link)
    assert granted.granted and granted.count_24h == 1 and granted.max_per_24h == 4
    denied = patient.request_bolus(link)
    assert not denied.granted and denied.reason is not None
    assert denied.count_24h == 1 and denied.next_allowed_at is not None
    assert denied.wait_text() is not None
    assert _boluses(pump, "patient") == 1


def test_the_patient_sees_a_status_summary_and_can_acknowledge_an_alarm() -> None:
    pump = simulated_pump(fill=Volume.from_ml("2.5"))
    link = pump.controller(pump.enrol(Role.PATIENT))
    pump.advance(2 * 86400)  # the low-reservoir alarm is raised
    summary = patient.status(link)
    assert summary.low_reservoir and summary.alarms
    kind = summary.alarms[0].kind.value
    assert patient.acknowledge_alarm(link, kind).acknowledged
    assert not patient.acknowledge_alarm(link, "no_such_alarm").acknowledged


# -- never losing track of a command -----------------------------------------------------


def test_an_unanswered_bolus_request_is_journaled_and_resolved_on_the_next_connection(
    tmp_path: Path,
) -> None:
    pump = simulated_pump()
    key = pump.enrol(Role.PATIENT)
    home = ControllerHome(tmp_path / "controller")
    sent = pump.endpoint.receive

    def deaf(data: bytes) -> list[bytes]:  # the pump acts, its answers are lost
        sent(data)
        return []

    lossy = pump.controller(key, type(pump.channel())(deaf, on_idle=pump.advance),
                            RetryPolicy(timeout=1.0, attempts=3, handshake_attempts=3))  # fmt: skip
    healthy = pump.controller(key)
    healthy.connect()
    lossy.session = healthy.session
    with pytest.raises(OutcomeUnknown):
        JournaledLink(lossy, home, "TEST-0001").call(PatientBolusRequest())
    assert len(home.pending("TEST-0001")) == 1
    resolved = resolve_pending(healthy, home, "TEST-0001")
    assert len(resolved) == 1 and resolved[0].description == "PatientBolusRequest"
    assert home.pending("TEST-0001") == []
    assert _boluses(pump, "patient") == 1


# -- refill-by dates -----------------------------------------------------------------


def test_the_first_ziconotide_fill_must_be_refilled_within_14_days_later_ones_within_84() -> None:
    rx = read_prescription(EXAMPLES / "ziconotide-titration-start.toml")
    pump = simulated_pump(prescription=rx)
    link = _clinic(pump)
    first = clinician.next_refill(clinician.interrogate(link))
    assert first is not None and first.limited_by is RefillLimit.STABILITY
    assert first.refill_by == T0 + timedelta(days=14)
    pump.twin.aspirate(None)
    pump.twin.inject(Volume.from_ml(20), rx.drug, rx.concentration)
    done = clinician.refill(link, RefillRequest(Volume.from_ml("19.9"), Volume.from_ml(20)))
    assert done.next_refill is not None
    assert done.next_refill.refill_by == pump.now() + timedelta(days=84)


def test_alarm_settings_are_set_on_the_pump() -> None:
    pump = simulated_pump()
    result = clinician.set_alarm_settings(
        _clinic(pump), Volume.from_ml(3), Duration.from_minutes(10)
    )
    assert result.accepted
    assert pump.twin.view().settings.low_reservoir_threshold == Volume.from_ml(3)


# -- the refill preview (shows what the refill will check) --------------------------------


def test_the_refill_preview_names_what_a_refill_would_refuse_before_anything_is_sent() -> None:
    pump = simulated_pump()
    link = _clinic(pump)
    before = clinician.interrogate(link)
    stronger = _rx("4", mg_per_ml=25)
    request = RefillRequest(
        Volume.from_ml("18.3"), Volume.from_ml(20), concentration=stronger.concentration,
        prescription=stronger,
    )  # fmt: skip
    plan = clinician.preview_refill(before, request)
    assert plan.solution_change and plan.refusal is not None and "catheter" in plan.refusal
    assert not plan.awaiting_reasons
    assert plan.difference == Volume.from_ml("18.3") - before.reservoir.estimated
    result = clinician.refill(link, request)
    assert result.outcome is Outcome.NOT_SENT and result.message == plan.refusal


def test_a_complete_refill_preview_needs_only_the_override_reasons() -> None:
    pump = simulated_pump()
    before = clinician.interrogate(_clinic(pump))
    stronger = _rx("4", mg_per_ml=25)
    request = RefillRequest(
        Volume.from_ml("18.3"), Volume.from_ml(20), concentration=stronger.concentration,
        prescription=stronger, catheter=CATHETER,
    )  # fmt: skip
    plan = clinician.preview_refill(before, request)
    assert plan.bridge is not None and plan.review is not None
    assert plan.awaiting_reasons and plan.refusal is not None and "reason" in plan.refusal
    reasons = {rule: "bridged by the programmer" for rule in plan.needs_reasons}
    assert clinician.preview_refill(before, replace(request, reasons=reasons)).refusal is None
