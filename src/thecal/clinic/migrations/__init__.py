"""Alembic migrations of the clinic database (run with `thecal clinic init`)."""
