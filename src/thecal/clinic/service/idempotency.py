"""Idempotency keys: a create request retried with the same key gets the first answer.

The key row is inserted *before* the work, in the same transaction: a second identical
request running at the same moment waits on the unique key (PostgreSQL) or on the write
lock (SQLite) and then finds the first one's stored result instead of acting twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import select

from thecal.clinic.errors import Invalid
from thecal.clinic.service.core import Call
from thecal.clinic.storage.models import IdempotencyKey

__all__ = ["KEY_PATTERN", "idempotent"]

KEY_PATTERN = r"^[A-Za-z0-9._:-]{8,200}$"

V = TypeVar("V", bound=BaseModel)


def _digest(scope: str, request: BaseModel) -> str:
    body = json.dumps(
        {"scope": scope, "request": request.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def idempotent(
    call: Call,
    scope: str,
    key: str | None,
    request: BaseModel,
    produce: Callable[[], V],
    view: type[V],
) -> V:
    """Run `produce` once per (user, scope, key); repeat callers get the stored result.

    The same key with a different request is refused (`Invalid`, code
    ``idempotency_key_reused``): it is a client bug, and guessing would lose data.
    """
    if key is None:
        return produce()
    digest = _digest(scope, request)
    user_id = call.actor.user_id
    found = call.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id
            if user_id is not None
            else IdempotencyKey.user_id.is_(None),
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
        )
    )
    if found is not None:
        if found.request_hash != digest:
            raise Invalid(
                "Idempotency-Key: already used for a different request",
                code="idempotency_key_reused",
                field="Idempotency-Key",
                accepted="a new key for each new request; the same key only to retry",
            )
        return view.model_validate(found.result)
    row = IdempotencyKey(
        user_id=user_id, scope=scope, key=key, request_hash=digest, result={}, created_at=call.now
    )
    call.session.add(row)
    call.session.flush()  # claim the key first: a concurrent twin waits here
    result = produce()
    row.result = result.model_dump(mode="json")
    return result
