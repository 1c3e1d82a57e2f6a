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
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "DEVICE_SECRET_BITS",
    "SCRYPT_N",
    "DeviceSecret",
    "Entropy",
    "StaticKey",
    "key_id",
    "key_is_encrypted",
    "load_private_key",
    "parse_public_key",
    "protect_private_key",
]

Entropy = Callable[[int], bytes]
"""Where random bytes come from: `os.urandom` unless a test injects its own."""

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
_DECODE = {c: i for i, c in enumerate(_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
DEVICE_SECRET_BITS = 120
_DATA_CHARS = DEVICE_SECRET_BITS // 5


SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
"""scrypt cost for a passphrase protecting a private key: 32 MiB of memory and about a
tenth of a second per attempt, so guessing a stolen file's passphrase is slow."""
_PROTECTED_FORMAT = "thecal.protected-key/1"


def _stretch(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase).hex().encode()


def protect_private_key(private: PrivateKeyTypes, passphrase: bytes | None) -> bytes:
    """`private` for a file at rest. With a passphrase: the passphrase is stretched with
    scrypt (`SCRYPT_N`, `SCRYPT_R`, `SCRYPT_P`, random salt) and the result encrypts the
    key as PKCS#8 (`cryptography`'s BestAvailableEncryption: PBES2, AES-256-CBC); the
    file is JSON with the scrypt parameters, salt and PEM. Without (None): plain
    PKCS#8 PEM (throw-away keys only)."""
    if passphrase is None:
        return private.private_bytes(
            Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    if not passphrase:
        raise ValueError("passphrase: an empty passphrase protects nothing")
    salt = os.urandom(16)
    pem = private.private_bytes(
        Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(
            _stretch(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        ),
    )
    envelope = {
        "format": _PROTECTED_FORMAT,
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": salt.hex(),
        "pem": pem.decode("ascii"),
    }
    return (json.dumps(envelope, indent=1) + "\n").encode()


def key_is_encrypted(data: bytes) -> bool:
    """Whether a stored private key needs a passphrase."""
    return data.lstrip().startswith(b"{")


def load_private_key(data: bytes, passphrase: bytes | None, what: str) -> PrivateKeyTypes:
    """A private key from what `protect_private_key` wrote; `ValueError` naming `what`
    for a missing or wrong passphrase, or a file that is not a key."""
    if not key_is_encrypted(data):
        try:
            return serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError):
            raise ValueError(f"{what}: not a private key file") from None
    if passphrase is None:
        raise ValueError(f"{what}: protected by a passphrase, and none was given")
    try:
        envelope = json.loads(data)
        if envelope.get("format") != _PROTECTED_FORMAT or envelope.get("kdf") != "scrypt":
            raise ValueError
        n, r, p = int(envelope["n"]), int(envelope["r"]), int(envelope["p"])
        # bounded (at most 64 MiB, 2 passes), so a doctored file cannot make loading take
        # gigabytes or minutes
        if not (2 <= n <= 2**16 and n & (n - 1) == 0 and 1 <= r <= 8 and 1 <= p <= 2):
            raise ValueError
        salt = bytes.fromhex(envelope["salt"])
        pem = str(envelope["pem"]).encode("ascii")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError):
        raise ValueError(f"{what}: not a protected key file") from None
    try:
        return serialization.load_pem_private_key(pem, _stretch(passphrase, salt, n, r, p))
    except (ValueError, TypeError):
        raise ValueError(f"{what}: wrong passphrase") from None


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

    def to_pem(self, passphrase: bytes | None) -> bytes:
        """PKCS#8 PEM, encrypted under `passphrase` unless it is None."""
        return protect_private_key(self.private, passphrase)

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None) -> StaticKey:
        """`ValueError` for a wrong passphrase or a file that is not an X25519 key."""
        private = load_private_key(data, passphrase, "key file")
        if not isinstance(private, X25519PrivateKey):
            raise ValueError("key file: not an X25519 key")
        return cls(private.private_bytes(Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption()))  # fmt: skip

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
