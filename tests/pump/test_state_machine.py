"""Hypothesis state machine: random commands, refills, clock changes, power losses and
time, with the pump's invariants checked after every step.

* delivered is never more than what went into the reservoir (volume is conserved);
* nothing is delivered while the pump is stopped;
* patient boluses honour the lockout and the rolling 24-hour maximum;
* the stored prescription is always one that was written whole;
* the event log is gap-free.
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.pump.support import MORPHINE, T0, implant
from thecal.pump import PowerLoss, SimulationMode
from thecal.pump.codec import decode_bytes
from thecal.pump.commands import (
    Accepted,
    AcknowledgeAlarm,
    ClinicianBolus,
    MinimumRate,
    PatientBolusRequest,
    Resume,
    Role,
    SetClock,
    Stop,
    WritePrescription,
)
from thecal.pump.payloads import BolusGrant, TherapyState
from thecal.pump.timebase import DAY_US, HOUR_US, to_us
from thecal.therapy.prescription import Mode, PatientBolus, Prescription
from thecal.therapy.quantities import DoseRate, Duration, Mass, Volume


def _rx(rate_mg: str, lockout_h: int, cap: int) -> Prescription:
    return Prescription(
        "morphine",
        MORPHINE,
        Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate.from_mg_per_day(rate_mg),
        patient_bolus=PatientBolus(
            Mass.from_mg("0.2"), Duration.from_minutes(10), Duration.from_hours(lockout_h), cap
        ),
    )


PRESCRIPTIONS = (_rx("4", 3, 4), _rx("6", 2, 6), _rx("2", 4, 3))


class PumpMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.twin = implant(PRESCRIPTIONS[0], fill_ml=10)
        self.entered = Fraction(10)  # mL that went into the reservoir
        self.aspirated = Fraction(0)
        self.written = {PRESCRIPTIONS[0]}
        # (start µs, the prescription then, the last lockout restart before it)
        self.grants: list[tuple[int, Prescription, int]] = []
        self.anchor = to_us(T0)  # the last lockout restart (implant, refill or write)

    # -- rules ------------------------------------------------------------------------
    @rule(minutes=st.integers(min_value=1, max_value=3 * 24 * 60))
    def advance(self, minutes: int) -> None:
        ram = self.twin.firmware.ram
        stopped = ram.therapy.state in (TherapyState.STOPPED, TherapyState.END_OF_SERVICE)
        idle = stopped and ram.overlay is None
        before = self.twin.truth().pumped_volume
        self.twin.advance(self.twin.now + timedelta(minutes=minutes))
        if idle:
            assert self.twin.truth().pumped_volume == before, "delivered while stopped"

    @rule(minutes=st.integers(min_value=0, max_value=6 * 60))
    def wait_then_patient_bolus(self, minutes: int) -> None:
        self.advance(minutes)
        self.patient_bolus()

    @rule()
    def patient_bolus(self) -> None:
        response = self.twin.send(PatientBolusRequest(), Role.PATIENT)
        if isinstance(response, Accepted):
            assert isinstance(response.payload, BolusGrant)
            rx = self.twin.firmware.ram.prescription
            assert rx is not None
            self.grants.append((to_us(self.twin.now), rx, self.anchor))

    @rule()
    def clinician_bolus(self) -> None:
        self.twin.send(ClinicianBolus(Mass.from_mg("0.3"), Duration.from_minutes(30)))

    @rule(
        command=st.sampled_from(
            [Stop(), Resume(), MinimumRate(), AcknowledgeAlarm("low_reservoir")]
        )
    )
    def delivery_command(self, command) -> None:
        self.twin.send(command)

    @rule(index=st.integers(min_value=0, max_value=len(PRESCRIPTIONS) - 1), good=st.booleans())
    def write(self, index: int, good: bool) -> None:
        rx = PRESCRIPTIONS[index]
        digest = rx.content_hash if good else PRESCRIPTIONS[index - 1].content_hash
        response = self.twin.send(WritePrescription(rx, digest))
        if isinstance(response, Accepted):
            self.written.add(rx)
            self._restart_lockout()

    @rule(fill=st.integers(min_value=1, max_value=20))
    def refill(self, fill: int) -> None:
        visit = self.twin.refill_visit(Volume.from_ml(fill))
        self.entered += visit.injection.into_reservoir.ml
        self.aspirated += visit.aspirated.ml
        if isinstance(visit.response, Accepted):
            self._restart_lockout()

    @rule(hours=st.integers(min_value=-3, max_value=3))
    def set_clock(self, hours: int) -> None:
        self.twin.send(SetClock(self.twin.local_now + timedelta(hours=hours)))

    @rule(torn=st.none() | st.integers(min_value=0, max_value=400))
    def power_loss(self, torn: int | None) -> None:
        if torn is None:
            self.twin.power_loss()
        else:
            self.twin.inject_fault(PowerLoss(self.twin.now, None, torn))
            self.twin.send(Stop())  # the next write is cut

    def _restart_lockout(self) -> None:
        self.anchor = to_us(self.twin.now)

    # -- invariants ---------------------------------------------------------------------
    @invariant()
    def delivered_never_exceeds_what_was_in_the_reservoir(self) -> None:
        truth = self.twin.truth()
        assert truth.pumped_volume.ml <= self.entered - self.aspirated
        assert truth.reservoir_volume.ml >= 0
        assert truth.pumped_volume.ml + truth.reservoir_volume.ml + self.aspirated == self.entered

    @invariant()
    def lockout_and_daily_maximum_are_honoured(self) -> None:
        for index, (start, rx, anchor) in enumerate(self.grants):
            pb = rx.patient_bolus
            assert pb is not None
            lockout = int(pb.lockout.seconds) * 1_000_000
            assert start - anchor >= lockout, "bolus within the lockout after a refill or write"
            if index:
                assert start - self.grants[index - 1][0] >= lockout, "bolus within the lockout"
            window = [s for s, _, _ in self.grants if start - DAY_US < s <= start]
            assert len(window) <= pb.max_per_24h, "more boluses than the 24-hour maximum"

    @invariant()
    def the_stored_prescription_was_written_whole(self) -> None:
        stored = self.twin.firmware.ram.prescription
        assert stored in self.written
        raw = self.twin.hardware.memory.read("prescription")
        assert raw is not None
        assert decode_bytes(raw).prescription in self.written

    @invariant()
    def the_log_is_gap_free(self) -> None:
        log = self.twin.firmware.log
        seqs = [event.seq for event in log.events()]
        assert seqs == list(range(log.first_seq, log.next_seq))


PumpMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPumpStateMachine = PumpMachine.TestCase


def test_stroke_mode_is_the_default():
    assert implant().mode is SimulationMode.STROKES
    assert HOUR_US * 24 == DAY_US
