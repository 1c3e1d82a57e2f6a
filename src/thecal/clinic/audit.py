"""The audit log: append-only and hash-chained, written in the same transaction as the change.

Each entry records who, when, what (action, entity, id), the entity before and after, and
the reason given. Its hash covers all of that plus the previous entry's hash, so an edited,
deleted, inserted or reordered entry breaks the chain from that point; `verify_chain` walks
the chain and says where. The `audit_head` row holds the tip: writers lock it (PostgreSQL
``SELECT … FOR UPDATE``; SQLite write transactions are already serial) so the chain never
forks, and verification compares it with the last entry so a deleted tail is found too.
Database triggers refuse UPDATE and DELETE on the log (see the initial migration).

Publishing the head hash somewhere else (a printout, another system) from time to time
makes even a complete, consistent rewrite by someone with full database access detectable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from fractions import Fraction
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from thecal.clinic.access import Actor
from thecal.clinic.storage.models import AuditEntry, AuditHead, Base
from thecal.therapy.quantities import _Scalar

__all__ = [
    "GENESIS_HASH",
    "REDACTED",
    "AuditProblem",
    "AuditVerification",
    "canonical_json",
    "entry_hash",
    "history",
    "jsonable",
    "record",
    "snapshot",
    "verify_chain",
]

GENESIS_HASH = "0" * 64


def jsonable(value: Any) -> Any:
    """Plain JSON values for audit snapshots; exact values stay exact (fraction text + unit)."""
    if isinstance(value, _Scalar):
        return f"{value.amount} {value.BASE_UNIT}"
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """One exact text for a value: sorted keys, no spaces, UTF-8."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


REDACTED = frozenset({"password_hash", "token_hash"})
"""Columns whose values never enter the log (it is read by more people than the secrets)."""


def snapshot(row: Base) -> dict[str, Any]:
    """Every column of a model row as plain JSON values (for before/after); secrets are
    replaced by a marker that says a value was there."""
    mapper = inspect(type(row))
    return {
        attr.key: "(redacted)" if attr.key in REDACTED else jsonable(getattr(row, attr.key))
        for attr in mapper.column_attrs
    }


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: str | None,
    after: str | None,
    reason: str | None,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) over an entry's fields and the previous entry's hash."""
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor_id": actor_id,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": before,
        "after": after,
        "reason": reason,
        "prev_hash": prev_hash,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        seq=entry.seq,
        at=entry.at,
        actor_id=entry.actor_id,
        actor=entry.actor,
        action=entry.action,
        entity=entry.entity,
        entity_id=entry.entity_id,
        before=entry.before,
        after=entry.after,
        reason=entry.reason,
        prev_hash=entry.prev_hash,
    )


def record(
    session: Session,
    actor: Actor,
    at: datetime,
    action: str,
    entity: str,
    entity_id: object,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain inside the caller's transaction."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    # Microseconds are what both databases keep; hash what will be read back.
    at = at.astimezone(UTC)
    entry = AuditEntry(
        seq=head.seq + 1,
        at=at,
        actor_id=actor.user_id,
        actor=actor.username,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=None if before is None else canonical_json(before),
        after=None if after is None else canonical_json(after),
        reason=reason or None,
        prev_hash=head.hash,
    )
    entry.hash = _hash_of(entry)
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditProblem:
    seq: int | None
    kind: str
    """missing | broken_link | altered | head_mismatch"""
    message: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: tuple[AuditProblem, ...]


def verify_chain(session: Session, max_problems: int = 100) -> AuditVerification:
    """Walk the whole chain in order and report every break (up to `max_problems`)."""
    problems: list[AuditProblem] = []
    expected_seq, expected_prev = 1, GENESIS_HASH
    count = 0
    rows = session.scalars(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000)
    )
    for entry in rows:
        count += 1
        if entry.seq != expected_seq:
            problems.append(
                AuditProblem(
                    entry.seq,
                    "missing",
                    f"entries {expected_seq} to {entry.seq - 1} are missing before entry "
                    f"{entry.seq} (deleted)",
                )
            )
        if entry.prev_hash != expected_prev:
            problems.append(
                AuditProblem(
                    entry.seq,
                    "broken_link",
                    f"entry {entry.seq} does not link to the entry before it "
                    "(an entry was deleted, inserted or reordered here)",
                )
            )
        if _hash_of(entry) != entry.hash:
            problems.append(
                AuditProblem(
                    entry.seq,
                    "altered",
                    f"entry {entry.seq} ({entry.action} {entry.entity} {entry.entity_id}) "
                    "was changed after it was written",
                )
            )
        expected_seq, expected_prev = entry.seq + 1, entry.hash
        if len(problems) >= max_problems:
            break
    head = session.get(AuditHead, 1)
    head_seq = head.seq if head else -1
    head_hash = head.hash if head else ""
    if len(problems) < max_problems and (
        head_seq != expected_seq - 1 or head_hash != expected_prev
    ):
        problems.append(
            AuditProblem(
                None,
                "head_mismatch",
                f"the chain ends at entry {expected_seq - 1} but the head records entry "
                f"{head_seq}: entries at the end were deleted, or the head was altered",
            )
        )
    return AuditVerification(not problems, count, head_seq, head_hash, tuple(problems))


def history(session: Session, entity: str, entity_id: object) -> Iterator[AuditEntry]:
    """The audit entries of one entity, oldest first."""
    yield from session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
        .order_by(AuditEntry.seq)
    )
