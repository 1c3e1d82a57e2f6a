"""What travels inside frames: handshake payloads, calls and replies, and the link's
own commands (enrol, revoke, list controllers).

Pump commands and responses are the pump's contract (`thecal.pump.commands`); the link
wraps them in a `Call` carrying the sender's request id and answers with a `Reply`.
The pump builds the `Request` itself, with the role it authenticated, never a role the
sender claims.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from thecal.link.codec import TypeRegistry
from thecal.pump import commands as pump_commands
from thecal.pump.commands import Accepted, Command, Rejected, Role
from thecal.therapy import prescription, quantities

__all__ = [
    "REQUEST_ID",
    "Call",
    "ControllerInfo",
    "ControllerList",
    "EnrolController",
    "HandshakeHello",
    "HandshakeRefusal",
    "HandshakeWelcome",
    "LinkCommand",
    "ListControllers",
    "PumpIdentity",
    "RefusalReason",
    "Reply",
    "RevokeController",
    "wire_registry",
]

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class PumpIdentity:
    """The pump's plaintext answer to IDENTIFY (nothing secret: what is on the card)."""

    serial: str
    model: str
    public_key: bytes
    protocol: int
    pairing_open: bool


@dataclass(frozen=True)
class HandshakeHello:
    """Payload of handshake message 1 (encrypted).

    `timestamp` must grow with every handshake of the same controller (replay guard);
    `role` and `label` are read only when pairing with the device secret.
    """

    timestamp: int
    role: Role | None = None
    label: str = ""


@dataclass(frozen=True)
class HandshakeWelcome:
    """Payload of handshake message 2 (encrypted): the session the pump opened."""

    session_id: bytes
    role: Role
    key_id: str
    serial: str
    idle_timeout_s: int
    pump_time: datetime


class RefusalReason(StrEnum):
    BUSY = "busy"
    REPLAY = "replay"
    FAILED = "failed"
    UNKNOWN_CONTROLLER = "unknown_controller"
    REVOKED = "revoked"
    PAIRING_CLOSED = "pairing_closed"
    PAIRING_LOCKED = "pairing_locked"
    WRONG_SECRET = "wrong_secret"
    FULL = "full"


@dataclass(frozen=True)
class HandshakeRefusal:
    """Plaintext refusal of a handshake; `retry_after_s` when waiting would help."""

    reason: RefusalReason
    retry_after_s: int | None = None


@dataclass(frozen=True)
class EnrolController:
    """A clinician enrols another programmer or a patient controller by its public key."""

    public_key: bytes
    role: Role
    label: str


@dataclass(frozen=True)
class RevokeController:
    """A clinician revokes a lost or retired controller; its sessions end at once."""

    key_id: str


@dataclass(frozen=True)
class ListControllers:
    """Who is enrolled, and who has been revoked."""


@dataclass(frozen=True)
class ControllerInfo:
    key_id: str
    role: Role
    label: str
    enrolled_at: datetime
    enrolled_by: str


@dataclass(frozen=True)
class ControllerList:
    controllers: tuple[ControllerInfo, ...]
    revoked: tuple[str, ...]


LinkCommand = EnrolController | RevokeController | ListControllers
LINK_COMMANDS = (EnrolController, RevokeController, ListControllers)


@dataclass(frozen=True)
class Call:
    """One request from a controller: its own id (unique per controller) and the body."""

    request_id: str
    body: Command | LinkCommand

    def __post_init__(self) -> None:
        if not REQUEST_ID.match(self.request_id):
            raise ValueError("request id: 1-64 characters from A-Z a-z 0-9 . _ : -")


@dataclass(frozen=True)
class Reply:
    """The pump's answer to the call with `request_id`."""

    request_id: str
    response: Accepted | Rejected


def _dataclasses_of(module: object) -> list[type]:
    found = []
    for name in getattr(module, "__all__", ()):
        value = getattr(module, name)
        if isinstance(value, type) and (
            hasattr(value, "__dataclass_fields__") or issubclass(value, StrEnum)
        ):
            found.append(value)
    return found


@functools.cache
def wire_registry() -> TypeRegistry:
    """The closed set of types that may cross the link: therapy values, the pump's
    commands and payload types, and the link's own messages. Built once and shared (do
    not register more types into it)."""
    registry = TypeRegistry()
    registry.register(
        quantities.Mass,
        quantities.Volume,
        quantities.Duration,
        quantities.Concentration,
        quantities.DoseRate,
        quantities.VolumeRate,
    )
    registry.register(*_dataclasses_of(prescription))
    registry.register(*_dataclasses_of(pump_commands))
    registry.register(*_pump_wire_types())
    registry.register(
        PumpIdentity,
        HandshakeHello,
        HandshakeWelcome,
        RefusalReason,
        HandshakeRefusal,
        EnrolController,
        RevokeController,
        ListControllers,
        ControllerInfo,
        ControllerList,
        Call,
        Reply,
    )
    return registry


def _pump_wire_types() -> tuple[type, ...]:
    import thecal.pump as pump

    listing = getattr(pump, "wire_types", None)
    return tuple(listing()) if listing is not None else ()
