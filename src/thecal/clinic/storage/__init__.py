"""Storage: typed SQLAlchemy models, engines and migrations (SQLite or PostgreSQL)."""
