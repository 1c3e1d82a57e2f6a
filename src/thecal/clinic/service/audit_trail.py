"""Reading the audit log: one record's history, and verification of the whole chain."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from thecal.clinic import audit
from thecal.clinic.access import Permission, authorize
from thecal.clinic.service.common import View
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import AuditEntry

__all__ = ["AuditEntryView", "AuditProblemView", "AuditReport", "audit_trail", "verify_audit"]


class AuditEntryView(View):
    seq: int
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    hash: str


class AuditProblemView(View):
    seq: int | None
    kind: str
    message: str


class AuditReport(View):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[AuditProblemView]


def _view(entry: AuditEntry) -> AuditEntryView:
    return AuditEntryView(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        actor_id=entry.actor_id,
        action=entry.action,
        entity=entry.entity,
        entity_id=entry.entity_id,
        before=json.loads(entry.before) if entry.before else None,
        after=json.loads(entry.after) if entry.after else None,
        reason=entry.reason,
        hash=entry.hash,
    )


def audit_trail(
    call: Call, entity: str | None = None, entity_id: str | None = None, limit: int = 100
) -> list[AuditEntryView]:
    """Audit entries, newest first, optionally of one entity type or one record."""
    authorize(call.actor, Permission.AUDIT_READ)
    statement = select(AuditEntry)
    if entity:
        statement = statement.where(AuditEntry.entity == entity)
    if entity_id:
        statement = statement.where(AuditEntry.entity_id == entity_id)
    rows = call.session.scalars(statement.order_by(AuditEntry.seq.desc()).limit(limit))
    return [_view(row) for row in rows]


def verify_audit(call: Call) -> AuditReport:
    """Walk the hash chain and report where it was tampered with, if anywhere."""
    authorize(call.actor, Permission.AUDIT_READ)
    result = audit.verify_chain(call.session)
    return AuditReport(
        ok=result.ok,
        entries=result.entries,
        head_seq=result.head_seq,
        head_hash=result.head_hash,
        problems=[
            AuditProblemView(seq=p.seq, kind=p.kind, message=p.message) for p in result.problems
        ],
    )
