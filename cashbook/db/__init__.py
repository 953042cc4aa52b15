"""Postgres access: the embedded server on demand, connections, pools and migrations."""

from cashbook.db.connection import connect, database_url, resolve_database_url

__all__ = ["connect", "database_url", "resolve_database_url"]
