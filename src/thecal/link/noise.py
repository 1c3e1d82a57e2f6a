"""A Noise-style handshake on `cryptography` primitives (X25519, HKDF-SHA256,
ChaCha20-Poly1305), written out step by step rather than through a generic pattern
interpreter so each step can be read against `docs/security.md`.

Two patterns, both from the Noise Protocol Framework (revision 34):

* ``Noise_IK_25519_ChaChaPoly_SHA256`` — every session of an enrolled programmer or
  patient controller. The initiator already knows the pump's static key; its own
  static key travels encrypted in message 1, so an eavesdropper cannot tell which
  controller is talking. Two messages; mutual authentication; forward secrecy from
  the ephemeral keys::

      <- s                      (pre-message: pump static key, known from pairing)
      -> e, es, s, ss           (message 1)
      <- e, ee, se              (message 2)

* ``Noise_IKpsk1_25519_ChaChaPoly_SHA256`` — pairing with the device secret: the same,
  with the secret-derived key mixed in at the end of message 1, so only someone holding
  the implant card can produce a message 1 the pump accepts.

The responder's work is split so the pump can stop early: `Responder.read_identity`
does one DH (es) and reveals the initiator's static key; only if that key is allowed
does `Responder.finish_read` do the second (ss). Every DH is counted on a `WorkMeter`,
which is how the tests show the cost of a handshake flood.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from thecal.link.keys import Entropy, StaticKey

__all__ = [
    "DH_LEN",
    "MESSAGE1_OVERHEAD",
    "MESSAGE2_OVERHEAD",
    "PROTOCOL_ENROL",
    "PROTOCOL_SESSION",
    "HandshakeFailure",
    "Initiator",
    "Responder",
    "TransportKeys",
    "WorkMeter",
    "aead_nonce",
]

PROTOCOL_SESSION = b"Noise_IK_25519_ChaChaPoly_SHA256"
PROTOCOL_ENROL = b"Noise_IKpsk1_25519_ChaChaPoly_SHA256"
DH_LEN = 32
HASH_LEN = 32
TAG_LEN = 16
MESSAGE1_OVERHEAD = DH_LEN + (DH_LEN + TAG_LEN) + TAG_LEN  # e, enc(s), payload tag
MESSAGE2_OVERHEAD = DH_LEN + TAG_LEN  # e, payload tag
MAX_NONCE = 2**64 - 1  # reserved by Noise; never used


class HandshakeFailure(Exception):
    """The handshake message is not authentic or not well formed."""


@dataclass
class WorkMeter:
    """Counts the expensive operations a party performs (X25519 DH and key generation)."""

    dh: int = 0
    keygen: int = 0


def aead_nonce(counter: int) -> bytes:
    """The 96-bit ChaCha20-Poly1305 nonce for a 64-bit counter (Noise: 4 zero bytes, then
    the counter little-endian)."""
    return b"\x00\x00\x00\x00" + counter.to_bytes(8, "little")


def _public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _dh(private: X25519PrivateKey, public: bytes, meter: WorkMeter) -> bytes:
    meter.dh += 1
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:  # low-order point: the result would be all zeros
        raise HandshakeFailure("invalid public key") from None
    return shared


def _hkdf(chaining_key: bytes, input_key: bytes, outputs: int) -> list[bytes]:
    # Noise's HKDF is RFC 5869 HKDF with the chaining key as salt and empty info.
    raw = HKDF(
        algorithm=hashes.SHA256(), length=HASH_LEN * outputs, salt=chaining_key, info=b""
    ).derive(input_key)
    return [raw[i * HASH_LEN : (i + 1) * HASH_LEN] for i in range(outputs)]


def _hash(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


class _Symmetric:
    """Noise SymmetricState: chaining key, handshake hash and the current cipher key."""

    def __init__(self, protocol: bytes, prologue: bytes) -> None:
        self.h = protocol.ljust(HASH_LEN, b"\x00") if len(protocol) <= HASH_LEN else _hash(protocol)
        self.ck = self.h
        self.k: bytes | None = None
        self.n = 0
        self.mix_hash(prologue)

    def mix_hash(self, data: bytes) -> None:
        self.h = _hash(self.h + data)

    def mix_key(self, input_key: bytes) -> None:
        self.ck, self.k = _hkdf(self.ck, input_key, 2)
        self.n = 0

    def mix_key_and_hash(self, input_key: bytes) -> None:
        self.ck, temp_h, self.k = _hkdf(self.ck, input_key, 3)
        self.mix_hash(temp_h)
        self.n = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        if self.k is None:
            ciphertext = plaintext
        else:
            ciphertext = ChaCha20Poly1305(self.k).encrypt(aead_nonce(self.n), plaintext, self.h)
            self.n += 1
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        if self.k is None:
            plaintext = ciphertext
        else:
            try:
                plaintext = ChaCha20Poly1305(self.k).decrypt(aead_nonce(self.n), ciphertext, self.h)
            except InvalidTag:
                raise HandshakeFailure("message does not authenticate") from None
            self.n += 1
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        first, second = _hkdf(self.ck, b"", 2)
        return first, second


@dataclass(frozen=True)
class TransportKeys:
    """The result of a handshake: one key per direction and the handshake hash (channel
    binding; logged by the pump so a session can be tied to its audit entries)."""

    send: bytes = field(repr=False)
    receive: bytes = field(repr=False)
    handshake_hash: bytes


class Initiator:
    """The programmer or patient controller side of IK / IKpsk1."""

    def __init__(
        self,
        static: StaticKey,
        responder_static: bytes,
        prologue: bytes,
        psk: bytes | None = None,
        entropy: Entropy = os.urandom,
        meter: WorkMeter | None = None,
    ) -> None:
        self._static = static.private
        self._static_public = static.public
        self._rs = responder_static
        self._psk = psk
        self._sym = _Symmetric(PROTOCOL_ENROL if psk else PROTOCOL_SESSION, prologue)
        self._sym.mix_hash(responder_static)  # pre-message <- s
        self.meter = meter or WorkMeter()
        self.meter.keygen += 1
        self._e = X25519PrivateKey.from_private_bytes(entropy(32))
        self._message1: bytes | None = None

    @property
    def ephemeral_public(self) -> bytes:
        return _public_bytes(self._e)

    def write_message_1(self, payload: bytes) -> bytes:
        """-> e, es, s, ss [, psk]: the same bytes however often it is asked (a retry
        after a cookie or a lost frame re-sends message 1, never a new one)."""
        if self._message1 is not None:
            return self._message1
        sym = self._sym
        e_pub = self.ephemeral_public
        sym.mix_hash(e_pub)
        if self._psk:
            sym.mix_key(e_pub)  # psk modifier: e also feeds the key
        sym.mix_key(_dh(self._e, self._rs, self.meter))  # es
        encrypted_static = sym.encrypt_and_hash(self._static_public)  # s
        sym.mix_key(_dh(self._static, self._rs, self.meter))  # ss
        if self._psk:
            sym.mix_key_and_hash(self._psk)  # psk
        self._message1 = e_pub + encrypted_static + sym.encrypt_and_hash(payload)
        return self._message1

    def read_message_2(self, message: bytes) -> tuple[bytes, TransportKeys]:
        """<- e, ee, se: returns the responder's payload and the transport keys."""
        if self._message1 is None:
            raise RuntimeError("message 1 has not been written")
        if len(message) < MESSAGE2_OVERHEAD:
            raise HandshakeFailure("message 2 too short")
        sym = _copy(self._sym)  # a forged message 2 must not spoil a later genuine one
        re = message[:DH_LEN]
        sym.mix_hash(re)
        if self._psk:
            sym.mix_key(re)
        sym.mix_key(_dh(self._e, re, self.meter))  # ee
        sym.mix_key(_dh(self._static, re, self.meter))  # se
        payload = sym.decrypt_and_hash(message[DH_LEN:])
        send, receive = sym.split()
        return payload, TransportKeys(send, receive, sym.h)


def _copy(sym: _Symmetric) -> _Symmetric:
    clone = object.__new__(_Symmetric)
    clone.h, clone.ck, clone.k, clone.n = sym.h, sym.ck, sym.k, sym.n
    return clone


class Responder:
    """The pump side of IK / IKpsk1, in the order that lets it refuse early."""

    def __init__(
        self,
        static: StaticKey,
        prologue: bytes,
        enrol: bool = False,
        entropy: Entropy = os.urandom,
        meter: WorkMeter | None = None,
    ) -> None:
        self._static_key = static
        self._static = static.private
        self._enrol = enrol
        self._entropy = entropy
        self.meter = meter or WorkMeter()
        self._sym = _Symmetric(PROTOCOL_ENROL if enrol else PROTOCOL_SESSION, prologue)
        self._sym.mix_hash(static.public)  # pre-message <- s
        self._re: bytes | None = None
        self._rs: bytes | None = None
        self._rest: bytes = b""
        self._done_reading = False

    def read_identity(self, message: bytes) -> bytes:
        """First half of message 1 (e, es, s): one DH; returns the initiator's static key."""
        if len(message) < MESSAGE1_OVERHEAD:
            raise HandshakeFailure("message 1 too short")
        sym = self._sym
        self._re = message[:DH_LEN]
        sym.mix_hash(self._re)
        if self._enrol:
            sym.mix_key(self._re)
        sym.mix_key(_dh(self._static, self._re, self.meter))  # es
        self._rs = sym.decrypt_and_hash(message[DH_LEN : DH_LEN + DH_LEN + TAG_LEN])  # s
        self._rest = message[DH_LEN + DH_LEN + TAG_LEN :]
        return self._rs

    def finish_read(self, psk: bytes | None = None) -> bytes:
        """Second half of message 1 (ss [, psk], payload): one DH; returns the payload."""
        if self._rs is None:
            raise RuntimeError("read_identity first")
        if self._enrol and psk is None:
            raise RuntimeError("the pairing pattern needs the device-secret key")
        sym = self._sym
        sym.mix_key(_dh(self._static, self._rs, self.meter))  # ss
        if self._enrol and psk is not None:
            sym.mix_key_and_hash(psk)
        payload = sym.decrypt_and_hash(self._rest)
        self._done_reading = True
        return payload

    def write_message_2(self, payload: bytes) -> tuple[bytes, TransportKeys]:
        """<- e, ee, se: returns the message and the transport keys (send = pump → controller)."""
        if not self._done_reading or self._re is None or self._rs is None:
            raise RuntimeError("message 1 has not been read")
        sym = self._sym
        self.meter.keygen += 1
        e = X25519PrivateKey.from_private_bytes(self._entropy(32))
        e_pub = _public_bytes(e)
        sym.mix_hash(e_pub)
        if self._enrol:
            sym.mix_key(e_pub)
        sym.mix_key(_dh(e, self._re, self.meter))  # ee
        sym.mix_key(_dh(e, self._rs, self.meter))  # se
        message = e_pub + sym.encrypt_and_hash(payload)
        initiator_to_responder, responder_to_initiator = sym.split()
        return message, TransportKeys(responder_to_initiator, initiator_to_responder, sym.h)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
