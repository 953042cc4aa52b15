"""Shared fixtures: real Postgres (DATABASE_URL or embedded), isolated CASHBOOK_HOME, tests/fixtures/ data."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import fresh_database
from tests.fixture_files import FIXTURES_DIR

ROOT = Path(__file__).resolve().parents[1]

# A pytest started as a background job (`make test &` in a script) inherits SIGINT ignored. Dagster's
# setup_interrupt_handlers maps SIGTERM to SIGINT's handler, so after the first Dagster test SIGTERM is ignored too,
# every server a later test starts (localstripe, the replay server, the idempotency proxy) inherits that, and its
# teardown's terminate() waits 10 s for nothing. Python's own handlers, as in a foreground run:
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """tests/fixtures: the Stripe objects and events tests build on (nothing outside the repository)."""
    return FIXTURES_DIR


@pytest.fixture(autouse=True)
def _no_inherited_dagster_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the user's (or the Makefile's) DAGSTER_HOME: settings derive it from the test's home."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The server tests use (a postgresql:// URL): the CI service via DATABASE_URL, else an embedded one."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from cashbook.db.embedded import embedded_url

    home = Path(os.environ.get("CASHBOOK_TEST_PG", ROOT / ".cashbook" / "test-pg"))
    home.mkdir(parents=True, exist_ok=True)
    return embedded_url(home)


@pytest.fixture()
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database per test on the shared server; dropped afterwards."""
    with fresh_database(pg_server_url) as url:
        yield url


@pytest.fixture()
def cashbook_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated CASHBOOK_HOME with settings caches cleared."""
    from cashbook.settings import get_settings

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CASHBOOK_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
