"""How a programmer or patient controller reaches its pump, and how it never loses track
of a command whose answer did not arrive.

`JournaledLink` wraps a `ControllerLink`: before a command is first sent, its request id
and exact encoded body are written to the controller's state directory; when the answer
arrives the entry is removed. If the process dies, or the link stays down past the
retry budget, the entry remains, and `resolve_pending` resends it on the next connection
(same id, same body: the pump answers from memory and does nothing twice). So a
programmer always ends knowing whether a bolus was given or a prescription written.

`pair_tcp` enrols this controller with a served pump using the device secret from the
implant card (as a clinician when the controller holds a clinician credential, else as
a patient controller), and `open_session` is how every later use begins: handshake,
then the journal's unanswered requests are resolved before anything new is sent. The
command line and the clinic's pump session page both use them, so both behave the same
way. `emergency_session` is the emergency-room path: a programmer that is not enrolled
shows its credential and may interrogate, stop or set the minimum rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from thecal.link.codec import Decoded
from thecal.link.controller import (
    ControllerLink,
    LinkUnavailable,
    OutcomeUnknown,
    RetryPolicy,
    identify,
)
from thecal.link.keys import DeviceSecret, StaticKey
from thecal.link.messages import Call, LinkCommand
from thecal.link.transports.tcp import TcpChannel, parse_address
from thecal.programmer.home import ControllerHome, PendingRequest, PumpPairing
from thecal.pump.commands import Command, Response

__all__ = [
    "TCP_RETRY",
    "JournaledLink",
    "Paired",
    "ResolvedRequest",
    "Sender",
    "Session",
    "WrongPump",
    "connect_tcp",
    "emergency_session",
    "open_session",
    "pair_tcp",
    "resolve_pending",
]


class Sender(Protocol):
    """Anything that carries a command to the pump and returns its answer."""

    def call(self, body: Command | LinkCommand, request_id: str | None = None) -> Response: ...


@dataclass(frozen=True)
class ResolvedRequest:
    """A previously unanswered request and the answer the pump now gives for it."""

    request_id: str
    description: str
    response: Response


class JournaledLink:
    """A `Sender` that records every request in the state directory until answered."""

    def __init__(self, link: ControllerLink, home: ControllerHome, serial: str) -> None:
        self.link = link
        self.home = home
        self.serial = serial

    def call(self, body: Command | LinkCommand, request_id: str | None = None) -> Response:
        rid = request_id or self.link.new_request_id()
        encoded = self.link.registry.encode(Call(rid, body))
        self.home.add_pending(PendingRequest(self.serial, rid, type(body).__name__, encoded))
        response = self.link.call(body, rid)  # OutcomeUnknown leaves the entry pending
        self.home.clear_pending(rid)
        return response


def resolve_pending(
    link: ControllerLink, home: ControllerHome, serial: str
) -> list[ResolvedRequest]:
    """Resend every unanswered request to `serial` with its original id and body, and
    return what the pump says happened. Raises `OutcomeUnknown` if still unreachable."""
    resolved = []
    for pending in home.pending(serial):
        decoded = link.registry.decode(pending.call, Call)
        if not isinstance(decoded, Decoded):  # a corrupted journal entry: cannot resend
            home.clear_pending(pending.request_id)
            continue
        call: Call = decoded.value
        response = link.call(call.body, call.request_id)
        home.clear_pending(pending.request_id)
        resolved.append(ResolvedRequest(pending.request_id, pending.description, response))
    return resolved


TCP_RETRY = RetryPolicy(timeout=2.0, attempts=4, handshake_attempts=4)
"""TCP either delivers or breaks the connection: fewer, longer waits than on the radio."""


def connect_tcp(
    home: ControllerHome,
    pairing: PumpPairing,
    retry: RetryPolicy | None = None,
    key: StaticKey | None = None,
) -> ControllerLink:
    """A link to a served pump over TCP (handshake happens on the first call)."""
    host, port = parse_address(pairing.address)
    return ControllerLink(
        TcpChannel(host, port),
        key or home.key(),
        pairing.public_key,
        pairing.serial,
        retry=retry or TCP_RETRY,
        hello_clock=home.next_hello,
        credential=home.credential(),
    )


@dataclass(frozen=True)
class Session:
    """An open link to one paired pump: `link` journals every request (use it for
    commands), `raw` is the link underneath, `resolved` what the pump said about the
    requests left unanswered by an earlier session."""

    link: JournaledLink
    raw: ControllerLink
    pairing: PumpPairing
    resolved: tuple[ResolvedRequest, ...]


@contextmanager
def open_session(
    home: ControllerHome,
    pairing: PumpPairing,
    retry: RetryPolicy | None = None,
    address: str | None = None,
) -> Iterator[Session]:
    """Connect to a paired pump (at `address` when it moved since pairing), open the
    secure session, then resend every request still unanswered from an earlier session
    before the caller sends anything new.

    The handshake comes first so that a pump that cannot be reached raises
    `LinkUnavailable` (or `HandshakeRefused`) with nothing sent and nothing journaled;
    only a request sent and then left unanswered raises `OutcomeUnknown`."""
    if address is not None and address != pairing.address:
        pairing = replace(pairing, address=address)
    raw = connect_tcp(home, pairing, retry)
    try:
        raw.connect()
        resolved = resolve_pending(raw, home, pairing.serial)
        yield Session(JournaledLink(raw, home, pairing.serial), raw, pairing, tuple(resolved))
    finally:
        raw.close()


class WrongPump(ValueError):
    """The pump at the address is not the one the caller meant (nothing was paired)."""


@dataclass(frozen=True)
class Paired:
    """A pairing made and saved: the pump, and this controller's key id as enrolled."""

    pairing: PumpPairing
    key_id: str


class NotIdentified(LinkUnavailable):
    """The pump answered but does not identify itself: its pairing window is closed."""


def pair_tcp(
    home: ControllerHome,
    address: str,
    secret: DeviceSecret,
    label: str = "clinician programmer",
    *,
    serial: str | None = None,
    retry: RetryPolicy | None = None,
) -> Paired:
    """Pair this controller with the pump at `address` (``host:port``) using the device
    secret from its implant card, while the pump's pairing window is open, and save the
    pairing in `home`. The role is the pump's decision: clinician when `home` holds a
    clinician credential the pump trusts, else patient (only in a window a clinician
    opened). With `serial`, a pump answering with another serial is refused with
    `WrongPump` before any secret is used.

    Raises `HandshakeRefused` (wrong secret, window closed, pairing locked, credential
    refused, ...), `NotIdentified` (window closed), `LinkUnavailable` or `LinkDown` (no
    answer), `ValueError` for a malformed address."""
    host, port = parse_address(address)
    channel = TcpChannel(host, port)
    policy = retry or TCP_RETRY
    try:
        identity = identify(channel, policy)
        if not identity.identified:
            raise NotIdentified(
                "the pump's pairing window is closed, so it does not identify itself: open it "
                "(magnet or programming head, or a clinician session) and try again"
            )
        if serial is not None and identity.serial != serial:
            raise WrongPump(
                f"the pump at {address} is {identity.serial!r}, not {serial!r}: nothing was paired"
            )
        link = ControllerLink(
            channel,
            home.key(),
            identity.public_key,
            identity.serial,
            retry=policy,
            hello_clock=home.next_hello,
            credential=home.credential(),
        )
        welcome = link.pair(secret, label)
    finally:
        channel.close()
    pairing = PumpPairing(identity.serial, identity.model, identity.public_key, address,
                          welcome.role)  # fmt: skip
    home.save_pairing(pairing)
    return Paired(pairing, welcome.key_id)


@contextmanager
def emergency_session(
    home: ControllerHome,
    address: str,
    serial: str,
    pump_public_key: bytes,
    retry: RetryPolicy | None = None,
) -> Iterator[ControllerLink]:
    """An emergency session with a pump this programmer is not enrolled with: its
    credential (from an authority the pump trusts for emergency access) admits it to
    interrogate, stop, set the minimum rate and acknowledge alarms, nothing else. The
    pump's serial and key come from the patient's implant card (or, while the pump's
    window is open, from `identify`). Nothing is journaled: each request is answered or
    reported as unknown at once. `ValueError` when this programmer has no credential."""
    credential = home.credential()
    if credential is None:
        raise ValueError(
            "this programmer has no credential: emergency access needs one from an authority "
            "the pump trusts"
        )
    host, port = parse_address(address)
    link = ControllerLink(
        TcpChannel(host, port),
        home.key(),
        pump_public_key,
        serial,
        retry=retry or TCP_RETRY,
        hello_clock=home.next_hello,
        credential=credential,
        emergency=True,
    )
    try:
        link.connect()
        yield link
    finally:
        link.close()


__all__ += ["NotIdentified", "OutcomeUnknown"]
