"""A controller's local state directory: its key pair, its credential, the pumps it is
paired with, its handshake counter, and any request whose answer it has not yet seen.

The directory is chosen with ``--state DIR`` or ``THECAL_PROGRAMMER_HOME``; it is never
inside the repository and is created readable by its owner only. Layout::

    identity.key     the static private key (created on first use); with a passphrase,
                     protected at rest (`thecal.link.keys.protect_private_key`: scrypt,
                     then PKCS#8 encryption)
    identity.json    the public key, its key id and the handshake counter (nothing secret)
    credential.json  the authority's credential for this key (a clinician programmer)
    pumps.json       pairings: serial -> model, pump public key, address, role
    pending.json     requests sent whose answers have not arrived (resent on next use)

A directory written before keys were protected (its private key in ``identity.json``)
is converted on first use: the key moves to ``identity.key``, encrypted when a
passphrase is given, and leaves ``identity.json``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from thecal.link.authority import Credential
from thecal.link.keys import StaticKey, key_id, key_is_encrypted
from thecal.link.storage import (
    atomic_write_bytes,
    atomic_write_json,
    private_directory,
    read_json,
)
from thecal.pump.commands import Role

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "PASSPHRASE_VARIABLE",
    "ControllerHome",
    "PendingRequest",
    "PumpPairing",
]

ENVIRONMENT_VARIABLE = "THECAL_PROGRAMMER_HOME"
PASSPHRASE_VARIABLE = "THECAL_PROGRAMMER_PASSPHRASE"
T = TypeVar("T")


def _parsed(path: Path, parse: Callable[[Any], T]) -> T:
    """`parse` of the JSON in `path`; `ValueError` naming the file for anything this
    program did not write (a damaged or edited file is reported, never half-read)."""
    data = read_json(path)
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        what = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"{path}: not a valid state file ({what})") from None


@dataclass(frozen=True)
class PumpPairing:
    """What a controller knows about one pump it may talk to."""

    serial: str
    model: str
    public_key: bytes
    address: str
    role: Role

    def to_dict(self) -> dict[str, str]:
        return {
            "serial": self.serial,
            "model": self.model,
            "public_key": self.public_key.hex(),
            "address": self.address,
            "role": self.role.value,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PumpPairing:
        return cls(
            str(raw["serial"]),
            str(raw["model"]),
            _key_bytes(raw["public_key"]),
            str(raw["address"]),
            Role(raw["role"]),
        )


@dataclass(frozen=True)
class PendingRequest:
    """A request sent but not answered: resending it (same id) asks what happened."""

    serial: str
    request_id: str
    description: str
    call: bytes  # the encoded command, exactly as first sent


class ControllerHome:
    """The state directory of one programmer or patient controller.

    `passphrase` protects the private key at rest: a new key is stored encrypted under
    it, a key stored in clear is encrypted on first use, and an encrypted key cannot be
    used without it (`ValueError`, "protected by a passphrase")."""

    def __init__(self, path: Path, passphrase: bytes | None = None) -> None:
        self.path = private_directory(path)
        self.passphrase = passphrase
        self._key: StaticKey | None = None

    @classmethod
    def locate(cls, state: Path | None, passphrase: bytes | None = None) -> ControllerHome:
        """From ``--state`` or the environment; `ValueError` if neither is given."""
        if state is None:
            env = os.environ.get(ENVIRONMENT_VARIABLE)
            if not env:
                raise ValueError(
                    f"no state directory: pass --state DIR or set {ENVIRONMENT_VARIABLE}"
                )
            state = Path(env)
        return cls(state, passphrase)

    # -- identity -----------------------------------------------------------------

    @property
    def _identity_file(self) -> Path:
        return self.path / "identity.json"

    @property
    def _key_file(self) -> Path:
        return self.path / "identity.key"

    def key_exists(self) -> bool:
        return self._key_file.exists() or self._identity_file.exists()

    def key_protected(self) -> bool:
        """Whether the private key is stored encrypted (False before it exists)."""
        return self._key_file.exists() and key_is_encrypted(self._key_file.read_bytes())

    def key(self) -> StaticKey:
        """This controller's static key pair, created on first use (see the class)."""
        if self._key is None:
            self._key = self._load_or_create_key()
        return self._key

    def _load_or_create_key(self) -> StaticKey:
        public_data = (
            _parsed(self._identity_file, _identity) if self._identity_file.exists() else None
        )
        if public_data is not None and "private_key" in public_data:  # written before protection
            key = _parsed(self._identity_file, lambda d: StaticKey.from_hex(d["private_key"]))
            del public_data["private_key"]
            self._store_key(key)
            atomic_write_json(self._identity_file, public_data)
            return key
        if self._key_file.exists():
            stored = self._key_file.read_bytes()
            key = StaticKey.from_pem(stored, self.passphrase)
            if self.passphrase is not None and not key_is_encrypted(stored):
                self._store_key(key)  # protect a key kept in clear until now
            if public_data is None:  # killed between writing the key and its public half
                atomic_write_json(
                    self._identity_file, {"public_key": key.public.hex(), "key_id": key.id,
                                          "hello": 0},
                )  # fmt: skip
            return key
        key = StaticKey.generate()
        self._store_key(key)
        atomic_write_json(
            self._identity_file,
            {"public_key": key.public.hex(), "key_id": key.id, "hello": 0},
        )
        return key

    def _store_key(self, key: StaticKey) -> None:
        atomic_write_bytes(self._key_file, key.to_pem(self.passphrase))

    def change_passphrase(self, new: bytes) -> None:
        """Re-encrypt the private key under `new` (the current passphrase must be given)."""
        key = self.key()
        self.passphrase = new
        self._store_key(key)

    def public_key(self) -> bytes:
        """The public key, without unlocking the private one (created if none yet)."""
        if self._identity_file.exists():
            data = _parsed(self._identity_file, _identity)
            if "public_key" in data and "private_key" not in data:
                return _parsed(self._identity_file, lambda d: _key_bytes(d["public_key"]))
        return self.key().public

    # -- credential -------------------------------------------------------------------

    @property
    def _credential_file(self) -> Path:
        return self.path / "credential.json"

    def credential(self) -> Credential | None:
        """The authority's credential for this key, if one was installed."""
        if not self._credential_file.exists():
            return None
        return _parsed(self._credential_file, Credential.from_dict)

    def install_credential(self, credential: Credential) -> None:
        """Keep `credential`; `ValueError` if it was issued for another key."""
        if credential.subject != self.public_key():
            raise ValueError(
                "credential: it was issued for another key "
                f"({credential.subject_id}), not this programmer's ({key_id(self.public_key())})"
            )
        atomic_write_json(self._credential_file, credential.to_dict())

    def next_hello(self) -> int:
        """A handshake timestamp larger than any this controller used before (the pump
        refuses a handshake whose timestamp does not grow: replay protection)."""
        self.public_key()
        data = _parsed(self._identity_file, _identity)
        value = max(_parsed(self._identity_file, lambda d: int(d.get("hello", 0))) + 1,
                    time.time_ns())  # fmt: skip
        data["hello"] = value
        atomic_write_json(self._identity_file, data)
        return value

    # -- pairings -----------------------------------------------------------------

    @property
    def _pumps_file(self) -> Path:
        return self.path / "pumps.json"

    def pairings(self) -> dict[str, PumpPairing]:
        if not self._pumps_file.exists():
            return {}
        return _parsed(
            self._pumps_file,
            lambda raw: {str(serial): PumpPairing.from_dict(e) for serial, e in raw.items()},
        )

    def save_pairing(self, pairing: PumpPairing) -> None:
        pumps = {s: p.to_dict() for s, p in self.pairings().items()}
        pumps[pairing.serial] = pairing.to_dict()
        atomic_write_json(self._pumps_file, pumps)

    def pairing(self, serial: str | None = None) -> PumpPairing:
        """The pairing for `serial`, or the only one; `ValueError` says what to do."""
        pumps = self.pairings()
        if serial is not None:
            if serial not in pumps:
                known = ", ".join(sorted(pumps)) or "none"
                raise ValueError(f"not paired with pump {serial!r}; paired pumps: {known}")
            return pumps[serial]
        if not pumps:
            raise ValueError(f"not paired with any pump yet (state directory {self.path})")
        if len(pumps) > 1:
            raise ValueError(f"paired with several pumps ({', '.join(sorted(pumps))}): pass --pump")
        return next(iter(pumps.values()))

    # -- pending requests ---------------------------------------------------------

    @property
    def _pending_file(self) -> Path:
        return self.path / "pending.json"

    def pending(self, serial: str) -> list[PendingRequest]:
        """Requests to `serial` whose answers never arrived, oldest first."""
        return [p for p in self._all_pending() if p.serial == serial]

    def _write_pending(self, entries: list[PendingRequest]) -> None:
        atomic_write_json(
            self._pending_file,
            [
                {"serial": p.serial, "request_id": p.request_id, "description": p.description,
                 "call": p.call.hex()}
                for p in entries
            ],
        )  # fmt: skip

    def _all_pending(self) -> list[PendingRequest]:
        if not self._pending_file.exists():
            return []
        return _parsed(
            self._pending_file,
            lambda rows: [
                PendingRequest(str(r["serial"]), str(r["request_id"]), str(r["description"]),
                               bytes.fromhex(r["call"]))
                for r in rows
            ],
        )  # fmt: skip

    def add_pending(self, request: PendingRequest) -> None:
        self._write_pending([*self._all_pending(), request])

    def clear_pending(self, request_id: str) -> None:
        self._write_pending([p for p in self._all_pending() if p.request_id != request_id])


def _identity(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("an identity file holds a JSON object")
    return data


def _key_bytes(text: Any) -> bytes:
    raw = bytes.fromhex(str(text))
    if len(raw) != 32:
        raise ValueError("a public key is 32 bytes")
    return raw
