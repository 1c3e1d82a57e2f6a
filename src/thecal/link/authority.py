"""Clinician authority: the key a pump trusts, and the credentials it signs.

The implant card's device secret proves that someone held the patient's card; the
patient holds that card too, so it can never prove that someone is a clinician. That
proof comes from an **authority**: an Ed25519 key kept by the clinic (or the device
maker, for emergency access) whose public half is installed in the pump at manufacture
or implant (`TrustedAuthority`). The authority signs a **credential** for each
programmer: the programmer's static X25519 public key, the role it may take, a label
and a validity period. A programmer sends its credential inside the encrypted first
handshake message; the pump checks the signature against the authorities it trusts,
the validity against its own clock, and that the credential names the very key that
the handshake proved (`check_credential`).

Roles a credential can carry: `Role.CLINICIAN` (full programming, once enrolled with
this pump) and `Role.EMERGENCY` (stop, minimum rate, interrogate: an emergency-room
programmer that is not the patient's clinic's). An authority is trusted for a set of
roles, so a key installed only for emergency access can never make anyone a clinician.

Private keys never leave their owner unprotected: `AuthorityKey.to_pem` encrypts with
a passphrase (`protect_private_key`), as the programmer's own key is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from thecal.link.keys import key_id, load_private_key, protect_private_key
from thecal.link.storage import atomic_write_bytes, atomic_write_json, private_directory, read_json
from thecal.pump.commands import Role

__all__ = [
    "CREDENTIAL_ROLES",
    "AuthorityKey",
    "Credential",
    "CredentialProblem",
    "TrustedAuthority",
    "authority_public",
    "check_credential",
    "issue_credential",
    "load_authority",
    "parse_authority_key",
    "save_authority",
]

CREDENTIAL_ROLES = frozenset({Role.CLINICIAN, Role.EMERGENCY})
"""The roles an authority can grant (a patient controller needs no credential)."""
_CONTEXT = b"thecal-credential/1"
_LABEL_MAX = 64
SIGNATURE_LEN = 64


def parse_authority_key(text: str, what: str = "authority key") -> bytes:
    """A 32-byte Ed25519 public key from 64 hex digits; `ValueError` says what is accepted."""
    cleaned = text.strip().lower()
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what}: {text!r} is not a key; accepted: 64 hexadecimal digits")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ValueError(f"{what}: not an Ed25519 public key") from None
    return raw


class AuthorityKey:
    """An authority's Ed25519 key pair (the clinic's, or the maker's emergency key)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> AuthorityKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def id(self) -> str:
        return key_id(self.public)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def to_pem(self, passphrase: bytes | None) -> bytes:
        """PKCS#8 PEM, encrypted with `passphrase` (None only for throw-away keys)."""
        return protect_private_key(self._private, passphrase)

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None) -> AuthorityKey:
        """`ValueError` for a wrong passphrase or a file that is not an Ed25519 key."""
        private = load_private_key(data, passphrase, "authority key")
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("authority key: the file does not hold an Ed25519 key")
        return cls(private)

    def __repr__(self) -> str:
        return f"AuthorityKey(id={self.id})"


AUTHORITY_KEY_FILE = "authority.key"
AUTHORITY_FILE = "authority.json"


def save_authority(
    directory: Path, key: AuthorityKey, label: str, passphrase: bytes | None
) -> None:
    """Keep a new authority in `directory` (owner-only): ``authority.key`` (encrypted
    under `passphrase`) and ``authority.json`` (public key, key id, label). `ValueError`
    if the directory already holds one: an authority is never replaced by accident."""
    private_directory(directory)
    if (directory / AUTHORITY_KEY_FILE).exists():
        raise ValueError(f"{directory} already holds an authority; choose another directory")
    atomic_write_bytes(directory / AUTHORITY_KEY_FILE, key.to_pem(passphrase))
    atomic_write_json(
        directory / AUTHORITY_FILE, {"public_key": key.public.hex(), "key_id": key.id,
                                     "label": label},
    )  # fmt: skip


def authority_public(directory: Path) -> dict[str, str]:
    """The public half of the authority kept in `directory` (no passphrase needed)."""
    path = directory / AUTHORITY_FILE
    if not path.exists():
        raise ValueError(f"{directory} holds no authority (create one: thecal authority create)")
    data = read_json(path)
    return {"public_key": str(data["public_key"]), "key_id": str(data["key_id"]),
            "label": str(data.get("label", ""))}  # fmt: skip


def load_authority(directory: Path, passphrase: bytes | None) -> AuthorityKey:
    """The authority kept in `directory`; `ValueError` if there is none or the
    passphrase is wrong."""
    path = directory / AUTHORITY_KEY_FILE
    if not path.exists():
        raise ValueError(f"{directory} holds no authority (create one: thecal authority create)")
    return AuthorityKey.from_pem(path.read_bytes(), passphrase)


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


@dataclass(frozen=True)
class Credential:
    """An authority's signed statement: the programmer with static key `subject` may
    act as `role` from `not_before` until `not_after` (pump-local time, as the pump's
    clock reads it)."""

    subject: bytes
    role: Role
    label: str
    not_before: datetime
    not_after: datetime
    authority: str
    """Key id of the signing authority."""
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.subject) != 32:
            raise ValueError("credential: the subject is a 32-byte public key")
        if self.role not in CREDENTIAL_ROLES:
            raise ValueError("credential: accepted roles are clinician and emergency")
        if len(self.label) > _LABEL_MAX:
            raise ValueError(f"credential: the label has at most {_LABEL_MAX} characters")
        if not self.not_before < self.not_after:
            raise ValueError("credential: not_before must come before not_after")
        if len(self.signature) != SIGNATURE_LEN:
            raise ValueError("credential: an Ed25519 signature is 64 bytes")
        if len(self.authority) != 16 or any(c not in "0123456789abcdef" for c in self.authority):
            raise ValueError("credential: the authority is a 16-hex-digit key id")

    @property
    def subject_id(self) -> str:
        return key_id(self.subject)

    def signed_bytes(self) -> bytes:
        """What the authority signs: every field but the signature, length-prefixed."""
        return _CONTEXT + b"".join(
            _field(part)
            for part in (
                self.subject,
                self.role.value.encode(),
                self.label.encode(),
                self.not_before.isoformat().encode(),
                self.not_after.isoformat().encode(),
                self.authority.encode(),
            )
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "format": "thecal.credential/1",
            "subject": self.subject.hex(),
            "role": self.role.value,
            "label": self.label,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "authority": self.authority,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> Credential:
        """`ValueError` naming what is wrong (the signature is not checked here)."""
        if not isinstance(raw, dict) or raw.get("format") != "thecal.credential/1":
            raise ValueError("credential: not a thecal credential (format thecal.credential/1)")
        try:
            return cls(
                bytes.fromhex(str(raw["subject"])),
                Role(str(raw["role"])),
                str(raw["label"]),
                datetime.fromisoformat(str(raw["not_before"])),
                datetime.fromisoformat(str(raw["not_after"])),
                str(raw["authority"]),
                bytes.fromhex(str(raw["signature"])),
            )
        except KeyError as missing:
            raise ValueError(f"credential: the field {missing} is missing") from None
        except ValueError as error:
            text = str(error)
            raise ValueError(
                text if text.startswith("credential") else f"credential: {text}"
            ) from None


def issue_credential(
    authority: AuthorityKey,
    subject: bytes,
    role: Role,
    label: str,
    not_before: datetime,
    not_after: datetime,
) -> Credential:
    """Sign a credential for the programmer whose static public key is `subject`."""
    unsigned = Credential(
        subject, role, label[:_LABEL_MAX], not_before, not_after, authority.id, bytes(64)
    )
    signature = authority.sign(unsigned.signed_bytes())
    return Credential(subject, role, unsigned.label, not_before, not_after, authority.id, signature)


@dataclass(frozen=True)
class TrustedAuthority:
    """An authority key installed in a pump, and the roles it may grant there."""

    public_key: bytes
    label: str
    roles: frozenset[Role]
    installed_at: datetime
    installed_by: str
    """"implant" (installed at manufacture or implant) or the installing clinician's key id."""

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ValueError("an authority key is 32 bytes")
        if not self.roles or not self.roles <= CREDENTIAL_ROLES:
            raise ValueError("an authority grants clinician and/or emergency")

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "public_key": self.public_key.hex(),
            "label": self.label,
            "roles": sorted(role.value for role in self.roles),
            "installed_at": self.installed_at.isoformat(),
            "installed_by": self.installed_by,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrustedAuthority:
        return cls(
            bytes.fromhex(raw["public_key"]),
            str(raw["label"]),
            frozenset(Role(role) for role in raw["roles"]),
            datetime.fromisoformat(raw["installed_at"]),
            str(raw["installed_by"]),
        )


class CredentialProblem(StrEnum):
    """Why a pump refuses a credential."""

    UNKNOWN_AUTHORITY = "unknown_authority"
    ROLE_NOT_GRANTED = "role_not_granted"
    BAD_SIGNATURE = "bad_signature"
    WRONG_SUBJECT = "wrong_subject"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"


def check_credential(
    credential: Credential,
    subject: bytes,
    trusted: Mapping[str, TrustedAuthority],
    now: datetime,
) -> CredentialProblem | None:
    """None if `credential` is valid at `now` for the key `subject` (the key the
    handshake proved), signed by an authority in `trusted` that may grant its role;
    otherwise the first problem found (cheapest checks first: no signature work for a
    credential from an unknown authority or for another key)."""
    authority = trusted.get(credential.authority)
    if authority is None:
        return CredentialProblem.UNKNOWN_AUTHORITY
    if credential.role not in authority.roles:
        return CredentialProblem.ROLE_NOT_GRANTED
    if credential.subject != subject:
        return CredentialProblem.WRONG_SUBJECT
    if now < credential.not_before:
        return CredentialProblem.NOT_YET_VALID
    if now >= credential.not_after:
        return CredentialProblem.EXPIRED
    try:
        Ed25519PublicKey.from_public_bytes(authority.public_key).verify(
            credential.signature, credential.signed_bytes()
        )
    except (InvalidSignature, ValueError):
        return CredentialProblem.BAD_SIGNATURE
    return None
