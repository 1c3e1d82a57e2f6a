"""The controller side of the link (clinician programmer or patient controller).

`ControllerLink.call` sends one command and returns the pump's response, whatever the
link does in between. The request id is chosen once, before the first transmission;
every retransmission, on the same session, a new session or a new connection, carries
the same id. The pump answers a repeated id from memory, so a retry can never act
twice, and the answer to a retry is the answer to the original: the caller always ends
knowing what the pump did. If the link stays down past the retry budget, `call` raises
`OutcomeUnknown` with the request id, and calling again with that id later (even from
a new process) asks the pump what happened instead of acting again.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from thecal.link.authority import Credential
from thecal.link.codec import Decoded, TypeRegistry
from thecal.link.frame import Frame, FrameError, FrameType, decode_frame, encode_frame
from thecal.link.guard import COOKIE_LEN, admission_key, admission_tag
from thecal.link.keys import DeviceSecret, Entropy, StaticKey
from thecal.link.messages import (
    Call,
    HandshakeHello,
    HandshakeRefusal,
    HandshakeWelcome,
    LinkCommand,
    PumpIdentity,
    RefusalReason,
    Reply,
    wire_registry,
)
from thecal.link.noise import HandshakeFailure, Initiator
from thecal.link.pump_endpoint import (
    HELLO_PAD,
    MODE_CREDENTIAL,
    MODE_ENROL,
    MODE_SESSION,
    prologue,
)
from thecal.link.session import OpenFailure, SessionCipher, pad, unpad
from thecal.pump.commands import Command, Response

__all__ = [
    "BadPumpKey",
    "Channel",
    "ControllerLink",
    "HandshakeRefused",
    "LinkDown",
    "LinkUnavailable",
    "OutcomeUnknown",
    "PumpBusy",
    "RetryPolicy",
    "identify",
]


class LinkDown(Exception):
    """The transport lost its connection (reconnect and carry on)."""


class LinkUnavailable(Exception):
    """No answer from the pump within the retry budget."""


class BadPumpKey(LinkUnavailable):
    """The pump's public key (from the implant card, or an IDENTIFY answer) is not a
    usable X25519 key: no handshake with it can succeed, and nothing was sent."""

    def __init__(self) -> None:
        super().__init__(
            "the pump's public key is not a valid key (check it against the implant card): "
            "nothing was sent"
        )


class PumpBusy(LinkUnavailable):
    """The pump answered, but is busy (its handshake budget or its connections are
    taken, e.g. by a flood): nothing was sent; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int | None) -> None:
        self.retry_after_s = retry_after_s
        wait = f"; try again in {retry_after_s} s" if retry_after_s else "; try again shortly"
        super().__init__(f"the pump is busy{wait} (nothing was sent)")


class HandshakeRefused(Exception):
    """The pump refused the handshake (not enrolled, revoked, busy, pairing closed ...)."""

    def __init__(self, refusal: HandshakeRefusal) -> None:
        self.refusal = refusal
        wait = f"; retry after {refusal.retry_after_s} s" if refusal.retry_after_s else ""
        if refusal.reason is RefusalReason.BUSY:
            text = f"the pump is busy{wait}"
        else:
            text = f"the pump refused the connection: {refusal.reason.value}{wait}"
        super().__init__(text)

    @property
    def busy(self) -> bool:
        return self.refusal.reason is RefusalReason.BUSY


class OutcomeUnknown(Exception):
    """The pump's answer did not arrive; resend with the same `request_id` to learn it."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(
            f"no answer from the pump for request {request_id}; the command may or may not "
            "have been carried out: reconnect and resend this request id to find out"
        )


class Channel(Protocol):
    """A datagram channel from a controller to one pump."""

    def send(self, data: bytes) -> None:
        """Send one frame's bytes; raises `LinkDown`."""

    def receive(self, timeout: float) -> bytes | None:
        """Next frame's bytes, or None after `timeout` seconds; raises `LinkDown`."""

    def reconnect(self) -> None:
        """Re-establish the connection; raises `LinkDown` if it cannot."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    timeout: float = 2.0
    """Seconds to wait for an answer before retransmitting."""
    attempts: int = 8
    """Transmissions of one call before `OutcomeUnknown`."""
    handshake_attempts: int = 8
    max_busy_wait: float = 60.0
    """Wait this long at most when the pump says it is busy."""
    stray_frames: int = 64
    """Unrelated frames tolerated while waiting for one answer (old duplicates)."""


@dataclass
class _ClientSession:
    cipher: SessionCipher
    welcome: HandshakeWelcome


def identify(channel: Channel, retry: RetryPolicy | None = None) -> PumpIdentity:
    """Ask who is there (plaintext, unauthenticated: only used before pairing, and the
    pairing handshake then proves the answer)."""
    retry = retry or RetryPolicy()
    registry = wire_registry()
    for attempt in range(retry.attempts):
        try:
            channel.send(encode_frame(Frame(FrameType.IDENTIFY, attempt, b"")))
            for _ in range(retry.stray_frames):
                data = channel.receive(retry.timeout)
                if data is None:
                    break
                frame = decode_frame(data)
                if isinstance(frame, Frame) and frame.type is FrameType.IDENTITY:
                    decoded = registry.decode(frame.payload, PumpIdentity)
                    if isinstance(decoded, Decoded):
                        identity: PumpIdentity = decoded.value
                        return identity
        except LinkDown:
            _reconnect(channel)
    raise LinkUnavailable("the pump did not answer IDENTIFY")


def _reconnect(channel: Channel) -> None:
    # If it fails, the next send fails again and spends one more attempt.
    with contextlib.suppress(LinkDown):
        channel.reconnect()


class ControllerLink:
    """A programmer's or patient controller's connection to one pump."""

    def __init__(
        self,
        channel: Channel,
        static: StaticKey,
        pump_public_key: bytes,
        serial: str,
        *,
        retry: RetryPolicy | None = None,
        entropy: Entropy = os.urandom,
        hello_clock: Callable[[], int] = time.time_ns,
        registry: TypeRegistry | None = None,
        request_prefix: str | None = None,
        credential: Credential | None = None,
        emergency: bool = False,
    ) -> None:
        """`credential`: this programmer's, sent inside every first handshake message
        (it renews an expired clinician enrolment). `emergency`: this key is not
        enrolled; open emergency sessions with the credential instead."""
        self.channel = channel
        self.static = static
        self.credential = credential
        self.mode = MODE_CREDENTIAL if emergency else MODE_SESSION
        self._admission: bytes | None = None
        self.pump_public_key = pump_public_key
        self.serial = serial
        self.retry = retry or RetryPolicy()
        self.entropy = entropy
        self.hello_clock = hello_clock
        self.registry = registry or wire_registry()
        self.session: _ClientSession | None = None
        self._prefix = request_prefix or entropy(4).hex()
        self._counter = 0
        self.handshakes = 0
        self.transmissions = 0

    # -- requests ---------------------------------------------------------------

    def new_request_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}-{self._counter}"

    def call(self, body: Command | LinkCommand, request_id: str | None = None) -> Response:
        """Send `body` until the pump answers; the answer is final (see module docstring)."""
        rid = request_id or self.new_request_id()
        payload = self.registry.encode(Call(rid, body))
        for _ in range(self.retry.attempts):
            try:
                session = self.session or self._handshake(self.mode, None, "")
                self.transmissions += 1
                self.channel.send(encode_frame(session.cipher.seal(payload)))
                reply = self._await_reply(session, rid)
            except LinkDown:
                _reconnect(self.channel)
                continue
            except LinkUnavailable:
                continue
            if reply is not None:
                return reply.response
        raise OutcomeUnknown(rid)

    def _await_reply(self, session: _ClientSession, rid: str) -> Reply | None:
        for _ in range(self.retry.stray_frames):
            data = self.channel.receive(self.retry.timeout)
            if data is None:
                return None
            frame = decode_frame(data)
            if isinstance(frame, FrameError):
                continue
            if frame.type is FrameType.SESSION_UNKNOWN:
                if frame.payload == session.cipher.session_id:
                    self.session = None  # expired or forgotten by the pump: handshake again
                    return None
                continue
            if frame.type is not FrameType.DATA:
                continue
            opened = session.cipher.open(frame)
            if isinstance(opened, OpenFailure):
                continue
            decoded = self.registry.decode(opened.plaintext, Reply)
            if isinstance(decoded, Decoded) and decoded.value.request_id == rid:
                reply: Reply = decoded.value
                return reply
        return None

    # -- handshakes ---------------------------------------------------------------

    def connect(self) -> HandshakeWelcome:
        """Open a session now (normally `call` does this when needed)."""
        return self._handshake(self.mode, None, "").welcome

    def pair(self, secret: DeviceSecret, label: str) -> HandshakeWelcome:
        """Pair this controller's key with the pump's device secret (pairing window
        open). With a clinician credential it is enrolled as a clinician; without one,
        as a patient controller, and only if a clinician session opened the window."""
        return self._handshake(MODE_ENROL, secret.psk(self.serial), label).welcome

    def _handshake(self, mode: int, psk: bytes | None, label: str) -> _ClientSession:
        self.session = None
        last_busy_wait: int | None = None  # the pump's last "busy, retry after N s"
        for _ in range(self.retry.handshake_attempts):
            try:
                session = self._one_handshake(mode, psk, label)
            except LinkDown:
                _reconnect(self.channel)
                continue
            except HandshakeRefused as refused:
                wait = refused.refusal.retry_after_s
                if refused.busy and wait is not None and wait <= self.retry.max_busy_wait:
                    last_busy_wait = wait
                    self._idle(float(wait))
                    continue
                raise
            if session is not None:
                self.session = session
                return session
        if last_busy_wait is not None:
            raise PumpBusy(last_busy_wait)
        raise LinkUnavailable("no handshake answer from the pump")

    def _admission_tag(self, cookie: bytes, message1: bytes) -> bytes:
        if self._admission is None:
            self._admission = admission_key(self.static, self.pump_public_key, self.serial)
        return admission_tag(self._admission, cookie, message1)

    def _idle(self, seconds: float) -> None:
        try:
            while self.channel.receive(seconds) is not None:
                pass
        except LinkDown:
            _reconnect(self.channel)

    def _one_handshake(self, mode: int, psk: bytes | None, label: str) -> _ClientSession | None:
        """One handshake with one ephemeral key: message 1 (re)sent until answered."""
        self.handshakes += 1
        initiator = Initiator(
            self.static, self.pump_public_key, prologue(self.serial), psk, self.entropy
        )
        hello = HandshakeHello(self.hello_clock(), label, self.credential)
        try:
            message1 = initiator.write_message_1(pad(self.registry.encode(hello), HELLO_PAD))
            self._admission_tag(b"", message1)  # derives the admission key once
        except (HandshakeFailure, ValueError):  # a low-order or malformed pump key
            raise BadPumpKey() from None
        cookie = bytes(COOKIE_LEN)
        for attempt in range(self.retry.handshake_attempts):
            tag = self._admission_tag(cookie, message1)
            payload = bytes([mode]) + cookie + tag + message1
            self.channel.send(encode_frame(Frame(FrameType.HANDSHAKE_INIT, attempt, payload)))
            for _ in range(self.retry.stray_frames):
                data = self.channel.receive(self.retry.timeout)
                if data is None:
                    break
                frame = decode_frame(data)
                if isinstance(frame, FrameError):
                    continue
                if frame.type is FrameType.COOKIE and len(frame.payload) == COOKIE_LEN:
                    if frame.payload != cookie:
                        cookie = frame.payload
                        break  # resend message 1 with the cookie at once
                    continue
                if frame.type is FrameType.HANDSHAKE_REFUSED:
                    refusal = self.registry.decode(frame.payload, HandshakeRefusal)
                    if isinstance(refusal, Decoded):
                        raise HandshakeRefused(refusal.value)
                    continue
                if frame.type is FrameType.HANDSHAKE_RESPONSE:
                    try:
                        padded, keys = initiator.read_message_2(frame.payload)
                    except HandshakeFailure:
                        continue  # not for this handshake (or forged): keep waiting
                    decoded = self.registry.decode(unpad(padded) or b"", HandshakeWelcome)
                    if not isinstance(decoded, Decoded):
                        continue
                    welcome: HandshakeWelcome = decoded.value
                    if welcome.serial != self.serial or welcome.key_id != self.static.id:
                        continue
                    return _ClientSession(SessionCipher(welcome.session_id, keys), welcome)
        return None

    def close(self) -> None:
        self.session = None
        self.channel.close()
