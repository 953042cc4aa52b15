"""Postgres access: the embedded server on demand, connections, pools and migrations."""

from cashbook.db.connection import connect, database_url, database_url_for

__all__ = ["connect", "database_url", "database_url_for"]
