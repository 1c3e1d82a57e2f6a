"""An established secure session: per-direction keys, counter nonces and replay rejection.

Each direction has its own ChaCha20-Poly1305 key from the handshake. The sender numbers
its frames 0, 1, 2, ... and that number is both the frame's sequence field and the AEAD
nonce, so a nonce is never reused under a key (the counter only moves forward and a
session ends before it could wrap). The frame header and the session id are the
associated data, so neither can be altered without the frame failing to authenticate.

A radio link delivers out of order and twice, so the receiver keeps a sliding window
(as DTLS and WireGuard do): a counter already seen, or older than the window, is a
replay and is rejected without being acted on. The window is updated only after a frame
authenticates, so forged frames cannot move it.

Lengths would tell an eavesdropper what is said (a patient's bolus request is shorter
than a clinician's stop), so every plaintext is **padded** before encryption (`pad`:
one 0x80 byte, then zeros) to the smallest of `PAD_MINIMUM` × 2^k bytes that holds it:
every ordinary command and answer of every role is exactly `PAD_MINIMUM` bytes; only
bulk transfers (a prescription, an interrogation) are longer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from thecal.link.frame import MAX_PAYLOAD, Frame, FrameType
from thecal.link.noise import TAG_LEN, TransportKeys, aead_nonce

__all__ = [
    "MAX_MESSAGES",
    "MAX_PLAINTEXT",
    "PAD_MINIMUM",
    "REPLAY_WINDOW",
    "SESSION_ID_LEN",
    "OpenFailure",
    "Opened",
    "ReplayWindow",
    "SessionCipher",
    "pad",
    "padded_size",
    "unpad",
]

REPLAY_WINDOW = 64
SESSION_ID_LEN = 8
MAX_MESSAGES = 2**32
"""A session is retired (a new handshake is needed) long before its counter could wrap."""
MAX_PLAINTEXT = MAX_PAYLOAD - SESSION_ID_LEN - TAG_LEN
PAD_MINIMUM = 1024
_PAD_MARK = 0x80


def padded_size(length: int, minimum: int = PAD_MINIMUM, maximum: int = MAX_PLAINTEXT) -> int:
    """The padded size of a `length`-byte message: the smallest `minimum` × 2^k that holds
    it and its pad mark, at most `maximum`; `ValueError` if even `maximum` is too small."""
    needed = length + 1
    if needed > maximum:
        raise ValueError(f"message of {length} bytes exceeds {maximum - 1}")
    size = minimum
    while size < needed:
        size *= 2
    return min(size, maximum)


def pad(data: bytes, minimum: int = PAD_MINIMUM, maximum: int = MAX_PLAINTEXT) -> bytes:
    """`data`, a 0x80 byte, and zeros up to `padded_size`."""
    size = padded_size(len(data), minimum, maximum)
    return data + bytes([_PAD_MARK]) + bytes(size - len(data) - 1)


def unpad(data: bytes) -> bytes | None:
    """The message inside `pad`'s output, or None if `data` is not padded that way."""
    end = len(data.rstrip(b"\x00"))
    if end == 0 or data[end - 1] != _PAD_MARK:
        return None
    return data[: end - 1]


class OpenFailure(StrEnum):
    TOO_SHORT = "too_short"
    WRONG_SESSION = "wrong_session"
    REPLAY = "replay"
    TOO_OLD = "too_old"
    FORGED = "forged"
    EXHAUSTED = "exhausted"
    BAD_PADDING = "bad_padding"


@dataclass(frozen=True)
class Opened:
    """A frame that authenticated: its counter and plaintext."""

    counter: int
    plaintext: bytes


@dataclass
class ReplayWindow:
    """Which counters have been accepted: the highest, and a bitmap of the ones below it."""

    highest: int = -1
    bitmap: int = 0  # bit i set: counter (highest - i) was accepted
    size: int = REPLAY_WINDOW

    def check(self, counter: int) -> OpenFailure | None:
        """Whether `counter` may be accepted (does not record it)."""
        if counter > self.highest:
            return None
        offset = self.highest - counter
        if offset >= self.size:
            return OpenFailure.TOO_OLD
        if self.bitmap >> offset & 1:
            return OpenFailure.REPLAY
        return None

    def record(self, counter: int) -> None:
        if counter > self.highest:
            shift = counter - self.highest
            self.bitmap = ((self.bitmap << shift) | 1) & ((1 << self.size) - 1)
            self.highest = counter
        else:
            self.bitmap |= 1 << (self.highest - counter)


@dataclass
class SessionCipher:
    """Encrypts outgoing and authenticates incoming DATA frames of one session."""

    session_id: bytes
    keys: TransportKeys
    next_send: int = 0
    window: ReplayWindow = field(default_factory=ReplayWindow)

    def __post_init__(self) -> None:
        self._send = ChaCha20Poly1305(self.keys.send)
        self._receive = ChaCha20Poly1305(self.keys.receive)

    @property
    def exhausted(self) -> bool:
        return self.next_send >= MAX_MESSAGES or self.window.highest >= MAX_MESSAGES

    def seal(self, message: bytes) -> Frame:
        """The DATA frame carrying `message` (padded, see the module) under the next
        counter; `ValueError` if it cannot fit one frame."""
        if self.exhausted:
            raise RuntimeError("session exhausted: handshake again")
        plaintext = pad(message)
        counter = self.next_send
        self.next_send += 1
        length = SESSION_ID_LEN + len(plaintext) + TAG_LEN
        header = Frame(FrameType.DATA, counter, bytes(length)).header()
        sealed = self._send.encrypt(aead_nonce(counter), plaintext, header + self.session_id)
        return Frame(FrameType.DATA, counter, self.session_id + sealed)

    def open(self, frame: Frame) -> Opened | OpenFailure:
        """Authenticate and decrypt a DATA frame of this session; replays are refused."""
        if len(frame.payload) < SESSION_ID_LEN + TAG_LEN:
            return OpenFailure.TOO_SHORT
        if frame.payload[:SESSION_ID_LEN] != self.session_id:
            return OpenFailure.WRONG_SESSION
        if frame.sequence >= MAX_MESSAGES:
            return OpenFailure.EXHAUSTED
        refused = self.window.check(frame.sequence)
        if refused is not None:
            return refused
        try:
            plaintext = self._receive.decrypt(
                aead_nonce(frame.sequence),
                frame.payload[SESSION_ID_LEN:],
                frame.header() + self.session_id,
            )
        except InvalidTag:
            return OpenFailure.FORGED
        self.window.record(frame.sequence)
        message = unpad(plaintext)
        if message is None:  # authentic, so the peer is broken: refuse, but it was seen
            return OpenFailure.BAD_PADDING
        return Opened(frame.sequence, message)
