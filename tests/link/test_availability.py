"""Availability and traffic analysis at the pump endpoint (simulated time, no sockets):
reserved handshake budgets, the busy answer, and lengths that tell nothing."""

from __future__ import annotations

import contextlib
import os

import pytest

from tests.link.pumps import INIT_HEADER, SimulatedPump, credential, init_payload, simulated_pump
from thecal.link.controller import HandshakeRefused, PumpBusy, RetryPolicy
from thecal.link.events import SecurityEventKind as Kind
from thecal.link.frame import Frame, FrameType, decode_frame, encode_frame
from thecal.link.guard import ADMISSION_LEN, COOKIE_LEN, HandshakeGuard, admission_tag
from thecal.link.keys import StaticKey
from thecal.link.messages import RefusalReason
from thecal.link.pump_endpoint import MODE_SESSION
from thecal.link.session import PAD_MINIMUM, pad, padded_size, unpad
from thecal.pump.commands import (
    Accepted,
    AcknowledgeAlarm,
    AlarmTest,
    MinimumRate,
    PatientBolusRequest,
    Resume,
    Role,
    StatusSummary,
    Stop,
)

NO_WAITING = RetryPolicy(timeout=1.0, attempts=3, handshake_attempts=3, max_busy_wait=0)


def _stranger_handshake(pump: SimulatedPump) -> bytes:
    """One stranger's message 1 with a valid cookie: it reaches the handshake budget."""
    body = os.urandom(32) + os.urandom(48 + 16 + 8)
    cookie = pump.endpoint.guard.issue_cookie(body[:32], pump.now())
    frame = Frame(FrameType.HANDSHAKE_INIT, 0, init_payload(MODE_SESSION, cookie, body))
    return encode_frame(frame)


def _drain_general_budget(pump: SimulatedPump, attempts: int = 50) -> None:
    for _ in range(attempts):
        pump.endpoint.receive(_stranger_handshake(pump))
    assert pump.endpoint.log.counts[Kind.HANDSHAKE_RATE_LIMITED] > 0


def test_strangers_who_spend_the_general_budget_leave_each_enrolled_controller_its_own() -> None:
    pump = simulated_pump()
    _drain_general_budget(pump)
    clinician = pump.controller(pump.enrol(Role.CLINICIAN), retry=NO_WAITING)
    assert isinstance(clinician.call(Stop()), Accepted)
    assert clinician.handshakes == 1  # no waiting for the strangers' budget
    # a stranger meanwhile is told "busy", with the wait
    with pytest.raises(HandshakeRefused) as refused:
        pump.controller(StaticKey.generate(), retry=NO_WAITING).connect()
    assert refused.value.busy and refused.value.refusal.retry_after_s


def test_an_enrolled_controller_that_floods_spends_only_its_own_budget() -> None:
    pump = simulated_pump()
    stolen = pump.enrol(Role.PATIENT, "stolen PTM")
    for _ in range(30):
        with contextlib.suppress(HandshakeRefused, PumpBusy):
            pump.controller(stolen, retry=NO_WAITING).connect()
    assert pump.endpoint.log.counts[Kind.HANDSHAKE_RATE_LIMITED] > 0
    clinician = pump.controller(pump.enrol(Role.CLINICIAN), retry=NO_WAITING)
    assert isinstance(clinician.call(Stop()), Accepted)


def test_an_admission_tag_is_bound_to_its_message_and_cookie() -> None:
    pump = simulated_pump()
    key = pump.enrol(Role.CLINICIAN)
    tap: list[tuple[str, bytes]] = []
    pump.controller(key, pump.channel(tap)).connect()
    inits = [decode_frame(d) for way, d in tap if way == "up"]
    sent = [f for f in inits if isinstance(f, Frame) and f.type is FrameType.HANDSHAKE_INIT][-1]
    tag = sent.payload[1 + COOKIE_LEN : INIT_HEADER]
    assert any(tag)
    _drain_general_budget(pump)
    # the genuine tag on another message (a new ephemeral) admits nothing: general budget
    other = os.urandom(32) + sent.payload[INIT_HEADER + 32 :]
    cookie = pump.endpoint.guard.issue_cookie(other[:32], pump.now())
    moved = Frame(FrameType.HANDSHAKE_INIT, 0, init_payload(MODE_SESSION, cookie, other, tag))
    refusal = decode_frame(pump.endpoint.receive(encode_frame(moved))[0])
    assert isinstance(refusal, Frame) and refusal.type is FrameType.HANDSHAKE_REFUSED
    assert b"busy" in refusal.payload


def test_a_tag_is_an_hmac_of_exactly_cookie_and_message() -> None:
    key = os.urandom(32)
    tag = admission_tag(key, b"c" * COOKIE_LEN, b"m" * 80)
    assert len(tag) == ADMISSION_LEN
    assert tag != admission_tag(key, b"d" * COOKIE_LEN, b"m" * 80)
    assert tag != admission_tag(os.urandom(32), b"c" * COOKIE_LEN, b"m" * 80)


def test_reserved_buckets_are_per_identity_and_forgotten_on_revocation() -> None:
    guard = HandshakeGuard()
    assert guard.bucket_for("a") is guard.bucket_for("a")
    assert guard.bucket_for("a") is not guard.bucket_for("b")
    assert guard.bucket_for(None) is guard.bucket
    first = guard.bucket_for("a")
    guard.forget("a")
    assert guard.bucket_for("a") is not first


# -- traffic analysis ---------------------------------------------------------------------


def _data_lengths(tap: list[tuple[str, bytes]]) -> set[int]:
    frames = [decode_frame(data) for _, data in tap]
    return {len(f.payload) for f in frames if isinstance(f, Frame) and f.type is FrameType.DATA}


def test_every_ordinary_command_and_answer_is_the_same_length_whoever_sends_it() -> None:
    pump = simulated_pump()
    tap: list[tuple[str, bytes]] = []
    patient = pump.controller(pump.enrol(Role.PATIENT), pump.channel(tap))
    clinician = pump.controller(pump.enrol(Role.CLINICIAN), pump.channel(tap))
    patient.call(StatusSummary())
    patient.call(PatientBolusRequest())
    patient.call(AcknowledgeAlarm("low_reservoir"))
    for command in (AlarmTest(), MinimumRate(), Stop(), Resume()):
        clinician.call(command)
    assert _data_lengths(tap) == {8 + PAD_MINIMUM + 16}  # session id, padded text, tag


def test_the_first_handshake_message_does_not_tell_a_clinician_from_a_patient() -> None:
    pump = simulated_pump()
    tap: list[tuple[str, bytes]] = []
    key = pump.enrol(Role.CLINICIAN)
    pump.controller(key, pump.channel(tap), credential=credential(key)).connect()
    pump.controller(pump.enrol(Role.PATIENT), pump.channel(tap)).connect()
    frames = [decode_frame(d) for _, d in tap]
    lengths = {
        (f.type, len(f.payload))
        for f in frames
        if isinstance(f, Frame)
        and f.type in (FrameType.HANDSHAKE_INIT, FrameType.HANDSHAKE_RESPONSE)
    }
    assert len({length for kind, length in lengths if kind is FrameType.HANDSHAKE_INIT}) == 1
    assert len({length for kind, length in lengths if kind is FrameType.HANDSHAKE_RESPONSE}) == 1


@pytest.mark.parametrize(
    ("length", "size"),
    [(0, 1024), (1023, 1024), (1024, 2048), (5000, 8192), (40_000, 65_536 - 24)],
)
def test_padding_sizes(length: int, size: int) -> None:
    assert padded_size(length) == size
    data = os.urandom(length)
    assert unpad(pad(data)) == data and len(pad(data)) == size


@pytest.mark.parametrize("bad", [b"", b"\x00" * 16, b"abc", b"abc\x80\x01"])
def test_what_is_not_padded_is_refused(bad: bytes) -> None:
    assert unpad(bad) is None


def test_a_message_too_long_for_one_frame_is_refused_not_cut() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        pad(bytes(65_536))


def test_the_busy_answer_names_the_wait() -> None:
    pump = simulated_pump()
    frame = pump.endpoint.busy_frame(3)
    assert frame.type is FrameType.HANDSHAKE_REFUSED
    decoded = pump.endpoint.registry.decode(frame.payload)
    assert decoded.value.reason is RefusalReason.BUSY
    assert decoded.value.retry_after_s == 3
