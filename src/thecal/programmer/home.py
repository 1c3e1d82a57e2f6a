"""A controller's local state directory: its key pair, the pumps it is paired with, its
handshake counter, and any request whose answer it has not yet seen.

The directory is chosen with ``--state DIR`` or ``THECAL_PROGRAMMER_HOME``; it is never
inside the repository and is created readable by its owner only (it holds the private
key). Layout::

    identity.json   the static key pair (created on first use)
    pumps.json      pairings: serial -> model, pump public key, address, role
    pending.json    requests sent whose answers have not arrived (resent on next use)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thecal.link.keys import StaticKey
from thecal.link.storage import atomic_write_json, private_directory, read_json
from thecal.pump.commands import Role

__all__ = ["ENVIRONMENT_VARIABLE", "ControllerHome", "PendingRequest", "PumpPairing"]

ENVIRONMENT_VARIABLE = "THECAL_PROGRAMMER_HOME"


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
            raw["serial"],
            raw["model"],
            bytes.fromhex(raw["public_key"]),
            raw["address"],
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
    """The state directory of one programmer or patient controller."""

    def __init__(self, path: Path) -> None:
        self.path = private_directory(path)

    @classmethod
    def locate(cls, state: Path | None) -> ControllerHome:
        """From ``--state`` or the environment; `ValueError` if neither is given."""
        if state is None:
            env = os.environ.get(ENVIRONMENT_VARIABLE)
            if not env:
                raise ValueError(
                    f"no state directory: pass --state DIR or set {ENVIRONMENT_VARIABLE}"
                )
            state = Path(env)
        return cls(state)

    # -- identity -----------------------------------------------------------------

    @property
    def _identity_file(self) -> Path:
        return self.path / "identity.json"

    def key(self) -> StaticKey:
        """This controller's static key pair, created on first use."""
        if self._identity_file.exists():
            data = read_json(self._identity_file)
            return StaticKey.from_hex(data["private_key"])
        key = StaticKey.generate()
        atomic_write_json(
            self._identity_file,
            {"private_key": key.to_hex(), "public_key": key.public.hex(), "key_id": key.id,
             "hello": 0},
        )  # fmt: skip
        return key

    def next_hello(self) -> int:
        """A handshake timestamp larger than any this controller used before (the pump
        refuses a handshake whose timestamp does not grow: replay protection)."""
        self.key()
        data = read_json(self._identity_file)
        value = max(int(data.get("hello", 0)) + 1, time.time_ns())
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
        raw = read_json(self._pumps_file)
        return {serial: PumpPairing.from_dict(entry) for serial, entry in raw.items()}

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
        return [
            PendingRequest(r["serial"], r["request_id"], r["description"], bytes.fromhex(r["call"]))
            for r in read_json(self._pending_file)
        ]

    def add_pending(self, request: PendingRequest) -> None:
        self._write_pending([*self._all_pending(), request])

    def clear_pending(self, request_id: str) -> None:
        self._write_pending([p for p in self._all_pending() if p.request_id != request_id])
