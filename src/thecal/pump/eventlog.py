"""The pump's event log: bounded, sequence-numbered, kept in non-volatile memory.

Each entry is its own checksummed NVM record in a ring of `capacity` cells, so an
append is atomic and survives power loss. Sequence numbers increase by one with no
gaps; when the ring is full the oldest entry is overwritten (the log's first sequence
number moves on). After a power loss the log is recovered by scanning the ring: an
append torn by the power loss simply did not happen, and its sequence number is used
again, so the retained entries stay gap-free. A cell that fails its checksum is shown
as an `ENTRY_LOST` entry at its sequence number, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from thecal.pump.codec import decode_bytes, encode_bytes, register
from thecal.pump.nvm import NonVolatileMemory, RecordCorrupt

__all__ = ["EventLog", "LogEvent", "LogKind"]


class LogKind(StrEnum):
    IMPLANT = "implant"
    BOOT = "boot"
    COMMAND = "command"
    COMMAND_REJECTED = "command_rejected"
    PRESCRIPTION_WRITTEN = "prescription_written"
    DELIVERY_CHANGED = "delivery_changed"
    BOLUS_STARTED = "bolus_started"
    BOLUS_ENDED = "bolus_ended"
    ALARM_RAISED = "alarm_raised"
    ALARM_ACKNOWLEDGED = "alarm_acknowledged"
    ALARM_CLEARED = "alarm_cleared"
    ALARM_TEST = "alarm_test"
    REFILL = "refill"
    CLOCK_SET = "clock_set"
    SETTINGS_CHANGED = "settings_changed"
    MRI_FIELD = "mri_field"
    MRI_HOLD = "mri_hold"
    FLOW_VALVE_RESET = "flow_valve_reset"
    ENTRY_LOST = "entry_lost"


@dataclass(frozen=True)
class LogEvent:
    """One log entry. `at` is the pump's local time; `details` are (name, value) pairs."""

    seq: int
    at: datetime
    kind: LogKind
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def detail(self, name: str) -> str | None:
        for key, value in self.details:
            if key == name:
                return value
        return None


class EventLog:
    """The log's view of its NVM ring; only `first_seq` and `next_seq` live in RAM."""

    def __init__(self, nvm: NonVolatileMemory, capacity: int, first_seq: int, next_seq: int):
        if capacity < 1:
            raise ValueError("an event log needs at least one cell")
        self.nvm = nvm
        self.capacity = capacity
        self.first_seq = first_seq
        self.next_seq = next_seq

    def _key(self, seq: int) -> str:
        return f"log/{seq % self.capacity}"

    def append(
        self,
        at: datetime,
        kind: LogKind,
        message: str,
        details: tuple[tuple[str, str], ...] = (),
    ) -> LogEvent:
        """Write the next entry (atomically) and return it."""
        event = LogEvent(self.next_seq, at, kind, message, details)
        self.nvm.write(self._key(event.seq), encode_bytes(event))
        self.next_seq += 1
        self.first_seq = max(self.first_seq, self.next_seq - self.capacity)
        return event

    def read(self, seq: int) -> LogEvent:
        """The entry with sequence number `seq` (an `ENTRY_LOST` entry if unreadable)."""
        try:
            raw = self.nvm.read(self._key(seq))
        except RecordCorrupt:
            raw = None
        event = decode_bytes(raw) if raw is not None else None
        if not isinstance(event, LogEvent) or event.seq != seq:
            return LogEvent(
                seq,
                datetime.min,
                LogKind.ENTRY_LOST,
                f"log entry {seq} failed its checksum and was lost",
            )
        return event

    def events(self, since: int | None = None) -> tuple[LogEvent, ...]:
        """Retained entries with a sequence number above `since` (all if None), oldest first."""
        start = self.first_seq if since is None else max(self.first_seq, since + 1)
        return tuple(self.read(seq) for seq in range(start, self.next_seq))

    def intact(self, seq: int) -> bool:
        """Whether the cell of entry `seq` passes its checksum."""
        try:
            raw = self.nvm.read(self._key(seq))
        except RecordCorrupt:
            return False
        return raw is not None

    def repair(self) -> tuple[int, ...]:
        """Rewrite every unreadable retained cell as an `ENTRY_LOST` entry with its own
        sequence number (after a memory error); returns the sequence numbers repaired."""
        repaired = []
        for seq in range(self.first_seq, self.next_seq):
            if not self.intact(seq):
                lost = self.read(seq)
                self.nvm.write(self._key(seq), encode_bytes(lost))
                repaired.append(seq)
        return tuple(repaired)

    @classmethod
    def recover(cls, nvm: NonVolatileMemory, capacity: int) -> EventLog:
        """Rebuild the log's counters from its NVM ring after a restart."""
        newest = 0
        for index in range(capacity):
            try:
                raw = nvm.read(f"log/{index}")
            except RecordCorrupt:
                continue
            if raw is None:
                continue
            event = decode_bytes(raw)
            if isinstance(event, LogEvent):
                newest = max(newest, event.seq)
        next_seq = newest + 1
        return cls(nvm, capacity, max(1, next_seq - capacity), next_seq)


register(LogKind, LogEvent)
