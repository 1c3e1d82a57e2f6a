"""What travels inside frames: handshake payloads, calls and replies, and the link's
own commands (enrol, revoke, list controllers, open the pairing window, trust an
authority, read the security log).

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

from thecal.link.authority import Credential
from thecal.link.codec import TypeRegistry
from thecal.link.events import SecurityEventKind
from thecal.pump import commands as pump_commands
from thecal.pump.commands import Accepted, Command, Rejected, Role
from thecal.therapy import prescription, quantities

__all__ = [
    "MAX_DIGEST_EVENTS",
    "REQUEST_ID",
    "AuthorityInfo",
    "Call",
    "ControllerInfo",
    "ControllerList",
    "EnrolController",
    "HandshakeHello",
    "HandshakeRefusal",
    "HandshakeWelcome",
    "KindCount",
    "LinkCommand",
    "ListControllers",
    "OpenPairing",
    "PumpIdentity",
    "ReadSecurityLog",
    "RefusalReason",
    "RemoveAuthority",
    "Reply",
    "RevokeController",
    "SecurityDigest",
    "SecurityEventInfo",
    "TrustAuthority",
    "wire_registry",
]

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


MAX_DIGEST_EVENTS = 32
"""Security-log records in one `SecurityDigest` (it must fit one frame)."""


@dataclass(frozen=True)
class PumpIdentity:
    """The pump's plaintext answer to IDENTIFY.

    Anyone in radio range may ask, so outside the pairing window the pump says only
    that it speaks this protocol (serial, model and key empty, `pairing_open` false): it
    cannot be told apart from another thecal pump, or tracked by its serial. While the
    window is open (someone is pairing at the patient's side) it gives what is on the
    implant card except the device secret: serial, model and public key."""

    serial: str
    model: str
    public_key: bytes
    protocol: int
    pairing_open: bool

    @property
    def identified(self) -> bool:
        return bool(self.public_key)


@dataclass(frozen=True)
class HandshakeHello:
    """Payload of handshake message 1 (encrypted).

    `timestamp` must grow with every handshake of the same controller (replay guard).
    `credential`: the authority's statement that this key may act as a clinician (or
    emergency programmer); a role is never claimed, only proven. `label` names a
    controller paired with the device secret.
    """

    timestamp: int
    label: str = ""
    credential: Credential | None = None


@dataclass(frozen=True)
class HandshakeWelcome:
    """Payload of handshake message 2 (encrypted): the session the pump opened."""

    session_id: bytes
    role: Role
    key_id: str
    serial: str
    idle_timeout_s: int
    pump_time: datetime
    expires_at: datetime | None = None
    """When this controller's enrolment (or emergency credential) ends, pump time."""


class RefusalReason(StrEnum):
    BUSY = "busy"
    REPLAY = "replay"
    FAILED = "failed"
    UNKNOWN_CONTROLLER = "unknown_controller"
    REVOKED = "revoked"
    EXPIRED = "expired"
    CREDENTIAL = "credential_refused"
    NEEDS_CLINICIAN_WINDOW = "needs_clinician_window"
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
    """A clinician enrols another programmer or a patient controller by its public key
    (this is also the only way a revoked key is ever admitted again). `expires_at`: when
    the enrolment ends (pump time; None: until revoked)."""

    public_key: bytes
    role: Role
    label: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RevokeController:
    """A clinician revokes a lost or retired controller; its sessions end at once."""

    key_id: str


@dataclass(frozen=True)
class ListControllers:
    """Who is enrolled, who has been revoked, and which authorities are trusted."""


@dataclass(frozen=True)
class OpenPairing:
    """Open the device-secret pairing window for `seconds` (pump time) from this
    clinician session: the only kind of window in which the card alone pairs a patient
    controller (one, then the window closes)."""

    seconds: int

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= 24 * 3600:
            raise ValueError("the pairing window lasts 1 s to 24 h")


@dataclass(frozen=True)
class TrustAuthority:
    """Install an authority key (e.g. the patient moves to another clinic)."""

    public_key: bytes
    label: str
    roles: frozenset[Role]


@dataclass(frozen=True)
class RemoveAuthority:
    key_id: str


@dataclass(frozen=True)
class ReadSecurityLog:
    """The pump's notable security records with a sequence number above `since`."""

    since: int = 0


@dataclass(frozen=True)
class ControllerInfo:
    key_id: str
    role: Role
    label: str
    enrolled_at: datetime
    enrolled_by: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class AuthorityInfo:
    key_id: str
    label: str
    roles: tuple[Role, ...]
    installed_at: datetime
    installed_by: str


@dataclass(frozen=True)
class ControllerList:
    controllers: tuple[ControllerInfo, ...]
    revoked: tuple[str, ...]
    authorities: tuple[AuthorityInfo, ...] = ()


@dataclass(frozen=True)
class SecurityEventInfo:
    """One record of the pump's security log (see `thecal.link.events.LoggedEvent`)."""

    seq: int
    kind: SecurityEventKind
    at: datetime
    detail: str
    key_id: str | None
    count: int


@dataclass(frozen=True)
class KindCount:
    kind: SecurityEventKind
    count: int


@dataclass(frozen=True)
class SecurityDigest:
    """What the clinic learns about the link with an interrogation: notable records
    (at most `MAX_DIGEST_EVENTS`; `more` when later ones wait for the next page), the
    lifetime count of every kind, and the head of the log's hash chain (sequence and
    hash of the last record), so a history rewritten later would not match."""

    events: tuple[SecurityEventInfo, ...]
    counts: tuple[KindCount, ...]
    head_seq: int
    head_hash: str
    more: bool


LinkCommand = (
    EnrolController
    | RevokeController
    | ListControllers
    | OpenPairing
    | TrustAuthority
    | RemoveAuthority
    | ReadSecurityLog
)
LINK_COMMANDS = (
    EnrolController,
    RevokeController,
    ListControllers,
    OpenPairing,
    TrustAuthority,
    RemoveAuthority,
    ReadSecurityLog,
)


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
        Credential,
        SecurityEventKind,
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
        OpenPairing,
        TrustAuthority,
        RemoveAuthority,
        ReadSecurityLog,
        AuthorityInfo,
        SecurityEventInfo,
        KindCount,
        SecurityDigest,
        Call,
        Reply,
    )
    return registry


def _pump_wire_types() -> tuple[type, ...]:
    import thecal.pump as pump

    listing = getattr(pump, "wire_types", None)
    return tuple(listing()) if listing is not None else ()
