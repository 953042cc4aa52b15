"""The one way cashbook runs its DuckDB SQL files: which files a layer has, in what order, and what a failure says.

Staging, reconciliation and marts used to run their files three ways, each with its own error text. Here a file is
split into its statements (DuckDB's own parser, `duckdb.extract_statements`) and run one statement at a time, so a
failure names the file, the statement's number and first line, and DuckDB's message; and the time each file took
is measured the same way for every layer (the reconciliation benchmark reports it per file).

Which files belong together is decided by folders, never by lists kept in Python or by file-name patterns:

| folder | run by |
|---|---|
| `sql/duckdb/staging/recon/` | the reconciliation (`cashbook reconcile` runs them; the pipeline's staging asset builds them) |
| `sql/duckdb/staging/metrics/` | the marts (`cashbook.marts.build_staging`; the pipeline's staging asset) |
| `sql/duckdb/reconciliation/` | the reconciliation engine, after its staging |
| `sql/duckdb/marts/` | one file per mart (`000_functions.sql` first: session macros) |

Within a folder files run in file-name order. Parameters reach SQL through `SET VARIABLE` / `getvariable()`:
DuckDB binds `?` parameters only in a single statement, and a file has several.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb

from cashbook.paths import SQL_DIR

DUCKDB_SQL = SQL_DIR / "duckdb"
STAGING_RECON = "staging/recon"
STAGING_METRICS = "staging/metrics"
STAGING_FOLDERS = (STAGING_RECON, STAGING_METRICS)
RECONCILIATION = "reconciliation"
MARTS = "marts"


class SqlFileError(RuntimeError):
    """A SQL file failed: the message names the file (relative to sql/), the statement and DuckDB's reason."""

    def __init__(self, path: Path, index: int, statement: str, cause: duckdb.Error) -> None:
        self.path, self.index, self.statement = path, index, statement
        first = next((ln.strip() for ln in statement.splitlines()
                      if ln.strip() and not ln.strip().startswith("--")), "")
        super().__init__(f"{display_name(path)}, statement {index} ({first[:120]}): {cause}")


def display_name(path: Path) -> str:
    """`duckdb/<folder>/<file>.sql` for a file under sql/, else the path as given (a test's own file)."""
    try:
        return str(Path(path).relative_to(SQL_DIR))
    except ValueError:
        return str(path)


def sql_files(folder: str) -> list[Path]:
    """The `.sql` files directly in `sql/duckdb/<folder>`, in execution (file-name) order."""
    directory = DUCKDB_SQL / folder
    if not directory.is_dir():
        raise FileNotFoundError(f"no SQL folder {directory}")
    return sorted(directory.glob("*.sql"))


def staging_files() -> list[Path]:
    """Every staging file: reconciliation staging first, then the marts' (neither reads the other's)."""
    return [p for folder in STAGING_FOLDERS for p in sql_files(folder)]


def set_variables(con: duckdb.DuckDBPyConnection, variables: Mapping[str, object]) -> None:
    """Bind `getvariable()` values for the files that follow (names are ours, never user input)."""
    for name, value in variables.items():
        if not name.isidentifier():
            raise ValueError(f"SQL variable name {name!r} is not an identifier")
        con.execute(f"SET VARIABLE {name} = ?", [value])


def run_file(con: duckdb.DuckDBPyConnection, path: Path) -> float:
    """Run every statement of one file in order; returns the seconds it took. Raises SqlFileError."""
    started = time.perf_counter()
    text = Path(path).read_text()
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise SqlFileError(Path(path), 1, text, exc) from exc
    for index, statement in enumerate(statements, start=1):
        try:
            con.execute(statement.query)
        except duckdb.Error as exc:
            raise SqlFileError(Path(path), index, statement.query, exc) from exc
    return time.perf_counter() - started


def run_files(con: duckdb.DuckDBPyConnection, paths: Iterable[Path], *,
              variables: Mapping[str, object] | None = None,
              timings: dict[str, float] | None = None) -> list[str]:
    """Run files in the given order; returns their display names. `timings` (if given) gets seconds per file."""
    if variables:
        set_variables(con, variables)
    ran: list[str] = []
    for path in paths:
        seconds = run_file(con, path)
        name = display_name(path)
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + seconds
        ran.append(name)
    return ran


def code_version(paths: Iterable[Path]) -> str:
    """A short hash of the files' contents (and names): Dagster's `code_version` for the assets they build.

    The UI flags an asset whose code version differs from the one its last materialization recorded, so a
    changed SQL file shows as "code changed since last materialization" without anyone bumping a number.
    """
    digest = hashlib.sha256()
    for path in paths:
        digest.update(display_name(path).encode())
        digest.update(b"\0")
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
