"""The Noise-style handshake: interoperable with an independent implementation, and
refusing anything not genuine."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from thecal.link.keys import StaticKey
from thecal.link.noise import HandshakeFailure, Initiator, Responder, WorkMeter, aead_nonce


def det(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


PUMP, PROG = StaticKey(det("pump")), StaticKey(det("prog"))
PROLOGUE = b"thecal-link/1/SN1"

# Produced once by noiseprotocol 0.3.1 (an independent Python implementation of Noise,
# not a dependency of thecal) from the same keys, ephemerals, prologue and payloads
# (b"hello", b"welcome"); our implementation must agree byte for byte.
VECTORS = {
    None: (
        "e0e8c8ab7d0a0f98f8ecf394d51d1a9f443b6a7299949ba4758996b9fd9c105c4ba537f0ba66f7775b9be8"
        "76e52366e501aeb616b69e9c00f173bf220d3b9fb914ed4b8e775196ef49372eb893c7fef3b85525713166"
        "04a36e3ca48ee013fec58819cad920",
        "2de1046fdb204e574e84e22d2a8303623035f57b916c22eeff6bd7b13fdaed0d06cf2e25faede6b11a442d"
        "eb6a965e14266a9ebe93d218",
        "2ee7112b25b7a892e2e7fb1a0b3dd4deb6478e5c84018d36f9fde75f4057afd2",
    ),
    "psk": (
        "e0e8c8ab7d0a0f98f8ecf394d51d1a9f443b6a7299949ba4758996b9fd9c105c8c06c1a353c103c0814977"
        "e0afae97996ff2b8c779d8cf382a190cacc9ebc4a7d865987e708285af4519e183a761ec34665fb178c964"
        "096453dfa9f15130643d6a1e183aa3",
        "2de1046fdb204e574e84e22d2a8303623035f57b916c22eeff6bd7b13fdaed0d9da58d33341a0ef53dd4b0"
        "fc27b80793a4e03aff088c7d",
        "007b4a14c29223a80489087da3d5443ce342abec70e47df2e1744411f59371b2",
    ),
}


def _pair(psk: bytes | None = None, responder_psk: bytes | None = None):  # type: ignore[no-untyped-def]
    initiator = Initiator(PROG, PUMP.public, PROLOGUE, psk, entropy=lambda n: det("ie"))
    responder = Responder(PUMP, PROLOGUE, enrol=psk is not None, entropy=lambda n: det("re"))
    return initiator, responder


@pytest.mark.parametrize("variant", [None, "psk"], ids=["IK", "IKpsk1"])
def test_handshake_matches_an_independent_noise_implementation(variant: str | None) -> None:
    psk = det("psk") if variant else None
    initiator, responder = _pair(psk)
    message1 = initiator.write_message_1(b"hello")
    assert message1.hex() == VECTORS[variant][0]
    assert responder.read_identity(message1) == PROG.public
    assert responder.finish_read(psk) == b"hello"
    message2, pump_keys = responder.write_message_2(b"welcome")
    assert message2.hex() == VECTORS[variant][1]
    payload, prog_keys = initiator.read_message_2(message2)
    assert payload == b"welcome"
    assert pump_keys.handshake_hash.hex() == prog_keys.handshake_hash.hex() == VECTORS[variant][2]
    assert prog_keys.send == pump_keys.receive and prog_keys.receive == pump_keys.send


def test_a_wrong_device_secret_fails_at_the_pump() -> None:
    initiator, responder = _pair(det("guess"))
    message1 = initiator.write_message_1(b"hello")
    responder.read_identity(message1)
    with pytest.raises(HandshakeFailure):
        responder.finish_read(det("psk"))


@pytest.mark.parametrize("position", [0, 40, 90, -1])
def test_any_tampered_byte_of_message_1_is_detected(position: int) -> None:
    initiator, responder = _pair()
    message1 = bytearray(initiator.write_message_1(b"hello"))
    message1[position] ^= 0x01
    with pytest.raises(HandshakeFailure):
        responder.read_identity(bytes(message1))
        responder.finish_read()


def test_a_forged_message_2_is_refused_and_the_genuine_one_still_works() -> None:
    initiator, responder = _pair()
    message1 = initiator.write_message_1(b"hello")
    responder.read_identity(message1)
    responder.finish_read()
    message2, _ = responder.write_message_2(b"welcome")
    forged = message2[:-1] + bytes([message2[-1] ^ 1])
    with pytest.raises(HandshakeFailure):
        initiator.read_message_2(forged)
    assert initiator.read_message_2(message2)[0] == b"welcome"


def test_an_impostor_pump_without_the_real_static_key_cannot_answer() -> None:
    initiator = Initiator(PROG, PUMP.public, PROLOGUE, entropy=lambda n: det("ie"))
    impostor = Responder(StaticKey(det("impostor")), PROLOGUE)
    with pytest.raises(HandshakeFailure):
        impostor.read_identity(initiator.write_message_1(b"hello"))


def test_a_handshake_for_another_pump_serial_fails() -> None:
    initiator = Initiator(PROG, PUMP.public, b"thecal-link/1/SN2", entropy=lambda n: det("ie"))
    responder = Responder(PUMP, PROLOGUE)
    with pytest.raises(HandshakeFailure):
        responder.read_identity(initiator.write_message_1(b"hello"))


def test_recorded_traffic_stays_secret_even_if_both_static_keys_are_stolen_later() -> None:
    initiator, responder = _pair()
    message1 = initiator.write_message_1(b"hello")
    responder.read_identity(message1)
    responder.finish_read()
    _, pump_keys = responder.write_message_2(b"welcome")
    recorded = ChaCha20Poly1305(pump_keys.send).encrypt(aead_nonce(0), b"prescription", b"")
    # The thief has both static private keys and the transcript, but not the ephemeral
    # private keys (erased after the handshake): replaying message 1 into a pump built
    # from the stolen key yields a different ephemeral-ephemeral secret and other keys.
    thief = Responder(PUMP, PROLOGUE, entropy=lambda n: det("thief"))
    thief.read_identity(message1)
    thief.finish_read()
    _, thief_keys = thief.write_message_2(b"welcome")
    assert thief_keys.send != pump_keys.send
    with pytest.raises(InvalidTag):
        ChaCha20Poly1305(thief_keys.send).decrypt(aead_nonce(0), recorded, b"")


def test_every_handshake_yields_fresh_session_keys() -> None:
    keys = set()
    for _ in range(3):
        initiator = Initiator(PROG, PUMP.public, PROLOGUE)
        responder = Responder(PUMP, PROLOGUE)
        responder.read_identity(initiator.write_message_1(b""))
        responder.finish_read()
        message2, pump_keys = responder.write_message_2(b"")
        initiator.read_message_2(message2)
        keys.add(pump_keys.send)
    assert len(keys) == 3


def test_the_pump_spends_one_dh_to_learn_who_is_calling_and_four_in_all() -> None:
    meter = WorkMeter()
    initiator = Initiator(PROG, PUMP.public, PROLOGUE)
    responder = Responder(PUMP, PROLOGUE, meter=meter)
    responder.read_identity(initiator.write_message_1(b""))
    assert meter.dh == 1
    responder.finish_read()
    responder.write_message_2(b"")
    assert (meter.dh, meter.keygen) == (4, 1)
