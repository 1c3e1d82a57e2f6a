"""The pump side of the link: frames in, frames out, commands to the firmware.

`PumpEndpoint` is sans-I/O: a transport hands it the bytes (or frames) it received and
sends whatever comes back. It owns the pump's half of everything in this package:
cookies and the handshake budget, the handshake itself, enrolment and revocation,
sessions with their timeouts and replay windows, the role check, and the response
memory that makes a retried request safe. Every refusal is written to the security log.

Commands go to the firmware as `Request`s whose id is namespaced by the sender's key
(two controllers cannot collide) and whose role is the one the handshake proved.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from thecal.link.codec import Decoded, TypeRegistry
from thecal.link.events import SecurityEvent, SecurityEventKind, SecurityLog
from thecal.link.frame import Frame, FrameError, FrameType, decode_frame, encode_frame
from thecal.link.guard import COOKIE_LEN, HandshakeGuard
from thecal.link.keys import Entropy, key_id
from thecal.link.messages import (
    Call,
    ControllerInfo,
    ControllerList,
    EnrolController,
    HandshakeHello,
    HandshakeRefusal,
    HandshakeWelcome,
    ListControllers,
    PumpIdentity,
    RefusalReason,
    Reply,
    RevokeController,
    wire_registry,
)
from thecal.link.noise import MESSAGE1_OVERHEAD, HandshakeFailure, Responder, WorkMeter
from thecal.link.pump_state import MAX_CONTROLLERS, EnrolledController, PumpLinkState
from thecal.link.session import SESSION_ID_LEN, OpenFailure, SessionCipher
from thecal.pump.commands import Accepted, Rejected, Rejection, Request, Response, Role, permitted

__all__ = [
    "MODE_ENROL",
    "MODE_SESSION",
    "PROTOCOL_VERSION",
    "CommandHandler",
    "LinkLimits",
    "PumpEndpoint",
    "prologue",
]

PROTOCOL_VERSION = 1
MODE_SESSION = 0
MODE_ENROL = 1


def prologue(serial: str) -> bytes:
    """Bound into every handshake hash: protocol, version and the pump's serial, so a
    handshake meant for one pump (or one protocol version) fails on any other."""
    return f"thecal-link/{PROTOCOL_VERSION}/{serial}".encode()


class CommandHandler(Protocol):
    """The firmware, as the link sees it."""

    def handle(self, request: Request) -> Response: ...


@dataclass(frozen=True)
class LinkLimits:
    idle_timeout: timedelta = timedelta(minutes=5)
    max_session_age: timedelta = timedelta(hours=1)
    max_sessions: int = 8
    handshake_burst: int = 8
    handshake_rate: float = 0.2  # per second of pump time
    remembered_handshakes: int = 64


@dataclass
class _Session:
    cipher: SessionCipher
    key_id: str
    role: Role
    started: datetime
    last_active: datetime
    handshake_hash: bytes


@dataclass
class _Answered:
    """An answered message 1, so an identical retransmission gets the same answer free."""

    message1: bytes
    reply: Frame


@dataclass
class EndpointStats:
    meter: WorkMeter = field(default_factory=WorkMeter)
    frames_in: int = 0
    frames_out: int = 0
    cookies_issued: int = 0
    commands_handled: int = 0


class PumpEndpoint:
    """The pump's link endpoint (one per pump; not thread-safe: serialise calls)."""

    def __init__(
        self,
        state: PumpLinkState,
        handler: CommandHandler,
        clock: Callable[[], datetime],
        *,
        log: SecurityLog | None = None,
        persist: Callable[[], None] | None = None,
        limits: LinkLimits | None = None,
        entropy: Entropy = os.urandom,
        registry: TypeRegistry | None = None,
    ) -> None:
        self.state = state
        self.handler = handler
        self.clock = clock
        self.log = log or SecurityLog()
        self.persist = persist
        self.limits = limits or LinkLimits()
        self.entropy = entropy
        self.registry = registry or wire_registry()
        self.guard = HandshakeGuard(
            self.limits.handshake_burst, self.limits.handshake_rate, entropy=entropy
        )
        self.stats = EndpointStats()
        self.sessions: dict[bytes, _Session] = {}
        self._answered: dict[bytes, _Answered] = {}  # by initiator ephemeral key
        self._dirty = False

    # -- public -----------------------------------------------------------------

    def open_pairing(self, duration: timedelta) -> None:
        """Open the device-secret pairing window (the magnet / programming-head action)."""
        now = self.clock()
        self.state.pairing.open_until = now + duration
        self._event(SecurityEventKind.PAIRING_OPENED, f"for {duration}", None)
        self._dirty = True
        self._flush()

    def receive(self, data: bytes) -> list[bytes]:
        """Handle one datagram; return the datagrams to send back."""
        decoded = decode_frame(data)
        if isinstance(decoded, FrameError):
            self.reject_malformed(decoded)
            return []
        return [encode_frame(frame) for frame in self.receive_frame(decoded)]

    def reject_malformed(self, error: FrameError) -> None:
        self._event(
            SecurityEventKind.MALFORMED_FRAME, f"{error.problem.name.lower()}: {error.detail}", None
        )

    def receive_frame(self, frame: Frame) -> list[Frame]:
        """Handle one decoded frame; return the frames to send back."""
        self.stats.frames_in += 1
        handlers = {
            FrameType.IDENTIFY: self._identify,
            FrameType.HANDSHAKE_INIT: self._handshake,
            FrameType.DATA: self._data,
        }
        handle = handlers.get(frame.type)
        if handle is None:
            self._event(
                SecurityEventKind.UNEXPECTED_FRAME, f"{frame.type.name} is not sent to a pump", None
            )
            replies: list[Frame] = []
        else:
            replies = handle(frame)
        self._flush()
        self.stats.frames_out += len(replies)
        return replies

    def end_sessions_of(self, key: str) -> None:
        for session_id in [sid for sid, s in self.sessions.items() if s.key_id == key]:
            del self.sessions[session_id]

    # -- helpers ----------------------------------------------------------------

    def _event(self, kind: SecurityEventKind, detail: str, key: str | None) -> None:
        self.log.record(SecurityEvent(kind, self.clock(), detail, key))

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            if self.persist is not None:
                self.persist()

    def _plain(self, frame_type: FrameType, sequence: int, value: object) -> Frame:
        return Frame(frame_type, sequence, self.registry.encode(value))

    def _refuse(
        self, sequence: int, reason: RefusalReason, retry_after: timedelta | None = None
    ) -> Frame:
        seconds = None if retry_after is None else max(1, int(retry_after.total_seconds() + 0.999))
        return self._plain(FrameType.HANDSHAKE_REFUSED, sequence, HandshakeRefusal(reason, seconds))

    # -- IDENTIFY -----------------------------------------------------------------

    def _identify(self, frame: Frame) -> list[Frame]:
        identity = PumpIdentity(
            self.state.serial,
            self.state.model,
            self.state.static.public,
            PROTOCOL_VERSION,
            self.state.pairing.is_open(self.clock()),
        )
        return [self._plain(FrameType.IDENTITY, frame.sequence, identity)]

    # -- handshake ----------------------------------------------------------------

    def _handshake(self, frame: Frame) -> list[Frame]:
        payload = frame.payload
        now = self.clock()
        if len(payload) < 1 + COOKIE_LEN + MESSAGE1_OVERHEAD or payload[0] not in (
            MODE_SESSION,
            MODE_ENROL,
        ):
            self._event(SecurityEventKind.MALFORMED_FRAME, "handshake message 1 malformed", None)
            return []
        enrol = payload[0] == MODE_ENROL
        cookie = payload[1 : 1 + COOKIE_LEN]
        message1 = payload[1 + COOKIE_LEN :]
        ephemeral = message1[:32]

        # An identical retransmission of an answered message 1: the same answer, no work.
        answered = self._answered.get(ephemeral)
        if answered is not None and answered.message1 == message1:
            return [answered.reply]

        if enrol:
            if not self.state.pairing.is_open(now):
                self._event(
                    SecurityEventKind.PAIRING_CLOSED, "pairing attempt outside the window", None
                )
                return [self._refuse(frame.sequence, RefusalReason.PAIRING_CLOSED)]
            locked = self.state.pairing.locked(now)
            if locked is not None:
                self._event(SecurityEventKind.PAIRING_LOCKED, f"locked until {locked}", None)
                return [self._refuse(frame.sequence, RefusalReason.PAIRING_LOCKED, locked - now)]

        if not self.guard.cookie_valid(ephemeral, cookie, now):
            self.stats.cookies_issued += 1
            return [
                Frame(FrameType.COOKIE, frame.sequence, self.guard.issue_cookie(ephemeral, now))
            ]
        if self.guard.seen(ephemeral):
            self._event(SecurityEventKind.HANDSHAKE_REPLAY, "ephemeral key reused", None)
            return [self._refuse(frame.sequence, RefusalReason.REPLAY)]
        wait = self.guard.bucket.take(now)
        if wait is not None:
            self._event(
                SecurityEventKind.HANDSHAKE_RATE_LIMITED,
                f"budget spent; retry in {wait:.0f} s",
                None,
            )
            return [self._refuse(frame.sequence, RefusalReason.BUSY, timedelta(seconds=wait))]
        self.guard.remember(ephemeral)

        reply = self._run_handshake(frame.sequence, message1, enrol, now)
        self._answered[ephemeral] = _Answered(message1, reply)
        while len(self._answered) > self.limits.remembered_handshakes:
            del self._answered[next(iter(self._answered))]
        return [reply]

    def _run_handshake(self, sequence: int, message1: bytes, enrol: bool, now: datetime) -> Frame:
        state = self.state
        responder = Responder(
            state.static, prologue(state.serial), enrol, self.entropy, self.stats.meter
        )
        try:
            initiator_static = responder.read_identity(message1)
        except HandshakeFailure as failure:
            self._event(SecurityEventKind.HANDSHAKE_FAILED, str(failure), None)
            return self._refuse(sequence, RefusalReason.FAILED)
        initiator = key_id(initiator_static)
        enrolled = state.controllers.get(initiator)
        if not enrol and enrolled is None:
            if initiator in state.revoked:
                self._event(SecurityEventKind.REVOKED_CONTROLLER, "revoked key", initiator)
                return self._refuse(sequence, RefusalReason.REVOKED)
            self._event(SecurityEventKind.UNKNOWN_CONTROLLER, "key not enrolled", initiator)
            return self._refuse(sequence, RefusalReason.UNKNOWN_CONTROLLER)
        try:
            hello_bytes = responder.finish_read(
                state.device_secret.psk(state.serial) if enrol else None
            )
        except HandshakeFailure:
            if enrol:
                state.pairing.fail(now)
                self._dirty = True
                self._event(
                    SecurityEventKind.PAIRING_WRONG_SECRET, "wrong device secret", initiator
                )
                return self._refuse(sequence, RefusalReason.WRONG_SECRET)
            self._event(SecurityEventKind.HANDSHAKE_FAILED, "message 1 forged", initiator)
            return self._refuse(sequence, RefusalReason.FAILED)
        decoded = self.registry.decode(hello_bytes, HandshakeHello)
        if not isinstance(decoded, Decoded):
            self._event(SecurityEventKind.MALFORMED_PAYLOAD, decoded.detail, initiator)
            return self._refuse(sequence, RefusalReason.FAILED)
        hello: HandshakeHello = decoded.value
        if hello.timestamp <= state.last_hello.get(initiator, -1):
            self._event(SecurityEventKind.HANDSHAKE_REPLAY, "stale handshake timestamp", initiator)
            return self._refuse(sequence, RefusalReason.REPLAY)
        state.last_hello[initiator] = hello.timestamp
        self._dirty = True

        if enrol:
            role = hello.role or Role.CLINICIAN
            if initiator not in state.controllers and len(state.controllers) >= MAX_CONTROLLERS:
                self._event(SecurityEventKind.ENROLMENT_REFUSED, "allow-list full", initiator)
                return self._refuse(sequence, RefusalReason.FULL)
            state.pairing.succeed()
            state.revoked.pop(initiator, None)
            enrolled = EnrolledController(
                initiator_static, role, hello.label[:64], now, "device secret"
            )
            state.controllers[initiator] = enrolled
            self._event(
                SecurityEventKind.ENROLLED,
                f"{role.value} {enrolled.label!r} by device secret",
                initiator,
            )
        assert enrolled is not None

        if len(self.sessions) >= self.limits.max_sessions:
            oldest = min(self.sessions, key=lambda sid: self.sessions[sid].last_active)
            del self.sessions[oldest]
        session_id = self.entropy(SESSION_ID_LEN)
        welcome = HandshakeWelcome(
            session_id,
            enrolled.role,
            initiator,
            state.serial,
            int(self.limits.idle_timeout.total_seconds()),
            now,
        )
        message2, keys = responder.write_message_2(self.registry.encode(welcome))
        self.sessions[session_id] = _Session(
            SessionCipher(session_id, keys), initiator, enrolled.role, now, now, keys.handshake_hash
        )
        self._event(
            SecurityEventKind.SESSION_STARTED,
            f"{enrolled.role.value} session {session_id.hex()} "
            f"handshake {keys.handshake_hash.hex()[:16]}",
            initiator,
        )
        return Frame(FrameType.HANDSHAKE_RESPONSE, sequence, message2)

    # -- sessions -----------------------------------------------------------------

    def _data(self, frame: Frame) -> list[Frame]:
        now = self.clock()
        session_id = frame.payload[:SESSION_ID_LEN]
        session = self.sessions.get(session_id)
        if session is None or len(session_id) != SESSION_ID_LEN:
            self._event(SecurityEventKind.SESSION_UNKNOWN, f"session {session_id.hex()}", None)
            return [Frame(FrameType.SESSION_UNKNOWN, frame.sequence, session_id)]
        if (
            now - session.last_active > self.limits.idle_timeout
            or now - session.started > self.limits.max_session_age
            or session.cipher.exhausted
        ):
            del self.sessions[session_id]
            self._event(
                SecurityEventKind.SESSION_EXPIRED, f"session {session_id.hex()}", session.key_id
            )
            return [Frame(FrameType.SESSION_UNKNOWN, frame.sequence, session_id)]
        opened = session.cipher.open(frame)
        if isinstance(opened, OpenFailure):
            kind = (
                SecurityEventKind.FRAME_REPLAY
                if opened in (OpenFailure.REPLAY, OpenFailure.TOO_OLD)
                else SecurityEventKind.FRAME_FORGED
            )
            self._event(kind, f"{opened.value} frame {frame.sequence}", session.key_id)
            return []
        session.last_active = now
        decoded = self.registry.decode(opened.plaintext, Call)
        if not isinstance(decoded, Decoded):
            self._event(SecurityEventKind.MALFORMED_PAYLOAD, decoded.detail, session.key_id)
            return []
        reply = self._answer(session, decoded.value, opened.plaintext)
        if session_id not in self.sessions:  # the call revoked this very session's key
            return []
        return [session.cipher.seal(reply)]

    def _answer(self, session: _Session, call: Call, raw: bytes) -> bytes:
        """The encoded `Reply` to `call`, from memory if this request id was answered."""
        digest = hashlib.sha256(self.registry.encode(call.body)).hexdigest()
        cache = self.state.responses.get(session.key_id)
        remembered = cache.get(call.request_id) if cache is not None else None
        if remembered is not None:
            if remembered[0] == digest:
                return remembered[1]
            self._event(
                SecurityEventKind.REQUEST_ID_REUSED,
                f"request {call.request_id} reused for a different command",
                session.key_id,
            )
            refused = Rejected(
                Rejection.INVALID_ARGUMENT,
                f"request id {call.request_id} was already used for a different command",
            )
            return self.registry.encode(Reply(call.request_id, refused))
        response = self._execute(session, call)
        encoded = self.registry.encode(Reply(call.request_id, response))
        self.state.remember_response(session.key_id, call.request_id, digest, encoded)
        self._dirty = True
        return encoded

    def _execute(self, session: _Session, call: Call) -> Response:
        body = call.body
        if isinstance(body, EnrolController | RevokeController | ListControllers):
            return self._link_command(session, body)
        if not permitted(session.role, body):
            self._event(
                SecurityEventKind.ROLE_VIOLATION,
                f"{session.role.value} sent {type(body).__name__}",
                session.key_id,
            )
            return Rejected(
                Rejection.NOT_PERMITTED,
                f"a {session.role.value} controller may not send {type(body).__name__}",
            )
        self.stats.commands_handled += 1
        request = Request(f"{session.key_id}:{call.request_id}", session.role, body)
        return self.handler.handle(request)

    def _link_command(
        self, session: _Session, body: EnrolController | RevokeController | ListControllers
    ) -> Response:
        state = self.state
        if session.role is not Role.CLINICIAN:
            self._event(
                SecurityEventKind.ROLE_VIOLATION,
                f"{session.role.value} sent {type(body).__name__}",
                session.key_id,
            )
            return Rejected(
                Rejection.NOT_PERMITTED, "only a clinician programmer manages controllers"
            )
        now = self.clock()
        if isinstance(body, ListControllers):
            return Accepted("controllers", self._controller_list())
        if isinstance(body, EnrolController):
            if len(body.public_key) != 32:
                return Rejected(Rejection.INVALID_ARGUMENT, "a public key is 32 bytes")
            new_id = key_id(body.public_key)
            if new_id not in state.controllers and len(state.controllers) >= MAX_CONTROLLERS:
                self._event(SecurityEventKind.ENROLMENT_REFUSED, "allow-list full", session.key_id)
                return Rejected(
                    Rejection.INVALID_STATE,
                    f"{MAX_CONTROLLERS} controllers are enrolled; revoke one first",
                )
            state.revoked.pop(new_id, None)
            state.controllers[new_id] = EnrolledController(
                body.public_key, body.role, body.label[:64], now, session.key_id
            )
            self._dirty = True
            self._event(
                SecurityEventKind.ENROLLED,
                f"{body.role.value} {body.label[:64]!r} enrolled as {new_id}",
                session.key_id,
            )
            return Accepted(f"enrolled {body.role.value} controller {new_id}", new_id)
        # RevokeController
        if body.key_id == session.key_id:
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                "a programmer cannot revoke itself; revoke it from another clinician programmer",
            )
        if body.key_id not in state.controllers:
            return Rejected(Rejection.INVALID_ARGUMENT, f"no enrolled controller {body.key_id}")
        del state.controllers[body.key_id]
        state.revoked[body.key_id] = now
        state.responses.pop(body.key_id, None)
        self.end_sessions_of(body.key_id)
        self._dirty = True
        self._event(SecurityEventKind.REVOKED, f"revoked {body.key_id}", session.key_id)
        return Accepted(f"revoked {body.key_id}; its sessions are closed", body.key_id)

    def _controller_list(self) -> ControllerList:
        return ControllerList(
            tuple(
                ControllerInfo(c.key_id, c.role, c.label, c.enrolled_at, c.enrolled_by)
                for c in self.state.controllers.values()
            ),
            tuple(sorted(self.state.revoked)),
        )
