"""Settings: embedded defaults, derived paths, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from cashbook.settings import SettingsError, load_settings


def test_defaults_derive_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("STRIPE_EXPORT_DIR", raising=False)
    s = load_settings(cashbook_home=tmp_path / "h")
    assert s.database_url is None
    assert s.dagster_home == (tmp_path / "h" / "dagster").resolve()
    assert s.warehouse_path == (tmp_path / "h" / "warehouse.duckdb").resolve()
    assert s.stripe_source == "export"


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASHBOOK_HOME", str(tmp_path))
    monkeypatch.setenv("STRIPE_SOURCE", "api")
    monkeypatch.setenv("RECONCILE_GRACE_DAYS", "5")
    s = load_settings()
    assert s.cashbook_home == tmp_path.resolve() and s.stripe_source == "api" and s.reconcile_grace_days == 5


@pytest.mark.parametrize(
    ("var", "value"),
    [("STRIPE_SOURCE", "ftp"), ("DATABASE_URL", "mysql://x"), ("RECONCILE_GRACE_DAYS", "-1"),
     ("REPORTING_CURRENCY", "dollars"), ("PARTITION_START", "yesterday")],
)
def test_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert var in str(err.value)


def test_cli_reports_bad_setting_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "STRIPE_SOURCE": "ftp", "HOME": "/tmp"}
    proc = subprocess.run([sys.executable, "-m", "cashbook", "db-url"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "STRIPE_SOURCE" in proc.stderr
