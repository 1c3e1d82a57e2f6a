"""The telemetry frame: the one binary envelope every byte on the link travels in.

Layout (all integers big-endian), version 1::

    offset  size  field
    0       2     magic  b"TL"
    2       1     version (1)
    3       4     payload length n (0 .. MAX_PAYLOAD)
    7       1     frame type (`FrameType`)
    8       8     sequence number (u64; for DATA frames the AEAD nonce counter)
    16      n     payload
    16+n    4     CRC-32 of bytes 0 .. 16+n

The CRC catches radio corruption early and cheaply; it is not a security measure
(anyone can compute it). Authenticity comes from the AEAD inside DATA frames, whose
associated data is the frame header, so a header cannot be altered either.

`decode_frame` never raises for bad input: it returns a `FrameError` naming what was
wrong, and the caller logs it. `FrameReader` cuts frames out of a byte stream (TCP).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "MAX_FRAME",
    "MAX_PAYLOAD",
    "TRAILER_SIZE",
    "VERSION",
    "Frame",
    "FrameError",
    "FrameProblem",
    "FrameReader",
    "FrameType",
    "decode_frame",
    "encode_frame",
]

MAGIC = b"TL"
VERSION = 1
MAX_PAYLOAD = 64 * 1024
"""Largest payload accepted (bytes): bounds memory per frame on both sides."""

_HEADER = struct.Struct(">2sBIBQ")
HEADER_SIZE = _HEADER.size  # 16
TRAILER_SIZE = 4
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + TRAILER_SIZE
MAX_SEQUENCE = 2**64 - 1


class FrameType(IntEnum):
    """What a frame carries."""

    IDENTIFY = 0x01
    """Controller asks who is there (plaintext, empty payload)."""
    IDENTITY = 0x02
    """Pump answers with its serial, model and static public key (plaintext)."""
    HANDSHAKE_INIT = 0x10
    """First handshake message (mode byte, cookie, Noise message 1)."""
    COOKIE = 0x11
    """Pump's cookie reply: retry the same first message carrying this cookie."""
    HANDSHAKE_RESPONSE = 0x12
    """Second handshake message (Noise message 2)."""
    HANDSHAKE_REFUSED = 0x13
    """Plaintext refusal of a handshake (reason code, retry-after seconds)."""
    DATA = 0x20
    """Encrypted session traffic (session id, AEAD ciphertext)."""
    SESSION_UNKNOWN = 0x21
    """Plaintext: that session id is not (or no longer) known; handshake again."""


class FrameProblem(IntEnum):
    TRUNCATED = 1
    BAD_MAGIC = 2
    BAD_VERSION = 3
    TOO_LONG = 4
    BAD_LENGTH = 5
    BAD_TYPE = 6
    BAD_CHECKSUM = 7


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    type: FrameType
    sequence: int
    payload: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.sequence <= MAX_SEQUENCE:
            raise ValueError(f"sequence number {self.sequence} is outside 0 .. 2**64-1")
        if len(self.payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")

    def header(self) -> bytes:
        """The 16 header bytes (used as AEAD associated data)."""
        return _HEADER.pack(MAGIC, VERSION, len(self.payload), int(self.type), self.sequence)


@dataclass(frozen=True)
class FrameError:
    """Why some bytes are not a frame (an expected outcome on a noisy link)."""

    problem: FrameProblem
    detail: str


def encode_frame(frame: Frame) -> bytes:
    """The wire bytes of `frame`."""
    body = frame.header() + frame.payload
    return body + struct.pack(">I", zlib.crc32(body))


def _check_header(data: bytes) -> tuple[int, FrameType] | FrameError:
    magic, version, length, kind, _sequence = _HEADER.unpack_from(data)
    if magic != MAGIC:
        return FrameError(FrameProblem.BAD_MAGIC, f"magic {magic!r} is not {MAGIC!r}")
    if version != VERSION:
        return FrameError(
            FrameProblem.BAD_VERSION, f"version {version}; this side speaks {VERSION}"
        )
    if length > MAX_PAYLOAD:
        return FrameError(FrameProblem.TOO_LONG, f"payload length {length} exceeds {MAX_PAYLOAD}")
    try:
        frame_type = FrameType(kind)
    except ValueError:
        return FrameError(FrameProblem.BAD_TYPE, f"unknown frame type 0x{kind:02x}")
    return length, frame_type


def decode_frame(data: bytes) -> Frame | FrameError:
    """Decode exactly one frame occupying all of `data`; never raises for bad input."""
    if len(data) < HEADER_SIZE + TRAILER_SIZE:
        return FrameError(FrameProblem.TRUNCATED, f"{len(data)} bytes is shorter than a frame")
    checked = _check_header(data)
    if isinstance(checked, FrameError):
        return checked
    length, frame_type = checked
    if len(data) != HEADER_SIZE + length + TRAILER_SIZE:
        return FrameError(
            FrameProblem.BAD_LENGTH,
            f"header says {length} payload bytes but {len(data) - HEADER_SIZE - TRAILER_SIZE} "
            "arrived",
        )
    body = data[: HEADER_SIZE + length]
    (crc,) = struct.unpack_from(">I", data, HEADER_SIZE + length)
    if zlib.crc32(body) != crc:
        return FrameError(FrameProblem.BAD_CHECKSUM, "checksum does not match")
    sequence = _HEADER.unpack_from(data)[4]
    return Frame(frame_type, sequence, bytes(data[HEADER_SIZE : HEADER_SIZE + length]))


class FrameReader:
    """Cuts frames out of a byte stream (TCP).

    `feed` bytes as they arrive and iterate `frames()`. A stream cannot be trusted to
    resynchronise after garbage, so the first malformed frame is yielded as a
    `FrameError` and the reader stops: the caller closes the connection.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.failed: FrameError | None = None

    def feed(self, data: bytes) -> None:
        if self.failed is None:
            self._buffer.extend(data)

    def frames(self) -> Iterator[Frame | FrameError]:
        while self.failed is None and len(self._buffer) >= HEADER_SIZE:
            checked = _check_header(bytes(self._buffer[:HEADER_SIZE]))
            if isinstance(checked, FrameError):
                self.failed = checked
                self._buffer.clear()
                yield checked
                return
            total = HEADER_SIZE + checked[0] + TRAILER_SIZE
            if len(self._buffer) < total:
                return
            raw = bytes(self._buffer[:total])
            del self._buffer[:total]
            decoded = decode_frame(raw)
            if isinstance(decoded, FrameError):
                self.failed = decoded
                self._buffer.clear()
            yield decoded

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet a whole frame."""
        return len(self._buffer)
