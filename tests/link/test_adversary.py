"""An attacker on the radio: every attack is refused, logged, and changes nothing."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from tests.link.pumps import (
    INIT_HEADER,
    PTM,
    SERIAL,
    T0,
    SimulatedPump,
    credential,
    hello_clock,
    init_payload,
    simulated_pump,
)
from thecal.link.controller import HandshakeRefused
from thecal.link.events import SecurityEventKind as Kind
from thecal.link.frame import Frame, FrameType, decode_frame, encode_frame
from thecal.link.guard import COOKIE_LEN
from thecal.link.keys import DeviceSecret, StaticKey
from thecal.link.messages import (
    EnrolController,
    HandshakeHello,
    ListControllers,
    OpenPairing,
    ReadSecurityLog,
    RefusalReason,
    RemoveAuthority,
    RevokeController,
    TrustAuthority,
)
from thecal.link.noise import WorkMeter, _dh, _Symmetric
from thecal.link.pump_endpoint import MODE_ENROL, MODE_SESSION, LinkLimits, prologue
from thecal.link.session import SESSION_ID_LEN
from thecal.pump.commands import (
    AlarmTest,
    ClinicianBolus,
    Interrogate,
    MinimumRate,
    PatientBolusRequest,
    PostMriCheck,
    RegisterRefill,
    Rejected,
    Rejection,
    Resume,
    Role,
    SetClock,
    StatusSummary,
    Stop,
    WritePrescription,
)
from thecal.pump.eventlog import LogKind
from thecal.therapy.quantities import Duration, Mass, Volume


def _boluses(pump: SimulatedPump) -> int:
    return sum(1 for e in pump.twin.view().events if e.kind is LogKind.BOLUS_STARTED)


def _ups(tap: list[tuple[str, bytes]], kind: FrameType) -> list[bytes]:
    out = []
    for direction, data in tap:
        frame = decode_frame(data)
        if direction == "up" and isinstance(frame, Frame) and frame.type is kind:
            out.append(data)
    return out


def test_an_eavesdropper_sees_no_plaintext() -> None:
    pump = simulated_pump()
    tap: list[tuple[str, bytes]] = []
    key = pump.enrol(Role.CLINICIAN)
    clinician = pump.controller(key, pump.channel(tap))
    clinician.call(WritePrescription(PTM, PTM.content_hash))
    clinician.call(Interrogate())
    traffic = b"".join(data for _, data in tap)
    for secret in (b"morphine", PTM.content_hash.encode(), key.public, SERIAL.encode()):
        assert secret not in traffic


def test_a_replayed_bolus_frame_delivers_nothing() -> None:
    # a long-lived session, so the replay meets the replay window, not a session timeout
    pump = simulated_pump(limits=LinkLimits(max_session_age=timedelta(hours=6)))
    tap: list[tuple[str, bytes]] = []
    patient = pump.controller(pump.enrol(Role.PATIENT), pump.channel(tap))
    assert not isinstance(patient.call(PatientBolusRequest()), Rejected)
    assert _boluses(pump) == 1
    bolus_frame = _ups(tap, FrameType.DATA)[-1]
    for _ in range(50):  # 3 h 20 min with the session kept alive: past the lockout
        patient.call(StatusSummary())
        pump.advance(4 * 60)
    assert pump.twin.view().patient_bolus.available  # type: ignore[union-attr]
    assert pump.endpoint.receive(bolus_frame) == []
    assert _boluses(pump) == 1
    assert pump.endpoint.log.of(Kind.FRAME_REPLAY)


def test_a_replayed_bolus_frame_is_refused_even_after_the_session_ended() -> None:
    pump = simulated_pump()
    tap: list[tuple[str, bytes]] = []
    patient = pump.controller(pump.enrol(Role.PATIENT), pump.channel(tap))
    patient.call(PatientBolusRequest())
    bolus_frame = _ups(tap, FrameType.DATA)[-1]
    pump.advance(2 * 3600)  # the session has timed out
    replies = [decode_frame(r) for r in pump.endpoint.receive(bolus_frame)]
    assert [r.type for r in replies if isinstance(r, Frame)] == [FrameType.SESSION_UNKNOWN]
    assert _boluses(pump) == 1
    assert pump.endpoint.log.of(Kind.SESSION_EXPIRED)


def test_a_replayed_handshake_is_answered_from_memory_without_new_work() -> None:
    pump = simulated_pump()
    tap: list[tuple[str, bytes]] = []
    pump.controller(pump.enrol(Role.PATIENT), pump.channel(tap)).connect()
    init = _ups(tap, FrameType.HANDSHAKE_INIT)[-1]
    sessions, work = len(pump.endpoint.sessions), pump.endpoint.stats.meter.dh
    pump.endpoint.receive(init)
    assert len(pump.endpoint.sessions) == sessions
    assert pump.endpoint.stats.meter.dh == work


def test_a_replayed_handshake_is_refused_and_logged_after_a_pump_restart() -> None:
    pump = simulated_pump()
    tap: list[tuple[str, bytes]] = []
    pump.controller(pump.enrol(Role.PATIENT), pump.channel(tap)).connect()
    init = decode_frame(_ups(tap, FrameType.HANDSHAKE_INIT)[-1])
    assert isinstance(init, Frame)
    # The pump restarts (RAM lost: cookie secret, answered handshakes); its persisted
    # state remembers the controller's last handshake timestamp.
    restarted = type(pump.endpoint)(pump.endpoint.state, pump.twin, lambda: pump.twin.now)
    message1 = init.payload[INIT_HEADER:]
    cookie = restarted.guard.issue_cookie(message1[:32], pump.now())
    replay = Frame(FrameType.HANDSHAKE_INIT, 0, init_payload(MODE_SESSION, cookie, message1))
    replies = [decode_frame(r) for r in restarted.receive(encode_frame(replay))]
    assert [r.type for r in replies if isinstance(r, Frame)] == [FrameType.HANDSHAKE_REFUSED]
    assert restarted.log.of(Kind.HANDSHAKE_REPLAY)
    assert not restarted.sessions


def test_forged_frames_are_refused_and_logged() -> None:
    pump = simulated_pump()
    tap: list[tuple[str, bytes]] = []
    clinician = pump.controller(pump.enrol(Role.CLINICIAN), pump.channel(tap))
    clinician.connect()
    session_id = next(iter(pump.endpoint.sessions))
    before = pump.twin_fingerprint()
    for sequence in range(5):
        forged = Frame(FrameType.DATA, sequence, session_id + os.urandom(40))
        assert pump.endpoint.receive(encode_frame(forged)) == []
    assert len(pump.endpoint.log.of(Kind.FRAME_FORGED)) == 5
    assert pump.twin_fingerprint() == before


def test_an_unpaired_controller_is_refused_after_one_dh() -> None:
    pump = simulated_pump()
    stranger = pump.controller(StaticKey.generate())
    with pytest.raises(HandshakeRefused) as refused:
        stranger.call(Stop())
    assert refused.value.refusal.reason is RefusalReason.UNKNOWN_CONTROLLER
    assert pump.endpoint.stats.meter.dh == 1
    assert pump.endpoint.stats.commands_handled == 0
    assert pump.endpoint.log.of(Kind.UNKNOWN_CONTROLLER)


def _forged_message1(victim_public: bytes, attacker: StaticKey, pump: SimulatedPump) -> bytes:
    """Message 1 claiming the victim's (enrolled) identity, built by someone who does not
    hold the victim's private key: the ss step can only use the attacker's own key."""
    pump_static = pump.endpoint.state.static.public
    sym = _Symmetric(b"Noise_IK_25519_ChaChaPoly_SHA256", prologue(SERIAL))
    sym.mix_hash(pump_static)
    ephemeral = StaticKey.generate()
    sym.mix_hash(ephemeral.public)
    meter = WorkMeter()
    sym.mix_key(_dh(ephemeral.private, pump_static, meter))
    claimed = sym.encrypt_and_hash(victim_public)
    sym.mix_key(_dh(attacker.private, pump_static, meter))
    hello = pump.endpoint.registry.encode(HandshakeHello(hello_clock()))
    return ephemeral.public + claimed + sym.encrypt_and_hash(hello)


def test_a_forged_controller_claiming_an_enrolled_identity_is_refused() -> None:
    pump = simulated_pump()
    victim = pump.enrol(Role.CLINICIAN)
    message1 = _forged_message1(victim.public, StaticKey.generate(), pump)
    cookie = pump.endpoint.guard.issue_cookie(message1[:32], pump.now())
    frame = Frame(FrameType.HANDSHAKE_INIT, 0, init_payload(MODE_SESSION, cookie, message1))
    replies = [decode_frame(r) for r in pump.endpoint.receive(encode_frame(frame))]
    assert [r.type for r in replies if isinstance(r, Frame)] == [FrameType.HANDSHAKE_REFUSED]
    assert pump.endpoint.log.of(Kind.HANDSHAKE_FAILED)
    assert not pump.endpoint.sessions


CLINICIAN_ONLY = [
    Interrogate(),
    WritePrescription(PTM, PTM.content_hash),
    RegisterRefill(Volume.from_ml(1), Volume.from_ml(20), "morphine", PTM.concentration),
    ClinicianBolus(Mass.from_mcg(100), Duration.from_minutes(10)),
    Stop(),
    Resume(),
    MinimumRate(),
    SetClock(T0),
    AlarmTest(),
    PostMriCheck(),
    EnrolController(StaticKey.generate().public, Role.CLINICIAN, "mine now"),
    RevokeController("0123456789abcdef"),
    ListControllers(),
    OpenPairing(600),
    TrustAuthority(StaticKey.generate().public, "mine", frozenset({Role.CLINICIAN})),
    RemoveAuthority("0123456789abcdef"),
    ReadSecurityLog(),
]


@pytest.mark.parametrize("command", CLINICIAN_ONLY, ids=lambda c: type(c).__name__)
def test_a_patient_controller_cannot_send_clinician_commands(command: object) -> None:
    pump = simulated_pump()
    patient = pump.controller(pump.enrol(Role.PATIENT))
    patient.connect()
    before = pump.twin_fingerprint()
    response = patient.call(command)  # type: ignore[arg-type]
    assert isinstance(response, Rejected)
    assert response.reason is Rejection.NOT_PERMITTED
    assert pump.twin_fingerprint() == before
    assert pump.endpoint.log.of(Kind.ROLE_VIOLATION)
    assert len(pump.endpoint.state.controllers) == 1


def test_pairing_outside_the_window_is_refused_before_any_work() -> None:
    pump = simulated_pump(open_pairing=False)
    key = StaticKey.generate()
    newcomer = pump.controller(key, credential=credential(key))
    with pytest.raises(HandshakeRefused) as refused:
        newcomer.pair(pump.endpoint.state.device_secret, "late")
    assert refused.value.refusal.reason is RefusalReason.PAIRING_CLOSED
    assert pump.endpoint.stats.meter.dh == 0
    assert pump.endpoint.log.of(Kind.PAIRING_CLOSED)
    assert not pump.endpoint.state.controllers


def test_wrong_device_secrets_lock_pairing_even_for_the_right_secret() -> None:
    pump = simulated_pump(open_pairing=True)
    pump.endpoint.open_pairing(timedelta(hours=2))
    key = StaticKey.generate()
    guesser = pump.controller(key, credential=credential(key))
    for _ in range(5):
        with pytest.raises(HandshakeRefused) as refused:
            guesser.pair(DeviceSecret.generate(), "guess")
        assert refused.value.refusal.reason is RefusalReason.WRONG_SECRET
    with pytest.raises(HandshakeRefused) as locked:
        guesser.pair(pump.endpoint.state.device_secret, "now right")
    assert locked.value.refusal.reason is RefusalReason.PAIRING_LOCKED
    assert locked.value.refusal.retry_after_s == 15 * 60
    assert len(pump.endpoint.log.of(Kind.PAIRING_WRONG_SECRET)) == 5
    assert not pump.endpoint.state.controllers
    pump.advance(15 * 60)
    welcome = guesser.pair(pump.endpoint.state.device_secret, "after lockout")
    assert welcome.role is Role.CLINICIAN


def test_a_revoked_controller_is_cut_off_at_once() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    lost = pump.enrol(Role.PATIENT, "lost controller")
    patient = pump.controller(lost)
    assert not isinstance(patient.call(PatientBolusRequest()), Rejected)
    assert not isinstance(clinician.call(RevokeController(lost.id)), Rejected)
    with pytest.raises(HandshakeRefused) as refused:
        patient.call(PatientBolusRequest())
    assert refused.value.refusal.reason is RefusalReason.REVOKED
    assert pump.endpoint.log.of(Kind.REVOKED)
    assert pump.endpoint.log.of(Kind.REVOKED_CONTROLLER)
    assert _boluses(pump) == 1


def test_a_programmer_cannot_revoke_itself() -> None:
    pump = simulated_pump()
    key = pump.enrol(Role.CLINICIAN)
    response = pump.controller(key).call(RevokeController(key.id))
    assert isinstance(response, Rejected)
    assert key.id in pump.endpoint.state.controllers


def test_a_request_id_reused_for_a_different_command_is_refused() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    clinician.call(AlarmTest(), "same-id")
    response = clinician.call(Stop(), "same-id")
    assert isinstance(response, Rejected)
    assert response.reason is Rejection.INVALID_ARGUMENT
    assert pump.endpoint.log.of(Kind.REQUEST_ID_REUSED)
    assert pump.twin.view().therapy.state.value == "running"


def _init(pump: SimulatedPump, ephemeral: bytes, cookie: bytes, mode: int = MODE_SESSION) -> bytes:
    body = ephemeral + os.urandom(48 + 16 + 8)
    return encode_frame(Frame(FrameType.HANDSHAKE_INIT, 0, init_payload(mode, cookie, body)))


def test_a_blind_handshake_flood_costs_no_diffie_hellman() -> None:
    pump = simulated_pump(open_pairing=True)
    for _ in range(1000):
        replies = pump.endpoint.receive(_init(pump, os.urandom(32), bytes(COOKIE_LEN)))
        assert decode_frame(replies[0]).type is FrameType.COOKIE  # type: ignore[union-attr]
    assert pump.endpoint.stats.meter.dh == 0
    assert pump.endpoint.stats.cookies_issued == 1000


def test_a_handshake_flood_with_valid_cookies_costs_bounded_diffie_hellman() -> None:
    pump = simulated_pump()
    limits = pump.endpoint.limits
    sent = 0
    for _second in range(600):  # ten minutes at ten handshakes a second
        for _ in range(10):
            ephemeral = StaticKey.generate().public
            cookie = pump.endpoint.guard.issue_cookie(ephemeral, pump.now())
            pump.endpoint.receive(_init(pump, ephemeral, cookie))
            sent += 1
        pump.advance(1)
    budget = limits.handshake_burst + limits.handshake_rate * 600
    # a handshake that fails costs the pump one DH (the static key it learns is not enrolled)
    assert pump.endpoint.stats.meter.dh <= budget
    assert sent == 6000
    assert pump.endpoint.log.counts[Kind.HANDSHAKE_RATE_LIMITED] >= sent - budget - 1


def test_an_enrolment_flood_outside_the_window_costs_nothing() -> None:
    pump = simulated_pump(open_pairing=False)
    for _ in range(200):
        ephemeral = StaticKey.generate().public
        cookie = pump.endpoint.guard.issue_cookie(ephemeral, pump.now())
        pump.endpoint.receive(_init(pump, ephemeral, cookie, MODE_ENROL))
    assert pump.endpoint.stats.meter.dh == 0
    assert pump.endpoint.log.counts[Kind.PAIRING_CLOSED] == 200


def test_a_malformed_datagram_is_logged_and_ignored() -> None:
    pump = simulated_pump()
    assert pump.endpoint.receive(b"\x00garbage") == []
    assert pump.endpoint.log.of(Kind.MALFORMED_FRAME)


def test_an_idle_session_expires_and_the_controller_handshakes_again() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    clinician.call(AlarmTest())
    pump.advance(6 * 60)
    assert not isinstance(clinician.call(AlarmTest()), Rejected)
    assert clinician.handshakes == 2
    assert pump.endpoint.log.of(Kind.SESSION_EXPIRED)
    assert len(next(iter(pump.endpoint.sessions))) == SESSION_ID_LEN
