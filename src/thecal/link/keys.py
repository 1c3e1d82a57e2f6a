"""Keys and secrets: static X25519 identities, key fingerprints, and the device secret
printed on the implant card.

The device secret is 120 random bits written as 24 Crockford base-32 characters plus
one check character, in five groups of five (``7KQ2M-...``). It is high-entropy on
purpose: the pairing handshake mixes it in as a pre-shared key, which (unlike a PAKE)
an impostor who captures a handshake could attack offline; 2**120 guesses is out of
reach, a 6-digit PIN would not be. The check character catches a typo locally, so a
mistyped card does not spend one of the pump's bounded pairing attempts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "DEVICE_SECRET_BITS",
    "DeviceSecret",
    "Entropy",
    "StaticKey",
    "key_id",
    "parse_public_key",
]

Entropy = Callable[[int], bytes]
"""Where random bytes come from: `os.urandom` unless a test injects its own."""

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
_DECODE = {c: i for i, c in enumerate(_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
DEVICE_SECRET_BITS = 120
_DATA_CHARS = DEVICE_SECRET_BITS // 5


def key_id(public_key: bytes) -> str:
    """Short fingerprint of a static public key: 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def parse_public_key(text: str, what: str = "public key") -> bytes:
    """A 32-byte X25519 public key from 64 hex digits; `ValueError` says what is accepted."""
    cleaned = text.strip().lower()
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what}: {text!r} is not a key; accepted: 64 hexadecimal digits")
    return raw


@dataclass(frozen=True)
class StaticKey:
    """A long-term X25519 key pair (a pump's, a programmer's or a patient controller's)."""

    private_bytes: bytes
    _public: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.private_bytes) != 32:
            raise ValueError("an X25519 private key is 32 bytes")
        # Deriving the public key is a scalar multiplication: do it once.
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "_public", public)

    @classmethod
    def generate(cls, entropy: Entropy = os.urandom) -> StaticKey:
        return cls(entropy(32))

    @classmethod
    def from_hex(cls, text: str) -> StaticKey:
        return cls(bytes.fromhex(text))

    def to_hex(self) -> str:
        return self.private_bytes.hex()

    @property
    def private(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self.private_bytes)

    @property
    def public(self) -> bytes:
        return self._public

    @property
    def id(self) -> str:
        return key_id(self.public)

    def __repr__(self) -> str:  # never print a private key by accident
        return f"StaticKey(id={self.id})"


def public_key_object(public: bytes) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(public)


def _check_char(data: str) -> str:
    return _ALPHABET[hashlib.sha256(data.encode()).digest()[0] % 32]


@dataclass(frozen=True)
class DeviceSecret:
    """The out-of-band pairing secret of one pump, as printed on its implant card."""

    data: str  # the 24 data characters, upper case, canonical alphabet

    def __post_init__(self) -> None:
        if len(self.data) != _DATA_CHARS or any(c not in _ALPHABET for c in self.data):
            raise ValueError("a device secret has 24 base-32 characters")

    @classmethod
    def generate(cls, entropy: Entropy = os.urandom) -> DeviceSecret:
        value = int.from_bytes(entropy(DEVICE_SECRET_BITS // 8), "big")
        chars = []
        for _ in range(_DATA_CHARS):
            value, digit = divmod(value, 32)
            chars.append(_ALPHABET[digit])
        return cls("".join(chars))

    @classmethod
    def parse(cls, text: str) -> DeviceSecret:
        """Parse the card text: case, spaces and hyphens do not matter; O reads as 0 and
        I/L as 1. `ValueError` if it is not a secret or its check character is wrong."""
        accepted = "25 characters from the implant card, e.g. 7KQ2M-9XW4T-BC3DF-R8N6H-JP5VA"
        cleaned = "".join(c for c in text.upper() if c not in " -\t")
        if len(cleaned) != _DATA_CHARS + 1 or any(c not in _DECODE for c in cleaned):
            raise ValueError(
                f"device secret: {text!r} is not a device secret; accepted: {accepted}"
            )
        canonical = "".join(_ALPHABET[_DECODE[c]] for c in cleaned)
        data, check = canonical[:-1], canonical[-1]
        if _check_char(data) != check:
            raise ValueError(
                "device secret: the check character does not match; a character was mistyped"
            )
        return cls(data)

    def card_text(self) -> str:
        """The secret as printed: five groups of five characters."""
        full = self.data + _check_char(self.data)
        return "-".join(full[i : i + 5] for i in range(0, len(full), 5))

    def psk(self, serial: str) -> bytes:
        """The 32-byte pre-shared key the pairing handshake mixes in (bound to the serial)."""
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"thecal device secret v1",
            info=serial.encode("utf-8"),
        ).derive(self.data.encode("ascii"))

    def __repr__(self) -> str:
        return "DeviceSecret(<hidden>)"
