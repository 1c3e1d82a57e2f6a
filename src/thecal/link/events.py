"""The pump's security log: every refusal on the link, and every change of who may talk.

Each event is a small frozen value (kind, pump time, detail, controller key id when
known). The log keeps the most recent events in memory (bounded, so a flood of junk
cannot exhaust memory), counts every kind for ever, passes each event to an optional
sink (the served pump appends them to a JSON-lines file) and to the standard `logging`
logger ``thecal.link.security``.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["SecurityEvent", "SecurityEventKind", "SecurityLog"]

_logger = logging.getLogger("thecal.link.security")
_logger.addHandler(logging.NullHandler())  # the application decides where logs go


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
    # changes and notable successes
    SESSION_STARTED = "session_started"
    ENROLLED = "enrolled"
    REVOKED = "revoked"
    PAIRING_OPENED = "pairing_opened"


REFUSALS = frozenset(
    kind
    for kind in SecurityEventKind
    if kind
    not in {
        SecurityEventKind.SESSION_STARTED,
        SecurityEventKind.ENROLLED,
        SecurityEventKind.REVOKED,
        SecurityEventKind.PAIRING_OPENED,
    }
)


@dataclass(frozen=True)
class SecurityEvent:
    kind: SecurityEventKind
    at: datetime
    detail: str
    key_id: str | None = None

    @property
    def refusal(self) -> bool:
        return self.kind in REFUSALS

    def as_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "detail": self.detail,
            "key_id": self.key_id,
        }


class SecurityLog:
    """Bounded in-memory log with lifetime counts per kind."""

    def __init__(
        self, keep: int = 4096, sink: Callable[[SecurityEvent], None] | None = None
    ) -> None:
        self._events: deque[SecurityEvent] = deque(maxlen=keep)
        self.counts: Counter[SecurityEventKind] = Counter()
        self.sink = sink

    def record(self, event: SecurityEvent) -> None:
        self._events.append(event)
        self.counts[event.kind] += 1
        level = logging.WARNING if event.refusal else logging.INFO
        _logger.log(level, "%s %s key=%s", event.kind.value, event.detail, event.key_id)
        if self.sink is not None:
            self.sink(event)

    @property
    def events(self) -> tuple[SecurityEvent, ...]:
        return tuple(self._events)

    def of(self, kind: SecurityEventKind) -> tuple[SecurityEvent, ...]:
        return tuple(e for e in self._events if e.kind is kind)
