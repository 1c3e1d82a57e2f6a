"""Alembic environment: run on the connection `thecal.clinic.storage.migrate` hands in.

Batch mode (`render_as_batch`) lets SQLite migrations alter tables by copy-and-move;
constraint names come from the models' naming convention so batch mode can find them.
"""

from __future__ import annotations

from alembic import context

from thecal.clinic.storage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through storage.migrate
    raise RuntimeError("run clinic migrations with `thecal clinic init`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
