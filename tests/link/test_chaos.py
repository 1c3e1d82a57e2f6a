"""Chaos on the radio: drops, duplicates, reordering, corruption and disconnects at any
point of any command. Whatever happens, a bolus is delivered at most once, a
prescription is applied whole or not at all, and the controller ends knowing which.

The oracle is the twin itself: its event log (every bolus start names the request that
caused it) and its stored prescription.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.link.pumps import PTM, SimulatedPump, simulated_pump
from thecal.link.controller import ControllerLink, HandshakeRefused, OutcomeUnknown, RetryPolicy
from thecal.link.transports.radio import LossyRadio, RadioFaults
from thecal.pump.commands import (
    Accepted,
    ClinicianBolus,
    Command,
    PatientBolusRequest,
    Response,
    Resume,
    Role,
    Stop,
    WritePrescription,
)
from thecal.pump.eventlog import LogKind
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import DoseRate, Duration, Mass

assert PTM.rate is not None
NEW_RX = Prescription(
    PTM.drug,
    PTM.concentration,
    PTM.mode,
    rate=DoseRate(PTM.rate.amount * 11 / 10),
    patient_bolus=PTM.patient_bolus,
)

probability = st.sampled_from([0.0, 0.05, 0.15, 0.3])
faults = st.builds(
    RadioFaults,
    drop=probability,
    duplicate=probability,
    reorder=probability,
    corrupt=probability,
    disconnect=st.sampled_from([0.0, 0.02, 0.08]),
)

PLAN: list[tuple[Role, Command]] = [
    (Role.PATIENT, PatientBolusRequest()),
    (Role.CLINICIAN, WritePrescription(NEW_RX, NEW_RX.content_hash)),
    (Role.PATIENT, PatientBolusRequest()),
    (Role.CLINICIAN, ClinicianBolus(Mass.from_mcg(50), Duration.from_minutes(5))),
    (Role.CLINICIAN, Stop()),
    (Role.CLINICIAN, Resume()),
]

CHAOS_RETRY = RetryPolicy(timeout=1.0, attempts=6, handshake_attempts=6, stray_frames=32)


@dataclass
class Knowledge:
    """What a controller concluded about one request."""

    request_id: str
    command: Command
    response: Response


def _bolus_starts(pump: SimulatedPump, request_suffix: str) -> int:
    return sum(
        1
        for event in pump.twin.view().events
        if event.kind is LogKind.BOLUS_STARTED
        and (event.detail("request") or "").endswith(":" + request_suffix)
    )


def _resolve(pump: SimulatedPump, link: ControllerLink, rid: str, command: Command) -> Response:
    """After the chaos: ask again over a clean link, same request id (what a programmer
    does on its next connection with its journal of unanswered requests)."""
    clean = pump.controller(link.static, pump.channel())
    return clean.call(command, rid)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), air=faults)
def test_under_chaos_boluses_happen_at_most_once_and_prescriptions_whole(
    seed: int, air: RadioFaults
) -> None:
    pump = simulated_pump()
    rng = random.Random(seed)
    keys = {Role.CLINICIAN: pump.enrol(Role.CLINICIAN), Role.PATIENT: pump.enrol(Role.PATIENT)}
    links = {
        role: pump.controller(
            key, LossyRadio(pump.endpoint.receive, air, rng, pump.advance), CHAOS_RETRY
        )
        for role, key in keys.items()
    }
    old_hash = pump.twin.view().prescription_hash
    knowledge: list[Knowledge] = []
    for step, (role, command) in enumerate(PLAN):
        link = links[role]
        rid = f"chaos-{step}"
        try:
            response = link.call(command, rid)
        except (OutcomeUnknown, HandshakeRefused):
            response = _resolve(pump, link, rid, command)
        knowledge.append(Knowledge(rid, command, response))
        # Never twice: the same id again, now over a clean link, gets the same answer.
        assert _resolve(pump, link, rid, command) == response
        pump.advance(rng.choice([60, 3 * 3600]))

    for known in knowledge:
        if isinstance(known.command, PatientBolusRequest | ClinicianBolus):
            starts = _bolus_starts(pump, known.request_id)
            assert starts <= 1, f"{known.request_id}: a bolus was started {starts} times"
            assert starts == (1 if isinstance(known.response, Accepted) else 0)
        if isinstance(known.command, WritePrescription):
            stored = pump.twin.view().prescription_hash
            assert stored in (old_hash, NEW_RX.content_hash)  # whole or not at all
            expected = NEW_RX.content_hash if isinstance(known.response, Accepted) else old_hash
            assert stored == expected, "the controller's belief differs from the pump"


def test_a_link_that_never_answers_ends_in_a_known_unknown_that_resolves_later() -> None:
    pump = simulated_pump()
    patient_key = pump.enrol(Role.PATIENT)
    rng = random.Random(7)
    dead_downlink = RadioFaults(drop=0.0)
    radio = LossyRadio(pump.endpoint.receive, dead_downlink, rng, pump.advance)
    link = pump.controller(patient_key, radio, CHAOS_RETRY)
    link.connect()
    radio.faults = RadioFaults(drop=1.0)  # from now on nothing gets through either way
    try:
        link.call(PatientBolusRequest(), "lost-1")
    except OutcomeUnknown as unknown:
        assert unknown.request_id == "lost-1"
    else:
        raise AssertionError("a call over a dead link must not claim an outcome")
    assert _bolus_starts(pump, "lost-1") == 0
    answer = _resolve(pump, link, "lost-1", PatientBolusRequest())
    assert isinstance(answer, Accepted)
    assert _bolus_starts(pump, "lost-1") == 1
    assert _resolve(pump, link, "lost-1", PatientBolusRequest()) == answer
    assert _bolus_starts(pump, "lost-1") == 1


def test_a_lost_answer_is_learned_by_asking_again_not_by_acting_again() -> None:
    pump = simulated_pump()
    link = pump.controller(pump.enrol(Role.PATIENT))
    link.connect()
    sent = pump.endpoint.receive

    # The pump acts on the request but its answer is lost on the way back.
    def deaf(data: bytes) -> list[bytes]:
        sent(data)
        return []

    deaf_link = pump.controller(link.static, type(link.channel)(deaf, on_idle=pump.advance))
    deaf_link.session = link.session
    with contextlib.suppress(OutcomeUnknown):  # the answer is lost: the outcome is unknown
        deaf_link.call(PatientBolusRequest(), "echo-1")
    assert _bolus_starts(pump, "echo-1") == 1
    assert isinstance(_resolve(pump, link, "echo-1", PatientBolusRequest()), Accepted)
    assert _bolus_starts(pump, "echo-1") == 1
