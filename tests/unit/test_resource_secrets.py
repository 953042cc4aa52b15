"""Secrets reach resources as dg.EnvVar when they come from the environment, else as values Dagster masks;
unset, they stay empty and loading works (embedded defaults). The end-to-end check through the webserver's
GraphQL API is tests/integration/test_dagster_topology.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap

from cashbook.settings import load_settings
from pipelines.definitions import build_definitions, build_resources
from pipelines.jobs import raw_job

URL = "postgresql://cash:hunter2-pw@db.internal:5432/cb"
KEY = "sk_test_unit_secret_key"


def _configured(defs: dg.Definitions) -> dict[tuple[str, str], object]:
    snap = RepositorySnap.from_def(defs.get_repository_def())
    return {(r.name, k): v for r in snap.resources for k, v in r.configured_values.items()}


def test_secrets_from_the_environment_are_env_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", URL)
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    resources = build_resources(load_settings(cashbook_home=tmp_path))
    assert resources["postgres"].database_url == dg.EnvVar("DATABASE_URL")  # type: ignore[attr-defined]
    assert resources["stripe"].api_key == dg.EnvVar("STRIPE_API_KEY")  # type: ignore[attr-defined]
    values = _configured(build_definitions(load_settings(cashbook_home=tmp_path)))
    assert getattr(values[("postgres", "database_url")], "name", None) == "DATABASE_URL"
    assert getattr(values[("stripe", "api_key")], "name", None) == "STRIPE_API_KEY"
    assert URL not in repr(values) and KEY not in repr(values)


def test_secrets_given_in_code_are_values_the_ui_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/other")  # not the one in use
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    resources = build_resources(load_settings(cashbook_home=tmp_path, database_url=URL, stripe_api_key=KEY))
    assert resources["postgres"].database_url == URL  # type: ignore[attr-defined]
    assert resources["postgres"].url() == URL  # type: ignore[attr-defined]
    snap = RepositorySnap.from_def(dg.Definitions(resources=resources).get_repository_def())
    secret = {(r.name, f.name): bool(f.is_secret) for r in snap.resources for f in r.config_field_snaps}
    assert secret[("postgres", "database_url")] and secret[("stripe", "api_key")]  # the UI shows "********"
    assert not secret[("postgres", "cashbook_home")]


def test_unset_secrets_stay_empty_and_definitions_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    settings = load_settings(cashbook_home=tmp_path, _env_file=None)
    resources = build_resources(settings)
    assert resources["postgres"].database_url == ""  # type: ignore[attr-defined]
    assert resources["stripe"].api_key == ""  # type: ignore[attr-defined]
    assert build_definitions(settings).resolve_job_def(raw_job.name)
