"""How a programmer or patient controller reaches its pump, and how it never loses track
of a command whose answer did not arrive.

`JournaledLink` wraps a `ControllerLink`: before a command is first sent, its request id
and exact encoded body are written to the controller's state directory; when the answer
arrives the entry is removed. If the process dies, or the link stays down past the
retry budget, the entry remains, and `resolve_pending` resends it on the next connection
(same id, same body: the pump answers from memory and does nothing twice). So a
programmer always ends knowing whether a bolus was given or a prescription written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from thecal.link.codec import Decoded
from thecal.link.controller import ControllerLink, OutcomeUnknown, RetryPolicy
from thecal.link.keys import StaticKey
from thecal.link.messages import Call, LinkCommand
from thecal.link.transports.tcp import TcpChannel, parse_address
from thecal.programmer.home import ControllerHome, PendingRequest, PumpPairing
from thecal.pump.commands import Command, Response

__all__ = [
    "TCP_RETRY",
    "JournaledLink",
    "ResolvedRequest",
    "Sender",
    "connect_tcp",
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
    )


__all__ += ["OutcomeUnknown"]
