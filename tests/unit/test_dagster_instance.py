"""dagster.yaml: defaults < the operator's file < keys cashbook owns; hand edits refused; no password in the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from cashbook.dagster_instance import (
    OPERATOR_FILE,
    PASSWORD_ENV,
    InstanceConfigError,
    dagster_process_env,
    write_instance_yaml,
)
from cashbook.settings import load_settings

URL = "postgresql://postgres@127.0.0.1:5432/cb"
SECRET_URL = "postgresql://cash:pa%2Fss-w0rd@db.internal:6543/cb?sslmode=require"


def _settings(tmp_path: Path, **kw: object):
    return load_settings(cashbook_home=tmp_path / "home", **kw)


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_defaults_turn_on_run_monitoring_with_slot_release_and_validate(tmp_path: Path) -> None:
    s = _settings(tmp_path, max_concurrent_runs=3)
    path = write_instance_yaml(s, URL)
    cfg = _load(path)
    for component in ("run_storage", "event_log_storage", "schedule_storage"):
        assert cfg[component]["config"] == {"postgres_url": "postgresql+psycopg2://postgres@127.0.0.1:5432/cb"}
    assert cfg["event_log_storage"]["class"] == "BatchingPostgresEventLogStorage"  # batched partition events
    assert "storage" not in cfg
    assert cfg["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert cfg["run_monitoring"]["enabled"] is True
    assert cfg["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert cfg["concurrency"] == {"runs": {"max_concurrent_runs": 3}, "pools": {"default_limit": 1}}
    # Dagster's own schema accepts the file (it raises on unknown or conflicting keys)
    loaded, _ = dagster_instance_config(str(s.dagster_home))
    assert loaded["run_monitoring"]["enabled"] is True


def test_operator_settings_are_merged_and_survive_restarts(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.dagster_home is not None
    s.dagster_home.mkdir(parents=True)
    (s.dagster_home / OPERATOR_FILE).write_text(yaml.safe_dump({
        "run_launcher": {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"},
        "retention": {"schedule": {"purge_after_days": 30}},
        "compute_logs": {"module": "dagster.core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"},
        "run_monitoring": {"poll_interval_seconds": 5, "max_runtime_seconds": 0},
        "concurrency": {"runs": {"max_concurrent_runs": 9}},
        "run_coordinator": {"config": {"dequeue_interval_seconds": 2}},
    }))
    path = write_instance_yaml(s, URL)
    cfg = _load(path)
    assert cfg["run_launcher"]["class"] == "DefaultRunLauncher"
    assert cfg["retention"] == {"schedule": {"purge_after_days": 30}}
    assert cfg["compute_logs"]["class"] == "NoOpComputeLogManager"
    # overridden keys win, the rest of cashbook's defaults stay
    assert cfg["run_monitoring"]["poll_interval_seconds"] == 5
    assert cfg["run_monitoring"]["max_runtime_seconds"] == 0
    assert cfg["run_monitoring"]["free_slots_after_run_end_seconds"] == 60
    assert cfg["concurrency"] == {"runs": {"max_concurrent_runs": 9}, "pools": {"default_limit": 1}}
    assert cfg["run_coordinator"] == {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
                                      "config": {"dequeue_interval_seconds": 2}}
    dagster_instance_config(str(s.dagster_home))
    # a restart with a new server URL rewrites storage and keeps the operator's settings
    other = "postgresql://postgres@127.0.0.1:5433/cb"
    cfg2 = _load(write_instance_yaml(s, other))
    assert cfg2["event_log_storage"]["config"]["postgres_url"].endswith(":5433/cb")
    assert cfg2["retention"] == cfg["retention"]


@pytest.mark.parametrize("owned", [{"storage": {"sqlite": {"base_dir": "/x"}}},
                                   {"run_coordinator": {"module": "dagster.core.run_coordinator",
                                                        "class": "DefaultRunCoordinator"}}])
def test_operator_file_cannot_take_owned_keys(tmp_path: Path, owned: dict) -> None:
    s = _settings(tmp_path)
    assert s.dagster_home is not None
    s.dagster_home.mkdir(parents=True)
    (s.dagster_home / OPERATOR_FILE).write_text(yaml.safe_dump(owned))
    with pytest.raises(InstanceConfigError, match="owned by cashbook"):
        write_instance_yaml(s, URL)


def test_hand_edit_of_generated_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    path = write_instance_yaml(s, URL)
    edited = path.read_text() + "retention:\n  schedule:\n    purge_after_days: 7\n"
    path.write_text(edited)
    with pytest.raises(InstanceConfigError, match=OPERATOR_FILE):
        write_instance_yaml(s, "postgresql://postgres@127.0.0.1:5433/cb")
    assert path.read_text() == edited  # nothing lost
    # a file another tool wrote is not taken over either
    path.write_text("telemetry:\n  enabled: true\n")
    with pytest.raises(InstanceConfigError, match="not written by cashbook"):
        write_instance_yaml(s, URL)


def test_file_written_by_earlier_versions_is_replaced(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.dagster_home is not None
    s.dagster_home.mkdir(parents=True)
    old = s.dagster_home / "dagster.yaml"
    old.write_text("# Written by cashbook (cashbook/dagster_instance.py); edits are overwritten.\nnux:\n  enabled: false\n")
    assert _load(write_instance_yaml(s, URL))["run_monitoring"]["enabled"] is True


def test_password_is_read_from_the_environment_not_written(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    path = write_instance_yaml(s, SECRET_URL)
    text = path.read_text()
    assert "pa/ss-w0rd" not in text and "pa%2Fss-w0rd" not in text
    cfg = _load(path)
    db = cfg["event_log_storage"]["config"]["postgres_db"]
    assert cfg["run_storage"]["config"]["postgres_db"] == cfg["schedule_storage"]["config"]["postgres_db"] == db
    assert db == {"username": "cash", "password": {"env": PASSWORD_ENV}, "hostname": "db.internal",
                  "db_name": "cb", "port": 6543, "scheme": "postgresql+psycopg2", "params": {"sslmode": "require"}}
    assert dagster_process_env(SECRET_URL) == {PASSWORD_ENV: "pa/ss-w0rd"}
    assert dagster_process_env(URL) == {}
