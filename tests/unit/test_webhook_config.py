"""Pure pieces around webhooks: refusing to boot without a secret, ledger rows (object shapes: test_stripe_shapes)."""

from __future__ import annotations

import datetime as dt

import pytest

from api.settings import DEV_WEBHOOK_SECRET, ApiSettings, ApiSettingsError
from cashbook.billing.ledger import Movement


def settings(**kw: object) -> ApiSettings:
    return ApiSettings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_no_webhook_secret_outside_dev_refuses_to_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("CASHBOOK_API_STRIPE_WEBHOOK_SECRET", raising=False)
    assert settings(env="dev").webhook_secrets() == [DEV_WEBHOOK_SECRET]
    with pytest.raises(ApiSettingsError, match="STRIPE_WEBHOOK_SECRET"):
        settings(env="prod", jwt_secret="x" * 40).check()
    with pytest.raises(ApiSettingsError, match="JWT_SECRET"):
        settings(env="prod", stripe_webhook_secret="whsec_a").check()
    from api.main import create_app

    with pytest.raises(ApiSettingsError):
        create_app(settings(env="test"), database_url="postgresql://unused")


def test_secret_rotation_list_and_plain_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_new, whsec_old")
    monkeypatch.setenv("JWT_SECRET", "j" * 40)
    s = settings(env="prod")
    assert s.webhook_secrets() == ["whsec_new", "whsec_old"] and s.jwt_secret == "j" * 40
    s.check()


def test_ledger_movement_is_minor_units_and_keyed() -> None:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    m = Movement("refund", "re_1", -250, "usd", at)
    assert m.entry_id == "api_refund_re_1"
    with pytest.raises(TypeError):
        Movement("payment", "in_1", 2.5, "usd", at)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown ledger type"):
        Movement("bonus", "in_1", 1, "usd", at)
    with pytest.raises(ValueError, match="timezone"):
        Movement("payment", "in_1", 1, "usd", dt.datetime(2026, 1, 1))
