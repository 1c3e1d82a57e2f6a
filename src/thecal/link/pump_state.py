"""What the pump's link remembers across restarts: its identity, who may talk to it,
pairing attempts, and the answers it gave.

`PumpLinkState` is plain data with `to_dict` / `from_dict` (JSON-ready) so the served
pump can keep it in its state directory next to the twin's snapshot. The private key
and the device secret live here: the state directory is the implant's non-volatile
memory and must be readable only by its owner.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from thecal.link.keys import DeviceSecret, Entropy, StaticKey, key_id
from thecal.pump.commands import Role

__all__ = [
    "MAX_CONTROLLERS",
    "PAIRING_ATTEMPTS",
    "PAIRING_LOCKOUT",
    "RESPONSES_PER_CONTROLLER",
    "EnrolledController",
    "PairingState",
    "PumpLinkState",
]

MAX_CONTROLLERS = 16
PAIRING_ATTEMPTS = 5
"""Wrong device secrets tolerated before pairing locks."""
PAIRING_LOCKOUT = timedelta(minutes=15)
"""First lockout; each further lockout doubles it (at most one day)."""
RESPONSES_PER_CONTROLLER = 128


@dataclass(frozen=True)
class EnrolledController:
    public_key: bytes
    role: Role
    label: str
    enrolled_at: datetime
    enrolled_by: str  # "device secret" or the key id of the enrolling clinician

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)


@dataclass
class PairingState:
    """Pairing with the device secret: the open window and the bounded attempts."""

    open_until: datetime | None = None
    failures: int = 0
    lockouts: int = 0
    locked_until: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return self.open_until is not None and now < self.open_until

    def locked(self, now: datetime) -> datetime | None:
        if self.locked_until is not None and now < self.locked_until:
            return self.locked_until
        return None

    def fail(self, now: datetime) -> None:
        self.failures += 1
        if self.failures >= PAIRING_ATTEMPTS:
            self.lockouts += 1
            span = min(PAIRING_LOCKOUT * 2 ** (self.lockouts - 1), timedelta(days=1))
            self.locked_until = now + span
            self.failures = 0

    def succeed(self) -> None:
        self.failures = 0
        self.lockouts = 0
        self.locked_until = None


@dataclass
class PumpLinkState:
    serial: str
    model: str
    static: StaticKey
    device_secret: DeviceSecret
    controllers: dict[str, EnrolledController] = field(default_factory=dict)
    revoked: dict[str, datetime] = field(default_factory=dict)
    pairing: PairingState = field(default_factory=PairingState)
    last_hello: dict[str, int] = field(default_factory=dict)
    # key id -> request id -> (body digest, encoded Reply)
    responses: dict[str, OrderedDict[str, tuple[str, bytes]]] = field(default_factory=dict)

    @classmethod
    def new(cls, serial: str, model: str, entropy: Entropy | None = None) -> PumpLinkState:
        """A factory-fresh pump: new static key, new device secret, nobody enrolled."""
        if entropy is None:
            return cls(serial, model, StaticKey.generate(), DeviceSecret.generate())
        return cls(serial, model, StaticKey.generate(entropy), DeviceSecret.generate(entropy))

    def remember_response(self, key: str, request_id: str, digest: str, reply: bytes) -> None:
        cache = self.responses.setdefault(key, OrderedDict())
        cache[request_id] = (digest, reply)
        while len(cache) > RESPONSES_PER_CONTROLLER:
            cache.popitem(last=False)

    def to_dict(self) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "format": 1,
            "serial": self.serial,
            "model": self.model,
            "static_key": self.static.to_hex(),
            "device_secret": self.device_secret.card_text(),
            "controllers": [
                {
                    "public_key": c.public_key.hex(),
                    "role": c.role.value,
                    "label": c.label,
                    "enrolled_at": c.enrolled_at.isoformat(),
                    "enrolled_by": c.enrolled_by,
                }
                for c in self.controllers.values()
            ],
            "revoked": {k: v.isoformat() for k, v in self.revoked.items()},
            "pairing": {
                "open_until": when(self.pairing.open_until),
                "failures": self.pairing.failures,
                "lockouts": self.pairing.lockouts,
                "locked_until": when(self.pairing.locked_until),
            },
            "last_hello": dict(self.last_hello),
            "responses": {
                key: [[rid, digest, reply.hex()] for rid, (digest, reply) in cache.items()]
                for key, cache in self.responses.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PumpLinkState:
        if data.get("format") != 1:
            raise ValueError("link state: unknown format; accepted: format 1")

        def when(text: str | None) -> datetime | None:
            return datetime.fromisoformat(text) if text else None

        controllers = {}
        for raw in data["controllers"]:
            entry = EnrolledController(
                bytes.fromhex(raw["public_key"]),
                Role(raw["role"]),
                raw["label"],
                datetime.fromisoformat(raw["enrolled_at"]),
                raw["enrolled_by"],
            )
            controllers[entry.key_id] = entry
        pairing = data["pairing"]
        responses: dict[str, OrderedDict[str, tuple[str, bytes]]] = {}
        for key, rows in data.get("responses", {}).items():
            responses[key] = OrderedDict(
                (rid, (digest, bytes.fromhex(reply))) for rid, digest, reply in rows
            )
        return cls(
            serial=data["serial"],
            model=data["model"],
            static=StaticKey.from_hex(data["static_key"]),
            device_secret=DeviceSecret.parse(data["device_secret"]),
            controllers=controllers,
            revoked={k: datetime.fromisoformat(v) for k, v in data["revoked"].items()},
            pairing=PairingState(
                when(pairing["open_until"]),
                int(pairing["failures"]),
                int(pairing["lockouts"]),
                when(pairing["locked_until"]),
            ),
            last_hello={k: int(v) for k, v in data["last_hello"].items()},
            responses=responses,
        )
