"""Alert thresholds: packaged defaults, an optional YAML file, then per-field environment overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cashbook.settings import SettingsError

DEFAULTS = Path(__file__).with_name("thresholds.yaml")


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    threshold: float
    severity: str = "error"
    min_attempts: int = 0
    min_events: int = 0
    per_currency: dict[str, float] = {}  # currency -> threshold in major units

    def threshold_for(self, currency: str) -> float:
        return self.per_currency.get(currency.lower(), self.threshold)


class AlertsConfig(BaseModel):
    rules: dict[str, RuleConfig]
    pagerduty_routing_key: str | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    slack_webhook_url: str | None = None
    dagster_ui_url: str = "http://127.0.0.1:3000"
    api_url: str = "http://127.0.0.1:8000"

    def rule(self, name: str) -> RuleConfig:
        return self.rules[name]


def _coerce(raw: str, current: Any, var: str) -> Any:
    try:
        if isinstance(current, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        if isinstance(current, int) and not isinstance(current, bool):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        return raw
    except ValueError:
        raise SettingsError(f"{var}: cannot read {raw!r} as {type(current).__name__}") from None


def load_alerts_config(path: Path | None = None, env: dict[str, str] | None = None) -> AlertsConfig:
    env = dict(os.environ if env is None else env)
    data = yaml.safe_load(DEFAULTS.read_text())
    override_path = path or (Path(env["ALERTS_CONFIG"]) if env.get("ALERTS_CONFIG") else None)
    if override_path:
        extra = yaml.safe_load(override_path.read_text()) or {}
        for rule, fields in extra.items():
            if rule not in data:
                raise SettingsError(f"ALERTS_CONFIG ({override_path}): unknown rule {rule!r}")
            data[rule].update(fields or {})
    for rule, fields in data.items():
        for field in ("enabled", "threshold", "severity", "min_attempts", "min_events"):
            var = f"ALERT_{rule}_{field}".upper()
            if var in env:
                current = fields.get(field, RuleConfig.model_fields[field].default)
                if field == "threshold":
                    current = float(current)
                fields[field] = _coerce(env[var], current, var)
    try:
        return AlertsConfig(
            rules={name: RuleConfig(**fields) for name, fields in data.items()},
            pagerduty_routing_key=env.get("PAGERDUTY_ROUTING_KEY") or None,
            pagerduty_url=env.get("PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com/v2/enqueue"),
            slack_webhook_url=env.get("SLACK_WEBHOOK_URL") or None,
            dagster_ui_url=env.get("DAGSTER_UI_URL", "http://127.0.0.1:3000"),
            api_url=env.get("CASHBOOK_API_URL", "http://127.0.0.1:8000"),
        )
    except ValidationError as exc:
        raise SettingsError(f"alert thresholds: {exc}") from None
