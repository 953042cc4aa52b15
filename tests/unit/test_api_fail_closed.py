"""Defect 1 (issue 12): a deploy that forgets CASHBOOK_API_ENV must not accept development secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, ApiSettings, ApiSettingsError

ROOT = Path(__file__).resolve().parents[2]
_VARS = ("CASHBOOK_API_ENV", "JWT_SECRET", "CASHBOOK_API_JWT_SECRET", "STRIPE_WEBHOOK_SECRET",
         "CASHBOOK_API_STRIPE_WEBHOOK_SECRET")
GOOD_JWT = "k" * 32


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)


def settings(**kw: object) -> ApiSettings:
    return ApiSettings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_default_is_production_and_refuses_dev_secrets() -> None:
    s = settings()
    assert s.env == "prod"
    with pytest.raises(ApiSettingsError):
        s.check()
    # a real JWT secret alone is not enough: the webhook secret has no default outside dev
    with pytest.raises(ApiSettingsError, match="STRIPE_WEBHOOK_SECRET"):
        settings(jwt_secret=GOOD_JWT).check()
    settings(jwt_secret=GOOD_JWT, stripe_webhook_secret="whsec_real").check()


@pytest.mark.parametrize("env", ["prod", "test"])
def test_dev_secrets_refused_outside_dev(env: str) -> None:
    with pytest.raises(ApiSettingsError, match="JWT_SECRET"):
        settings(env=env, jwt_secret=DEV_JWT_SECRET, stripe_webhook_secret="whsec_real").check()
    with pytest.raises(ApiSettingsError, match="STRIPE_WEBHOOK_SECRET"):
        settings(env=env, jwt_secret=GOOD_JWT, stripe_webhook_secret=DEV_WEBHOOK_SECRET).check()
    with pytest.raises(ApiSettingsError, match="STRIPE_WEBHOOK_SECRET"):
        settings(env=env, jwt_secret=GOOD_JWT, stripe_webhook_secret=f"whsec_real,{DEV_WEBHOOK_SECRET}").check()


@pytest.mark.parametrize("env", ["dev", "test", "prod"])
def test_short_jwt_secret_refused_everywhere(env: str) -> None:
    with pytest.raises(ApiSettingsError, match="32 bytes"):
        settings(env=env, jwt_secret="k" * 31, stripe_webhook_secret="whsec_real").check()


def test_dev_defaults_only_when_asked() -> None:
    s = settings(env="dev")
    s.check()
    assert s.jwt_secret == DEV_JWT_SECRET and s.webhook_secrets() == [DEV_WEBHOOK_SECRET]


def test_create_app_refuses_without_env() -> None:
    from api.main import create_app

    with pytest.raises(ApiSettingsError):
        create_app(settings(), database_url="postgresql://unused")


def _token(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in _VARS}
    return subprocess.run([sys.executable, "-c", "from cashbook.cli import main; main()", "token", "--user", "u1"],
                          env={**base, **env}, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_token_command_does_not_use_the_dev_secret_outside_dev() -> None:
    refused = _token({})
    assert refused.returncode != 0 and "JWT_SECRET" in refused.stderr
    assert _token({"CASHBOOK_API_ENV": "dev"}).returncode == 0
    short = _token({"JWT_SECRET": "short"})
    assert short.returncode != 0 and "32 bytes" in short.stderr
