"""What the pump's link remembers across restarts: its identity, the authorities it
trusts, who may talk to it (and until when), who was revoked, pairing attempts, and
the answers it gave.

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

from thecal.link.authority import TrustedAuthority
from thecal.link.keys import DeviceSecret, Entropy, StaticKey, key_id
from thecal.pump.commands import Role

__all__ = [
    "MAGNET",
    "MAX_AUTHORITIES",
    "MAX_CONTROLLERS",
    "PAIRING_ATTEMPTS",
    "PAIRING_LOCKOUT",
    "RESPONSES_PER_CONTROLLER",
    "EnrolledController",
    "PairingState",
    "PumpLinkState",
]

MAX_CONTROLLERS = 16
MAX_AUTHORITIES = 4
MAGNET = "magnet"
"""Who opened a pairing window by the physical action (magnet or programming head) rather
than from a clinician session: such a window admits only a programmer with a credential."""
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
    expires_at: datetime | None = None
    """After this (pump time) the enrolment no longer admits the key, until a clinician
    renews it (a clinician programmer renews its own by presenting a newer credential)."""

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass
class PairingState:
    """Pairing with the device secret: the open window and the bounded attempts."""

    open_until: datetime | None = None
    failures: int = 0
    lockouts: int = 0
    locked_until: datetime | None = None
    opened_by: str = MAGNET
    """`MAGNET`, or the key id of the clinician whose session opened the window (only such
    a window lets the card secret alone pair a patient controller)."""

    def is_open(self, now: datetime) -> bool:
        return self.open_until is not None and now < self.open_until

    def open_for_patients(self, now: datetime) -> bool:
        return self.is_open(now) and self.opened_by != MAGNET

    def close(self) -> None:
        self.open_until = None

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
    authorities: dict[str, TrustedAuthority] = field(default_factory=dict)
    pairing: PairingState = field(default_factory=PairingState)
    last_hello: dict[str, int] = field(default_factory=dict)
    # key id -> request id -> (body digest, encoded Reply)
    responses: dict[str, OrderedDict[str, tuple[str, bytes]]] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        serial: str,
        model: str,
        entropy: Entropy | None = None,
        authorities: tuple[TrustedAuthority, ...] = (),
    ) -> PumpLinkState:
        """A factory-fresh pump: new static key, new device secret, nobody enrolled, the
        `authorities` installed at manufacture or implant trusted."""
        if entropy is None:
            state = cls(serial, model, StaticKey.generate(), DeviceSecret.generate())
        else:
            state = cls(serial, model, StaticKey.generate(entropy), DeviceSecret.generate(entropy))
        for authority in authorities:
            state.trust(authority)
        return state

    def trust(self, authority: TrustedAuthority) -> None:
        """Install (or replace) a trusted authority; `ValueError` past `MAX_AUTHORITIES`."""
        if authority.key_id not in self.authorities and len(self.authorities) >= MAX_AUTHORITIES:
            raise ValueError(f"at most {MAX_AUTHORITIES} authorities; remove one first")
        self.authorities[authority.key_id] = authority

    def remember_response(self, key: str, request_id: str, digest: str, reply: bytes) -> None:
        cache = self.responses.setdefault(key, OrderedDict())
        cache[request_id] = (digest, reply)
        while len(cache) > RESPONSES_PER_CONTROLLER:
            cache.popitem(last=False)

    def to_dict(self) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "format": 2,
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
                    "expires_at": when(c.expires_at),
                }
                for c in self.controllers.values()
            ],
            "revoked": {k: v.isoformat() for k, v in self.revoked.items()},
            "authorities": [a.to_dict() for a in self.authorities.values()],
            "pairing": {
                "open_until": when(self.pairing.open_until),
                "opened_by": self.pairing.opened_by,
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
    def from_dict(cls, data: Any) -> PumpLinkState:
        """The state `to_dict` wrote; `ValueError` for anything else (never half-read)."""
        if not isinstance(data, dict) or data.get("format") not in (1, 2):
            raise ValueError("link state: unknown format; accepted: formats 1 and 2")
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            what = f"missing {error}" if isinstance(error, KeyError) else str(error)
            raise ValueError(f"link state: {what}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> PumpLinkState:
        # format 1 (before authorities and expiry) reads as a pump that trusts no authority

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
                when(raw.get("expires_at")),
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
            authorities={
                a.key_id: a
                for a in (TrustedAuthority.from_dict(raw) for raw in data.get("authorities", []))
            },
            pairing=PairingState(
                when(pairing["open_until"]),
                int(pairing["failures"]),
                int(pairing["lockouts"]),
                when(pairing["locked_until"]),
                str(pairing.get("opened_by", MAGNET)),
            ),
            last_hello={k: int(v) for k, v in data["last_hello"].items()},
            responses=responses,
        )
