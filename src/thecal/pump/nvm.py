"""Non-volatile memory: checksummed records with atomic commit.

Each record (a key such as ``"prescription"``) lives in two slots. A write goes to the
slot that does not hold the newest valid copy, as one image: an 8-byte sequence number,
a CRC-32 over sequence and payload, then the payload. Reading takes the valid slot with
the highest sequence number. A power loss in the middle of a write leaves a torn image
whose checksum fails, so the record reads as the old value: old or new, never a mix.

Corruption after a successful commit (a flipped bit) is found two ways: at boot a
record with no valid slot is unreadable (`RecordCorrupt`); at run time the firmware
knows which sequence number it committed and `verify` says whether that slot is intact
(the older slot may still be valid, but silently reverting to it would be worse than
stopping).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from thecal.pump.codec import register

__all__ = ["NonVolatileMemory", "PowerInterrupted", "RecordCorrupt"]

_HEADER = struct.Struct(">QI")


class PowerInterrupted(Exception):
    """Power failed while the memory was being written; the pump restarts from NVM."""


class RecordCorrupt(Exception):
    """A record was written but neither of its slots passes its checksum."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"non-volatile record {key!r} fails its checksum")


def _image(seq: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "big")))
    return _HEADER.pack(seq, crc) + payload


def _parse(image: bytes | None) -> tuple[int, bytes] | None:
    """(sequence, payload) of an intact slot image, else None."""
    if image is None or len(image) < _HEADER.size:
        return None
    seq, crc = _HEADER.unpack_from(image)
    payload = image[_HEADER.size :]
    if zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "big"))) != crc:
        return None
    return seq, payload


@dataclass
class NonVolatileMemory:
    """Two-slot records keyed by name. `tear_next_write` (a byte offset) makes the next
    write stop after that many bytes and raise `PowerInterrupted` (a fault hook)."""

    cells: dict[str, tuple[bytes | None, bytes | None]] = field(default_factory=dict)
    tear_next_write: int | None = None

    def write(self, key: str, payload: bytes) -> int:
        """Commit `payload` as the newest value of `key`; returns its sequence number."""
        slots = self.cells.get(key, (None, None))
        parsed = [_parse(slot) for slot in slots]
        seqs = [p[0] if p is not None else -1 for p in parsed]
        newest = max(seqs)
        target = 0 if seqs[0] < seqs[1] else 1
        if seqs[0] == seqs[1] == -1:
            target = 0
        seq = newest + 1 if newest >= 0 else 1
        image = _image(seq, payload)
        if self.tear_next_write is not None:
            cut = max(0, min(self.tear_next_write, len(image)))
            self.tear_next_write = None
            old = slots[target] or b""
            torn = image[:cut] + old[cut:]
            self.cells[key] = _replace(slots, target, torn)
            if cut < len(image):
                raise PowerInterrupted(f"power lost while writing {key!r}")
            raise PowerInterrupted(f"power lost just after writing {key!r}")
        self.cells[key] = _replace(slots, target, image)
        return seq

    def read(self, key: str) -> bytes | None:
        """The newest intact payload of `key`; None if never written; `RecordCorrupt`
        if written but no slot is intact."""
        found = self.read_with_seq(key)
        return None if found is None else found[1]

    def read_with_seq(self, key: str) -> tuple[int, bytes] | None:
        """Like `read`, with the sequence number of the slot read."""
        slots = self.cells.get(key)
        if slots is None or (slots[0] is None and slots[1] is None):
            return None
        best: tuple[int, bytes] | None = None
        for slot in slots:
            parsed = _parse(slot)
            if parsed is not None and (best is None or parsed[0] > best[0]):
                best = parsed
        if best is None:
            raise RecordCorrupt(key)
        return best

    def verify(self, key: str, seq: int) -> bool:
        """Whether the slot holding sequence `seq` of `key` is intact."""
        for slot in self.cells.get(key, (None, None)):
            parsed = _parse(slot)
            if parsed is not None and parsed[0] == seq:
                return True
        return False

    def corrupt(self, key: str) -> bool:
        """Flip one payload byte of the newest slot of `key` (a fault); False if absent."""
        slots = self.cells.get(key)
        if slots is None:
            return False
        parsed = [_parse(slot) for slot in slots]
        seqs = [p[0] if p is not None else -1 for p in parsed]
        index = 0 if seqs[0] >= seqs[1] else 1
        image = slots[index]
        if image is None:
            return False
        at = min(len(image) - 1, _HEADER.size + (len(image) - _HEADER.size) // 2)
        flipped = image[:at] + bytes([image[at] ^ 0x5A]) + image[at + 1 :]
        self.cells[key] = _replace(slots, index, flipped)
        return True

    def keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.cells))


def _replace(
    slots: tuple[bytes | None, bytes | None], index: int, image: bytes
) -> tuple[bytes | None, bytes | None]:
    return (image, slots[1]) if index == 0 else (slots[0], image)


register(NonVolatileMemory)
