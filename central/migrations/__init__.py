"""Alembic migrations of the desk database (applied by ``menwei-desk create-db``)."""
