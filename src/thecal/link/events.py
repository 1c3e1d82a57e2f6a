"""The pump's security log: every refusal on the link, and every change of who may talk.

Each event is a small frozen value (kind, pump time, detail, controller key id when
known, and how many occurrences it stands for). The log

* **counts** every occurrence of every kind, for ever, exactly;
* **rate-limits** repetition: within a window (`REPEAT_WINDOW` of pump time) the first
  `REPEAT_BURST` events of a kind are recorded one by one; further ones are only
  counted, and one summary event ("repeated N more times") is recorded when the window
  ends. A flood of junk frames costs a few records a minute, not a record a frame;
* **chains** the records: each recorded event gets the next sequence number and a
  SHA-256 over the previous record's hash and its own content (`LoggedEvent`), so
  removing, reordering or editing a record breaks the chain from there on
  (`verify_chain`). The chain's head travels to the clinic with each interrogation
  (`thecal.link.messages.SecurityDigest`), so history rewritten later no longer
  matches what the clinic saw;
* keeps recent records in memory, bounded, and **notable** ones (everything but routine
  session starts and expiries) in two more bounded buffers: **changes** of who may talk
  (enrolments, revocations, pairing windows, authorities, emergency sessions: only a
  clinician, the card or a credential can cause them) apart from **refusals** (which
  anyone can cause), so no flood of refusals can push a change out of what the next
  interrogation reports;
* passes each record to an optional sink (the served pump appends them to a rotating
  JSON-lines file, `thecal.link.security_file`) and to the standard `logging` logger
  ``thecal.link.security``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "CHANGES",
    "GENESIS",
    "NOTABLE",
    "REPEAT_BURST",
    "REPEAT_WINDOW",
    "ChainBreak",
    "LoggedEvent",
    "SecurityEvent",
    "SecurityEventKind",
    "SecurityLog",
    "verify_chain",
]

_logger = logging.getLogger("thecal.link.security")
_logger.addHandler(logging.NullHandler())  # the application decides where logs go

REPEAT_WINDOW = timedelta(minutes=1)
REPEAT_BURST = 5
GENESIS = "0" * 64
"""The `prev` of the very first record."""


class SecurityEventKind(StrEnum):
    # refusals
    MALFORMED_FRAME = "malformed_frame"
    MALFORMED_PAYLOAD = "malformed_payload"
    UNEXPECTED_FRAME = "unexpected_frame"
    HANDSHAKE_RATE_LIMITED = "handshake_rate_limited"
    HANDSHAKE_REPLAY = "handshake_replay"
    HANDSHAKE_FAILED = "handshake_failed"
    UNKNOWN_CONTROLLER = "unknown_controller"
    REVOKED_CONTROLLER = "revoked_controller"
    EXPIRED_CONTROLLER = "expired_controller"
    CREDENTIAL_REFUSED = "credential_refused"
    PAIRING_CLOSED = "pairing_closed"
    PAIRING_WRONG_SECRET = "pairing_wrong_secret"
    PAIRING_LOCKED = "pairing_locked"
    SESSION_UNKNOWN = "session_unknown"
    SESSION_EXPIRED = "session_expired"
    FRAME_REPLAY = "frame_replay"
    FRAME_FORGED = "frame_forged"
    ROLE_VIOLATION = "role_violation"
    REQUEST_ID_REUSED = "request_id_reused"
    ENROLMENT_REFUSED = "enrolment_refused"
    CONNECTION_SHED = "connection_shed"
    CONNECTION_REFUSED = "connection_refused"
    # changes and notable successes
    SESSION_STARTED = "session_started"
    EMERGENCY_SESSION = "emergency_session"
    ENROLLED = "enrolled"
    REVOKED = "revoked"
    PAIRING_OPENED = "pairing_opened"
    AUTHORITY_TRUSTED = "authority_trusted"
    AUTHORITY_REMOVED = "authority_removed"


_NOT_REFUSALS = frozenset(
    {
        SecurityEventKind.SESSION_STARTED,
        SecurityEventKind.EMERGENCY_SESSION,
        SecurityEventKind.ENROLLED,
        SecurityEventKind.REVOKED,
        SecurityEventKind.PAIRING_OPENED,
        SecurityEventKind.AUTHORITY_TRUSTED,
        SecurityEventKind.AUTHORITY_REMOVED,
    }
)
REFUSALS = frozenset(kind for kind in SecurityEventKind if kind not in _NOT_REFUSALS)
NOTABLE = frozenset(
    kind
    for kind in SecurityEventKind
    if kind not in {SecurityEventKind.SESSION_STARTED, SecurityEventKind.SESSION_EXPIRED}
)
CHANGES = NOTABLE - REFUSALS
"""What the clinic is told about with the next interrogation: every refusal (rate-limited
into counts) and every change of who may talk; not the routine starts and ends of the
clinic's own sessions."""


@dataclass(frozen=True)
class SecurityEvent:
    kind: SecurityEventKind
    at: datetime
    detail: str
    key_id: str | None = None
    count: int = 1
    """How many occurrences this record stands for (more than 1 for a summary)."""

    @property
    def refusal(self) -> bool:
        return self.kind in REFUSALS

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "detail": self.detail,
            "key_id": self.key_id,
            "count": self.count,
        }


def _digest(prev: str, seq: int, event: SecurityEvent) -> str:
    body = json.dumps({"seq": seq, **event.as_dict()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(bytes.fromhex(prev) + body.encode()).hexdigest()


@dataclass(frozen=True)
class LoggedEvent:
    """A recorded event and its place in the hash chain."""

    seq: int
    event: SecurityEvent
    prev: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.event.as_dict(), "prev": self.prev, "hash": self.hash}

    @classmethod
    def from_dict(cls, raw: Any) -> LoggedEvent:
        """`ValueError` for a record that is not one of ours."""
        if not isinstance(raw, dict):
            raise ValueError("a log record is a JSON object")
        try:
            event = SecurityEvent(
                SecurityEventKind(raw["kind"]),
                datetime.fromisoformat(raw["at"]),
                str(raw["detail"]),
                None if raw["key_id"] is None else str(raw["key_id"]),
                int(raw["count"]),
            )
            return cls(int(raw["seq"]), event, str(raw["prev"]), str(raw["hash"]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a log record ({error})") from None


@dataclass(frozen=True)
class ChainBreak:
    """Where a hash chain stops holding: the record's position and what is wrong."""

    position: int
    problem: str


def verify_chain(records: Iterable[LoggedEvent], anchor: str | None = None) -> ChainBreak | None:
    """None if every record's hash is right and each links to the one before (the first
    to `anchor`, or to whatever it names when `anchor` is None: the oldest records may
    have been rotated away); else the first break."""
    prev = anchor
    seq: int | None = None
    for position, record in enumerate(records):
        if prev is not None and record.prev != prev:
            return ChainBreak(position, "does not link to the record before it")
        if seq is not None and record.seq != seq + 1:
            return ChainBreak(position, f"sequence {record.seq} does not follow {seq}")
        try:
            expected = _digest(record.prev, record.seq, record.event)
        except ValueError:
            return ChainBreak(position, "its link is not a hash")
        if record.hash != expected:
            return ChainBreak(position, "its content does not match its hash")
        prev, seq = record.hash, record.seq
    return None


@dataclass
class _Repeats:
    """One kind's current rate-limiting window."""

    started: datetime
    recorded: int = 0
    suppressed: int = 0
    first_suppressed: datetime | None = None
    last_key: str | None = None


class SecurityLog:
    """Bounded, rate-limited, hash-chained log with exact lifetime counts per kind."""

    def __init__(
        self,
        keep: int = 4096,
        sink: Callable[[LoggedEvent], None] | None = None,
        *,
        keep_notable: int = 128,
        burst: int = REPEAT_BURST,
        window: timedelta = REPEAT_WINDOW,
        head: tuple[int, str] | None = None,
    ) -> None:
        self._records: deque[LoggedEvent] = deque(maxlen=keep)
        self._changes: deque[LoggedEvent] = deque(maxlen=keep_notable)
        self._refusals: deque[LoggedEvent] = deque(maxlen=keep_notable)
        self.counts: Counter[SecurityEventKind] = Counter()
        self.sink = sink
        self.burst = burst
        self.window = window
        self._repeats: dict[SecurityEventKind, _Repeats] = {}
        self.last_seq, self.head = head if head is not None else (0, GENESIS)

    # -- recording -----------------------------------------------------------------

    def record(self, event: SecurityEvent) -> None:
        """Count `event`; record it unless its kind has already had its burst this window."""
        self.counts[event.kind] += event.count
        repeats = self._repeats.get(event.kind)
        if repeats is not None and event.at - repeats.started >= self.window:
            self._close_window(event.kind, repeats)
            repeats = None
        if repeats is None:
            repeats = self._repeats[event.kind] = _Repeats(event.at)
        if repeats.recorded < self.burst:
            repeats.recorded += 1
            self._append(event)
            return
        repeats.suppressed += event.count
        repeats.first_suppressed = repeats.first_suppressed or event.at
        repeats.last_key = event.key_id

    def flush(self, now: datetime) -> None:
        """Record the summaries of every window that has ended by `now`."""
        for kind, repeats in list(self._repeats.items()):
            if now - repeats.started >= self.window:
                self._close_window(kind, repeats)

    def _close_window(self, kind: SecurityEventKind, repeats: _Repeats) -> None:
        del self._repeats[kind]
        if repeats.suppressed:
            since = repeats.first_suppressed or repeats.started
            self._append(
                SecurityEvent(
                    kind,
                    repeats.started + self.window,
                    f"repeated {repeats.suppressed} more times since {since.isoformat()}",
                    repeats.last_key,
                    repeats.suppressed,
                )
            )

    def _append(self, event: SecurityEvent) -> None:
        seq = self.last_seq + 1
        record = LoggedEvent(seq, event, self.head, _digest(self.head, seq, event))
        self.last_seq, self.head = seq, record.hash
        self._records.append(record)
        if event.kind in CHANGES:
            self._changes.append(record)
        elif event.kind in NOTABLE:
            self._refusals.append(record)
        level = logging.WARNING if event.refusal else logging.INFO
        _logger.log(
            level, "%s %s key=%s count=%d", event.kind.value, event.detail, event.key_id,
            event.count,
        )  # fmt: skip
        if self.sink is not None:
            self.sink(record)

    # -- reading --------------------------------------------------------------------

    @property
    def events(self) -> tuple[SecurityEvent, ...]:
        """The recorded events still in memory, oldest first."""
        return tuple(record.event for record in self._records)

    @property
    def records(self) -> tuple[LoggedEvent, ...]:
        return tuple(self._records)

    def of(self, kind: SecurityEventKind) -> tuple[SecurityEvent, ...]:
        return tuple(e for e in self.events if e.kind is kind)

    def notable(self, since: int = 0, limit: int | None = None) -> tuple[LoggedEvent, ...]:
        """Notable records with a sequence number above `since`, oldest first (at most
        `limit`, the oldest of them)."""
        found = sorted(
            (r for r in (*self._changes, *self._refusals) if r.seq > since), key=lambda r: r.seq
        )
        return tuple(found if limit is None else found[:limit])
