"""The clinic service: patients from screening to battery replacement, on a real database.

Layers inside the clinic, from the bottom up:

- pure rules (no database): `diagnoses`, `candidacy`, `refill_schedule`, `reconciliation`,
  `battery`, `interrogation` (the import document), `policy` (sourced site settings);
- `storage`: SQLAlchemy models, engines with the SQLite durability settings, migrations;
- `audit`: the append-only, hash-chained log written in the same transaction as each change;
- `service`: every operation the JSON API and the web pages perform (`thecal.clinic.service`),
  with role checks, audit and optimistic locking inside it;
- `api`: the FastAPI JSON API over the service; `reminders`: the outbox worker; `fhir`: export.

Web pages live in `thecal.clinic.web` and call the same service functions as the API.
"""
