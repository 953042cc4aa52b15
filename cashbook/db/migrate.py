"""Numbered SQL migrations for Postgres (`sql/postgres/NNNN_name.sql`), applied in order, once.

Why a home-made runner: the schema is plain SQL files shared by the API and the pipeline's publish step,
and all we need is "apply each file once, in order, and never twice even when two processes start at once".
A transaction-level advisory lock serialises concurrent runners; the `schema_migrations` table records
each applied file with a checksum so an edited, already-applied file is reported instead of ignored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from cashbook.paths import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "postgres"
_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Arbitrary constant shared by every cashbook process: "the migration lock".
_LOCK_KEY = 0x636173686D6967  # "cashmig"


class MigrationError(RuntimeError):
    """A migration file is malformed, duplicated, or was edited after it was applied."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    checksum: str


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All `NNNN_name.sql` files in version order; two files with one number are an error."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files must be named NNNN_lower_snake.sql")
        version = m.group(1)
        if version in found:
            raise MigrationError(f"{path}: version {version} also used by {found[version].path.name}")
        text = path.read_bytes()
        found[version] = Migration(version, path.stem, path, hashlib.sha256(text).hexdigest())
    return [found[v] for v in sorted(found)]


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; returns the names applied by this call (empty when up to date)."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, name text NOT NULL,"
            " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()}
        for mig in migrations:
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    raise MigrationError(f"{mig.path}: changed after it was applied (checksum differs)")
                continue
            try:
                conn.execute(mig.path.read_text())  # type: ignore[arg-type]  # whole file, several statements
            except psycopg.Error as exc:
                raise MigrationError(f"{mig.path}: {exc}") from exc
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.checksum),
            )
            applied_now.append(mig.name)
        conn.commit()
    return applied_now
