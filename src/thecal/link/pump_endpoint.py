"""The pump side of the link: frames in, frames out, commands to the firmware.

`PumpEndpoint` is sans-I/O: a transport hands it the bytes (or frames) it received and
sends whatever comes back. It owns the pump's half of everything in this package:
cookies, admission tags and handshake budgets, the handshake itself, credentials,
enrolment, expiry and revocation, sessions with their timeouts and replay windows, the
role check, and the response memory that makes a retried request safe. Every refusal
is written to the security log.

Who may do what is decided here, never claimed by the sender:

* a **clinician** is a key enrolled as clinician: by pairing with the implant card's
  device secret *and* a credential from an authority this pump trusts for that role,
  or by another clinician's `EnrolController`;
* the card secret **alone** pairs at most a **patient** controller, and only while a
  clinician session has opened the window (`OpenPairing`); one per window;
* an **emergency** programmer (not enrolled) shows a credential from an authority
  trusted for emergency access and gets a session limited to interrogate, stop,
  minimum rate and alarm acknowledgement (`thecal.pump.commands.EMERGENCY_COMMANDS`);
* a **revoked** key stays revoked, whatever it presents, until a clinician session
  enrols it again; an **expired** enrolment admits nothing until renewed.

Commands go to the firmware as `Request`s whose id is namespaced by the sender's key
(two controllers cannot collide) and whose role is the one the handshake proved.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from thecal.link.authority import CredentialProblem, TrustedAuthority, check_credential
from thecal.link.codec import Decoded, TypeRegistry
from thecal.link.events import SecurityEvent, SecurityEventKind, SecurityLog
from thecal.link.frame import Frame, FrameError, FrameType, decode_frame, encode_frame
from thecal.link.guard import (
    ADMISSION_LEN,
    COOKIE_LEN,
    HandshakeGuard,
    admission_key,
    admission_tag,
)
from thecal.link.keys import Entropy, key_id
from thecal.link.messages import (
    LINK_COMMANDS,
    MAX_DIGEST_EVENTS,
    AuthorityInfo,
    Call,
    ControllerInfo,
    ControllerList,
    EnrolController,
    HandshakeHello,
    HandshakeRefusal,
    HandshakeWelcome,
    KindCount,
    LinkCommand,
    ListControllers,
    OpenPairing,
    PumpIdentity,
    ReadSecurityLog,
    RefusalReason,
    RemoveAuthority,
    Reply,
    RevokeController,
    SecurityDigest,
    SecurityEventInfo,
    TrustAuthority,
    wire_registry,
)
from thecal.link.noise import MESSAGE1_OVERHEAD, HandshakeFailure, Responder, WorkMeter
from thecal.link.pump_state import (
    MAGNET,
    MAX_CONTROLLERS,
    EnrolledController,
    PumpLinkState,
)
from thecal.link.session import SESSION_ID_LEN, OpenFailure, SessionCipher, pad, unpad
from thecal.pump.commands import Accepted, Rejected, Rejection, Request, Response, Role, permitted

__all__ = [
    "HELLO_PAD",
    "MODES",
    "MODE_CREDENTIAL",
    "MODE_ENROL",
    "MODE_SESSION",
    "PROTOCOL_VERSION",
    "WELCOME_PAD",
    "CommandHandler",
    "Handled",
    "LinkLimits",
    "PumpEndpoint",
    "prologue",
]

PROTOCOL_VERSION = 1
MODE_SESSION = 0
"""An enrolled controller opens a session."""
MODE_ENROL = 1
"""Pairing with the implant card's device secret (Noise IKpsk1)."""
MODE_CREDENTIAL = 2
"""A programmer that is not enrolled opens an emergency session with its credential."""
MODES = (MODE_SESSION, MODE_ENROL, MODE_CREDENTIAL)
HELLO_PAD = 512
"""Message 1's payload is padded to this size, credential or not, so its length does
not tell a clinician from a patient controller."""
WELCOME_PAD = 256
_INIT_HEADER = 1 + COOKIE_LEN + ADMISSION_LEN
LABEL_MAX = 64


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
    handshake_rate: float = 0.2  # per second of pump time, shared by all unadmitted
    reserved_burst: int = 8
    reserved_rate: float = 0.5  # per second of pump time, per enrolled controller
    remembered_handshakes: int = 64


@dataclass(frozen=True)
class Handled:
    """What the pump answers to one frame, and whose authenticated traffic the frame was
    (a session's key id, once a handshake completed or a session frame authenticated):
    the transport keeps connections that carry authenticated traffic over those that do
    not."""

    replies: list[Frame]
    key_id: str | None = None


@dataclass
class _Session:
    cipher: SessionCipher
    key_id: str
    role: Role
    started: datetime
    last_active: datetime
    handshake_hash: bytes
    expires_at: datetime | None = None


@dataclass
class _Answered:
    """An answered message 1, so an identical retransmission gets the same answer free."""

    message1: bytes
    reply: Frame
    key_id: str | None


@dataclass
class EndpointStats:
    meter: WorkMeter = field(default_factory=WorkMeter)
    frames_in: int = 0
    frames_out: int = 0
    cookies_issued: int = 0
    commands_handled: int = 0


@dataclass(frozen=True)
class _Refused:
    reason: RefusalReason
    retry_after: timedelta | None = None


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
            self.limits.handshake_burst,
            self.limits.handshake_rate,
            entropy=entropy,
            reserved_burst=self.limits.reserved_burst,
            reserved_rate=self.limits.reserved_rate,
        )
        self.stats = EndpointStats()
        self.sessions: dict[bytes, _Session] = {}
        self._answered: dict[bytes, _Answered] = {}  # by initiator ephemeral key
        self._admission: dict[str, bytes | None] = {}  # key id -> admission key
        self._dirty = False

    # -- public -----------------------------------------------------------------

    def open_pairing(self, duration: timedelta, opened_by: str = MAGNET) -> None:
        """Open the device-secret pairing window: by the physical action (magnet or
        programming head, `MAGNET`: only a programmer with a credential may pair), or
        from a clinician session (`opened_by` its key id: a patient controller may pair
        with the card alone)."""
        now = self.clock()
        self.state.pairing.open_until = now + duration
        self.state.pairing.opened_by = opened_by
        who = "by magnet" if opened_by == MAGNET else "by a clinician session"
        self._event(SecurityEventKind.PAIRING_OPENED, f"for {duration} {who}", None)
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
        return self.handle_frame(frame).replies

    def handle_frame(self, frame: Frame) -> Handled:
        """Handle one decoded frame: the frames to send back, and whose traffic it was."""
        self.stats.frames_in += 1
        self.log.flush(self.clock())
        if frame.type is FrameType.IDENTIFY:
            handled = Handled(self._identify(frame))
        elif frame.type is FrameType.HANDSHAKE_INIT:
            handled = self._handshake(frame)
        elif frame.type is FrameType.DATA:
            handled = self._data(frame)
        else:
            self._event(
                SecurityEventKind.UNEXPECTED_FRAME, f"{frame.type.name} is not sent to a pump", None
            )
            handled = Handled([])
        self._flush()
        self.stats.frames_out += len(handled.replies)
        return handled

    def busy_frame(self, retry_after_s: int) -> Frame:
        """The plaintext "busy, retry after N s" a transport sends when it sheds or
        refuses a connection (the controller shows it as busy, not as silence)."""
        return self._refusal_frame(0, RefusalReason.BUSY, timedelta(seconds=retry_after_s))

    def note(self, kind: SecurityEventKind, detail: str) -> None:
        """Log something the transport did (a connection shed or refused)."""
        self._event(kind, detail, None)

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

    def _refusal_frame(
        self, sequence: int, reason: RefusalReason, retry_after: timedelta | None = None
    ) -> Frame:
        seconds = None if retry_after is None else max(1, int(retry_after.total_seconds() + 0.999))
        return self._plain(FrameType.HANDSHAKE_REFUSED, sequence, HandshakeRefusal(reason, seconds))

    # -- IDENTIFY -----------------------------------------------------------------

    def _identify(self, frame: Frame) -> list[Frame]:
        if self.state.pairing.is_open(self.clock()):
            identity = PumpIdentity(
                self.state.serial, self.state.model, self.state.static.public,
                PROTOCOL_VERSION, True,
            )  # fmt: skip
        else:  # to a stranger, one thecal pump looks like any other
            identity = PumpIdentity("", "", b"", PROTOCOL_VERSION, False)
        return [self._plain(FrameType.IDENTITY, frame.sequence, identity)]

    # -- handshake ----------------------------------------------------------------

    def _handshake(self, frame: Frame) -> Handled:
        payload = frame.payload
        now = self.clock()
        if len(payload) < _INIT_HEADER + MESSAGE1_OVERHEAD or payload[0] not in MODES:
            self._event(SecurityEventKind.MALFORMED_FRAME, "handshake message 1 malformed", None)
            return Handled([])
        mode = payload[0]
        cookie = payload[1 : 1 + COOKIE_LEN]
        tag = payload[1 + COOKIE_LEN : _INIT_HEADER]
        message1 = payload[_INIT_HEADER:]
        ephemeral = message1[:32]

        # An identical retransmission of an answered message 1: the same answer, no work.
        answered = self._answered.get(ephemeral)
        if answered is not None and answered.message1 == message1:
            return Handled([answered.reply], answered.key_id)

        if mode == MODE_ENROL:
            if not self.state.pairing.is_open(now):
                self._event(
                    SecurityEventKind.PAIRING_CLOSED, "pairing attempt outside the window", None
                )
                return Handled([self._refusal_frame(frame.sequence, RefusalReason.PAIRING_CLOSED)])
            locked = self.state.pairing.locked(now)
            if locked is not None:
                self._event(SecurityEventKind.PAIRING_LOCKED, f"locked until {locked}", None)
                return Handled(
                    [
                        self._refusal_frame(
                            frame.sequence, RefusalReason.PAIRING_LOCKED, locked - now
                        )
                    ]
                )

        if not self.guard.cookie_valid(ephemeral, cookie, now):
            self.stats.cookies_issued += 1
            issued = self.guard.issue_cookie(ephemeral, now)
            return Handled([Frame(FrameType.COOKIE, frame.sequence, issued)])
        if self.guard.seen(ephemeral):
            self._event(SecurityEventKind.HANDSHAKE_REPLAY, "ephemeral key reused", None)
            return Handled([self._refusal_frame(frame.sequence, RefusalReason.REPLAY)])
        admitted = self._admitted(tag, cookie, message1)
        wait = self.guard.bucket_for(admitted).take(now)
        if wait is not None:
            whose = "reserved budget of " + admitted if admitted else "general budget"
            self._event(
                SecurityEventKind.HANDSHAKE_RATE_LIMITED,
                f"{whose} spent; retry in {wait:.0f} s",
                admitted,
            )
            return Handled(
                [self._refusal_frame(frame.sequence, RefusalReason.BUSY, timedelta(seconds=wait))]
            )
        self.guard.remember(ephemeral)

        outcome = self._run_handshake(message1, mode, admitted, now)
        if isinstance(outcome, _Refused):
            reply = self._refusal_frame(frame.sequence, outcome.reason, outcome.retry_after)
            key = None
        else:
            reply, key = Frame(FrameType.HANDSHAKE_RESPONSE, frame.sequence, outcome[0]), outcome[1]
        self._answered[ephemeral] = _Answered(message1, reply, key)
        while len(self._answered) > self.limits.remembered_handshakes:
            del self._answered[next(iter(self._answered))]
        return Handled([reply], key)

    def _admitted(self, tag: bytes, cookie: bytes, message1: bytes) -> str | None:
        """The enrolled controller whose admission tag `tag` is, if any (HMACs only)."""
        if not any(tag):
            return None
        for key, controller in self.state.controllers.items():
            secret = self._admission_key(key, controller.public_key)
            if secret is not None and hmac.compare_digest(
                admission_tag(secret, cookie, message1), tag
            ):
                return key
        return None

    def _admission_key(self, key: str, public: bytes) -> bytes | None:
        if key not in self._admission:
            self.stats.meter.dh += 1  # once per enrolled controller
            try:
                self._admission[key] = admission_key(self.state.static, public, self.state.serial)
            except ValueError:  # a degenerate public key: it can never be admitted
                self._admission[key] = None
        return self._admission[key]

    def _run_handshake(
        self, message1: bytes, mode: int, admitted: str | None, now: datetime
    ) -> tuple[bytes, str] | _Refused:
        state = self.state
        enrol = mode == MODE_ENROL
        responder = Responder(
            state.static, prologue(state.serial), enrol, self.entropy, self.stats.meter
        )
        try:
            initiator_static = responder.read_identity(message1)
        except HandshakeFailure as failure:
            self._event(SecurityEventKind.HANDSHAKE_FAILED, str(failure), None)
            return _Refused(RefusalReason.FAILED)
        initiator = key_id(initiator_static)
        if admitted is not None and admitted != initiator:
            self._event(SecurityEventKind.HANDSHAKE_FAILED, "admission tag of another key", None)
            return _Refused(RefusalReason.FAILED)
        enrolled = state.controllers.get(initiator)
        # One DH so far. Refuse now whatever cannot succeed, before the second.
        if enrolled is None and initiator in state.revoked:
            self._event(SecurityEventKind.REVOKED_CONTROLLER, "revoked key", initiator)
            return _Refused(RefusalReason.REVOKED)
        if mode == MODE_SESSION and enrolled is None:
            self._event(SecurityEventKind.UNKNOWN_CONTROLLER, "key not enrolled", initiator)
            return _Refused(RefusalReason.UNKNOWN_CONTROLLER)
        if mode == MODE_CREDENTIAL and not any(
            Role.EMERGENCY in a.roles or Role.CLINICIAN in a.roles
            for a in state.authorities.values()
        ):
            self._event(SecurityEventKind.CREDENTIAL_REFUSED, "no authority trusted", initiator)
            return _Refused(RefusalReason.CREDENTIAL)
        try:
            padded = responder.finish_read(state.device_secret.psk(state.serial) if enrol else None)
        except HandshakeFailure:
            if enrol:
                state.pairing.fail(now)
                self._dirty = True
                self._event(
                    SecurityEventKind.PAIRING_WRONG_SECRET, "wrong device secret", initiator
                )
                return _Refused(RefusalReason.WRONG_SECRET)
            self._event(SecurityEventKind.HANDSHAKE_FAILED, "message 1 forged", initiator)
            return _Refused(RefusalReason.FAILED)
        hello_bytes = unpad(padded)
        if hello_bytes is None:
            self._event(SecurityEventKind.MALFORMED_PAYLOAD, "hello not padded", initiator)
            return _Refused(RefusalReason.FAILED)
        decoded = self.registry.decode(hello_bytes, HandshakeHello)
        if not isinstance(decoded, Decoded):
            self._event(SecurityEventKind.MALFORMED_PAYLOAD, decoded.detail, initiator)
            return _Refused(RefusalReason.FAILED)
        hello: HandshakeHello = decoded.value
        if hello.timestamp <= state.last_hello.get(initiator, -1):
            self._event(SecurityEventKind.HANDSHAKE_REPLAY, "stale handshake timestamp", initiator)
            return _Refused(RefusalReason.REPLAY)
        state.last_hello[initiator] = hello.timestamp
        self._dirty = True
        if enrol:
            state.pairing.succeed()  # the secret was right, whatever follows

        problem: CredentialProblem | None = None
        if hello.credential is not None:
            problem = check_credential(hello.credential, initiator_static, state.authorities, now)

        granted = self._grant(mode, hello, problem, initiator, initiator_static, enrolled, now)
        if isinstance(granted, _Refused):
            return granted
        role, expires_at = granted
        return self._open_session(responder, initiator, role, expires_at, now)

    def _grant(
        self,
        mode: int,
        hello: HandshakeHello,
        problem: CredentialProblem | None,
        initiator: str,
        initiator_static: bytes,
        enrolled: EnrolledController | None,
        now: datetime,
    ) -> tuple[Role, datetime | None] | _Refused:
        """The role (and its end) this handshake earns, or why it earns none."""
        state = self.state
        credential = hello.credential
        if credential is not None and problem is not None:
            self._event(
                SecurityEventKind.CREDENTIAL_REFUSED,
                f"{problem.value} ({credential.role.value} credential of {credential.authority})",
                initiator,
            )
            if mode != MODE_SESSION or enrolled is None or enrolled.expired(now):
                return _Refused(RefusalReason.CREDENTIAL)
            credential = None  # an enrolled controller in good standing does not need it

        if mode == MODE_CREDENTIAL:
            if credential is None:
                self._event(SecurityEventKind.CREDENTIAL_REFUSED, "no credential", initiator)
                return _Refused(RefusalReason.CREDENTIAL)
            self._event(
                SecurityEventKind.EMERGENCY_SESSION,
                f"{credential.label!r} by credential of authority {credential.authority}",
                initiator,
            )
            return Role.EMERGENCY, credential.not_after

        if mode == MODE_ENROL:
            if credential is not None and credential.role is Role.EMERGENCY:
                self._event(
                    SecurityEventKind.EMERGENCY_SESSION,
                    f"{credential.label!r} with the device secret",
                    initiator,
                )
                return Role.EMERGENCY, credential.not_after
            if credential is None:
                if not state.pairing.open_for_patients(now):
                    self._event(
                        SecurityEventKind.ENROLMENT_REFUSED,
                        "the card alone pairs a patient controller only in a window a "
                        "clinician opened",
                        initiator,
                    )
                    return _Refused(RefusalReason.NEEDS_CLINICIAN_WINDOW)
                if enrolled is not None and enrolled.role is not Role.PATIENT:
                    self._event(
                        SecurityEventKind.ENROLMENT_REFUSED,
                        f"the card alone cannot change a {enrolled.role.value}'s enrolment",
                        initiator,
                    )
                    return _Refused(RefusalReason.CREDENTIAL)
            if enrolled is None and len(state.controllers) >= MAX_CONTROLLERS:
                self._event(SecurityEventKind.ENROLMENT_REFUSED, "allow-list full", initiator)
                return _Refused(RefusalReason.FULL)
            role = Role.CLINICIAN if credential is not None else Role.PATIENT
            label = (credential.label if credential is not None else hello.label)[:LABEL_MAX]
            expires = credential.not_after if credential is not None else None
            how = (
                f"device secret and credential of {credential.authority}"
                if credential is not None
                else "device secret"
            )
            state.controllers[initiator] = EnrolledController(
                initiator_static, role, label, now, how, expires
            )
            self._admission.pop(initiator, None)
            if role is Role.PATIENT:
                state.pairing.close()  # one patient controller per clinician action
            self._event(SecurityEventKind.ENROLLED, f"{role.value} {label!r} by {how}", initiator)
            return role, expires

        assert enrolled is not None  # MODE_SESSION of an unknown key was refused earlier
        if enrolled.expired(now):
            renewal = (
                credential is not None
                and credential.role is enrolled.role
                and credential.not_after > now
            )
            if not renewal or credential is None:
                self._event(
                    SecurityEventKind.EXPIRED_CONTROLLER,
                    f"enrolment ended {enrolled.expires_at}",
                    initiator,
                )
                return _Refused(RefusalReason.EXPIRED)
            state.controllers[initiator] = EnrolledController(
                enrolled.public_key, enrolled.role, enrolled.label, enrolled.enrolled_at,
                enrolled.enrolled_by, credential.not_after,
            )  # fmt: skip
            self._event(
                SecurityEventKind.ENROLLED,
                f"{enrolled.role.value} enrolment renewed until {credential.not_after}",
                initiator,
            )
            return enrolled.role, credential.not_after
        return enrolled.role, enrolled.expires_at

    def _open_session(
        self,
        responder: Responder,
        initiator: str,
        role: Role,
        expires_at: datetime | None,
        now: datetime,
    ) -> tuple[bytes, str]:
        if len(self.sessions) >= self.limits.max_sessions:
            oldest = min(self.sessions, key=lambda sid: self.sessions[sid].last_active)
            del self.sessions[oldest]
        session_id = self.entropy(SESSION_ID_LEN)
        welcome = HandshakeWelcome(
            session_id,
            role,
            initiator,
            self.state.serial,
            int(self.limits.idle_timeout.total_seconds()),
            now,
            expires_at,
        )
        encoded = pad(self.registry.encode(welcome), WELCOME_PAD)
        message2, keys = responder.write_message_2(encoded)
        self.sessions[session_id] = _Session(
            SessionCipher(session_id, keys), initiator, role, now, now, keys.handshake_hash,
            expires_at,
        )  # fmt: skip
        self._event(
            SecurityEventKind.SESSION_STARTED,
            f"{role.value} session {session_id.hex()} handshake {keys.handshake_hash.hex()[:16]}",
            initiator,
        )
        return message2, initiator

    # -- sessions -----------------------------------------------------------------

    def _data(self, frame: Frame) -> Handled:
        now = self.clock()
        session_id = frame.payload[:SESSION_ID_LEN]
        session = self.sessions.get(session_id)
        if session is None or len(session_id) != SESSION_ID_LEN:
            self._event(SecurityEventKind.SESSION_UNKNOWN, f"session {session_id.hex()}", None)
            return Handled([Frame(FrameType.SESSION_UNKNOWN, frame.sequence, session_id)])
        if (
            now - session.last_active > self.limits.idle_timeout
            or now - session.started > self.limits.max_session_age
            or (session.expires_at is not None and now >= session.expires_at)
            or session.cipher.exhausted
        ):
            del self.sessions[session_id]
            self._event(
                SecurityEventKind.SESSION_EXPIRED, f"session {session_id.hex()}", session.key_id
            )
            return Handled([Frame(FrameType.SESSION_UNKNOWN, frame.sequence, session_id)])
        opened = session.cipher.open(frame)
        if isinstance(opened, OpenFailure):
            kind = {
                OpenFailure.REPLAY: SecurityEventKind.FRAME_REPLAY,
                OpenFailure.TOO_OLD: SecurityEventKind.FRAME_REPLAY,
                OpenFailure.BAD_PADDING: SecurityEventKind.MALFORMED_PAYLOAD,
            }.get(opened, SecurityEventKind.FRAME_FORGED)
            self._event(kind, f"{opened.value} frame {frame.sequence}", session.key_id)
            return Handled([])
        session.last_active = now
        decoded = self.registry.decode(opened.plaintext, Call)
        if not isinstance(decoded, Decoded):
            self._event(SecurityEventKind.MALFORMED_PAYLOAD, decoded.detail, session.key_id)
            return Handled([], session.key_id)
        reply = self._answer(session, decoded.value)
        if session_id not in self.sessions:  # the call revoked this very session's key
            return Handled([])
        return Handled([session.cipher.seal(reply)], session.key_id)

    def _answer(self, session: _Session, call: Call) -> bytes:
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
        if not isinstance(call.body, ReadSecurityLog):  # a read; its answer is not kept
            self.state.remember_response(session.key_id, call.request_id, digest, encoded)
            self._dirty = True
        return encoded

    def _execute(self, session: _Session, call: Call) -> Response:
        body = call.body
        if isinstance(body, LINK_COMMANDS):
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

    # -- the link's own commands (clinician sessions only) -----------------------------

    def _link_command(self, session: _Session, body: LinkCommand) -> Response:
        if session.role is not Role.CLINICIAN:
            self._event(
                SecurityEventKind.ROLE_VIOLATION,
                f"{session.role.value} sent {type(body).__name__}",
                session.key_id,
            )
            return Rejected(Rejection.NOT_PERMITTED, "only a clinician programmer manages the link")
        now = self.clock()
        if isinstance(body, ListControllers):
            return Accepted("controllers", self._controller_list())
        if isinstance(body, ReadSecurityLog):
            return Accepted("security log", self._digest(body.since))
        if isinstance(body, EnrolController):
            return self._enrol(session, body, now)
        if isinstance(body, RevokeController):
            return self._revoke(session, body, now)
        if isinstance(body, OpenPairing):
            self.open_pairing(timedelta(seconds=body.seconds), opened_by=session.key_id)
            until = self.state.pairing.open_until
            return Accepted(
                f"pairing window open until {until:%Y-%m-%d %H:%M:%S} (pump time): the card "
                "pairs one patient controller",
                until,
            )
        if isinstance(body, TrustAuthority):
            return self._trust(session, body, now)
        assert isinstance(body, RemoveAuthority)
        if body.key_id not in self.state.authorities:
            return Rejected(Rejection.INVALID_ARGUMENT, f"no trusted authority {body.key_id}")
        del self.state.authorities[body.key_id]
        self._dirty = True
        self._event(SecurityEventKind.AUTHORITY_REMOVED, f"authority {body.key_id}", session.key_id)
        return Accepted(f"authority {body.key_id} is no longer trusted", body.key_id)

    def _enrol(self, session: _Session, body: EnrolController, now: datetime) -> Response:
        state = self.state
        if len(body.public_key) != 32:
            return Rejected(Rejection.INVALID_ARGUMENT, "a public key is 32 bytes")
        if body.role is Role.EMERGENCY:
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                "emergency access is never enrolled: it comes with a credential each time",
            )
        if body.expires_at is not None and body.expires_at <= now:
            return Rejected(Rejection.INVALID_ARGUMENT, "the enrolment would already be over")
        new_id = key_id(body.public_key)
        if new_id not in state.controllers and len(state.controllers) >= MAX_CONTROLLERS:
            self._event(SecurityEventKind.ENROLMENT_REFUSED, "allow-list full", session.key_id)
            return Rejected(
                Rejection.INVALID_STATE,
                f"{MAX_CONTROLLERS} controllers are enrolled; revoke one first",
            )
        was_revoked = state.revoked.pop(new_id, None) is not None
        label = body.label[:LABEL_MAX]
        state.controllers[new_id] = EnrolledController(
            body.public_key, body.role, label, now, session.key_id, body.expires_at
        )
        self._admission.pop(new_id, None)
        self._dirty = True
        again = " (its revocation is lifted)" if was_revoked else ""
        self._event(
            SecurityEventKind.ENROLLED,
            f"{body.role.value} {label!r} enrolled as {new_id}{again}",
            session.key_id,
        )
        return Accepted(f"enrolled {body.role.value} controller {new_id}{again}", new_id)

    def _revoke(self, session: _Session, body: RevokeController, now: datetime) -> Response:
        state = self.state
        if body.key_id == session.key_id:
            return Rejected(
                Rejection.INVALID_ARGUMENT,
                "a programmer cannot revoke itself; revoke it from another clinician programmer",
            )
        if len(body.key_id) != 16 or any(c not in "0123456789abcdef" for c in body.key_id):
            return Rejected(
                Rejection.INVALID_ARGUMENT, "a key id is 16 hexadecimal digits (lower case)"
            )
        enrolled = state.controllers.pop(body.key_id, None)
        state.revoked[body.key_id] = now
        state.responses.pop(body.key_id, None)
        self._admission.pop(body.key_id, None)
        self.guard.forget(body.key_id)
        self.end_sessions_of(body.key_id)
        self._dirty = True
        note = "" if enrolled is not None else " (it was not enrolled)"
        self._event(SecurityEventKind.REVOKED, f"revoked {body.key_id}{note}", session.key_id)
        return Accepted(f"revoked {body.key_id}{note}; its sessions are closed", body.key_id)

    def _trust(self, session: _Session, body: TrustAuthority, now: datetime) -> Response:
        try:
            Ed25519PublicKey.from_public_bytes(body.public_key)
            authority = TrustedAuthority(
                body.public_key, body.label[:LABEL_MAX], body.roles, now, session.key_id
            )
            self.state.trust(authority)
        except ValueError as error:
            return Rejected(Rejection.INVALID_ARGUMENT, f"authority: {error}")
        self._dirty = True
        roles = ", ".join(sorted(role.value for role in body.roles))
        self._event(
            SecurityEventKind.AUTHORITY_TRUSTED,
            f"authority {authority.key_id} {authority.label!r} for {roles}",
            session.key_id,
        )
        return Accepted(f"authority {authority.key_id} trusted for {roles}", authority.key_id)

    def _controller_list(self) -> ControllerList:
        return ControllerList(
            tuple(
                ControllerInfo(
                    c.key_id, c.role, c.label, c.enrolled_at, c.enrolled_by, c.expires_at
                )
                for c in self.state.controllers.values()
            ),
            tuple(sorted(self.state.revoked)),
            tuple(
                AuthorityInfo(
                    a.key_id, a.label, tuple(sorted(a.roles)), a.installed_at, a.installed_by
                )
                for a in self.state.authorities.values()
            ),
        )

    def _digest(self, since: int) -> SecurityDigest:
        records = self.log.notable(since, MAX_DIGEST_EVENTS + 1)
        shown = records[:MAX_DIGEST_EVENTS]
        return SecurityDigest(
            tuple(
                SecurityEventInfo(
                    r.seq,
                    r.event.kind,
                    r.event.at,
                    r.event.detail[:200],
                    r.event.key_id,
                    r.event.count,
                )
                for r in shown
            ),
            tuple(KindCount(kind, count) for kind, count in sorted(self.log.counts.items())),
            self.log.last_seq,
            self.log.head,
            len(records) > MAX_DIGEST_EVENTS,
        )
