"""The link under any interleaving of genuine use and attack (Hypothesis state machine):
replayed, tampered and junk frames never make the pump act, and every patient bolus the
pump started is one the patient was told was granted."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.link.pumps import SimulatedPump, simulated_pump
from thecal.link.frame import Frame, FrameType, decode_frame, encode_frame
from thecal.pump.commands import (
    Accepted,
    AlarmTest,
    Interrogate,
    PatientBolusRequest,
    Resume,
    Role,
    StatusSummary,
    Stop,
)
from thecal.pump.eventlog import LogKind


class LinkUnderAttack(RuleBasedStateMachine):
    pump: SimulatedPump

    @initialize()
    def start(self) -> None:
        self.pump = simulated_pump()
        self.tap: list[tuple[str, bytes]] = []
        self.clinician = self.pump.controller(
            self.pump.enrol(Role.CLINICIAN), self.pump.channel(self.tap)
        )
        self.patient = self.pump.controller(
            self.pump.enrol(Role.PATIENT), self.pump.channel(self.tap)
        )
        self.granted = 0

    def _uplink(self) -> list[bytes]:
        return [data for direction, data in self.tap if direction == "up"]

    def _attack(self, data: bytes) -> None:
        handled = self.pump.endpoint.stats.commands_handled
        before = self.pump.twin_fingerprint()
        replies = self.pump.endpoint.receive(data)
        assert self.pump.endpoint.stats.commands_handled == handled
        assert self.pump.twin_fingerprint() == before
        for reply in replies:  # never an encrypted answer to an attacker's frame
            frame = decode_frame(reply)
            assert not (isinstance(frame, Frame) and frame.type is FrameType.DATA)

    @rule()
    def patient_asks_for_a_bolus(self) -> None:
        if isinstance(self.patient.call(PatientBolusRequest()), Accepted):
            self.granted += 1

    @rule()
    def patient_checks_status(self) -> None:
        assert isinstance(self.patient.call(StatusSummary()), Accepted)

    @rule(command=st.sampled_from([AlarmTest(), Stop(), Resume(), Interrogate()]))
    def clinician_sends(self, command: object) -> None:
        self.clinician.call(command)  # type: ignore[arg-type]

    @rule(pick=st.integers(min_value=0))
    def attacker_replays_a_recorded_frame(self, pick: int) -> None:
        frames = self._uplink()
        if frames:
            self._attack(frames[pick % len(frames)])

    @rule(
        pick=st.integers(min_value=0), position=st.integers(min_value=0), mask=st.integers(1, 255)
    )
    def attacker_tampers_with_a_recorded_frame(self, pick: int, position: int, mask: int) -> None:
        frames = [f for f in self._uplink() if decode_frame(f).type is FrameType.DATA]  # type: ignore[union-attr]
        if frames:
            data = bytearray(frames[pick % len(frames)])
            data[position % len(data)] ^= mask
            self._attack(bytes(data))

    @rule(junk=st.binary(max_size=80), kind=st.sampled_from(list(FrameType)))
    def attacker_sends_junk(self, junk: bytes, kind: FrameType) -> None:
        self._attack(encode_frame(Frame(kind, 0, junk)))

    @rule(seconds=st.sampled_from([1, 60, 400, 4000, 11000]))
    def time_passes(self, seconds: int) -> None:
        self.pump.advance(seconds)

    @invariant()
    def every_started_patient_bolus_was_granted_to_the_patient(self) -> None:
        if not hasattr(self, "pump"):
            return
        started = sum(
            1
            for e in self.pump.twin.view().events
            if e.kind is LogKind.BOLUS_STARTED and e.detail("kind") == "patient"
        )
        assert started == self.granted


LinkUnderAttack.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, derandomize=True
)
test_link_under_attack = LinkUnderAttack.TestCase
