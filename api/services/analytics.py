"""Admin analytics over what the pipeline published to Postgres (`analytics.*`) and the API's own tables.

The API never opens DuckDB: every figure is read from the published marts, so a figure here equals the mart's
column of the same name (tests/integration/test_api_analytics.py compares each with a direct SQL query).
A fresh install has published nothing: missing tables give empty lists and nulls, never a 500.
SQL lives in sql/postgres/analytics_api/.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
from collections import Counter
from functools import cache
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.problems import Problem
from api.request_stats import RequestStats
from cashbook.circuit import states as circuit_states
from cashbook.paths import SQL_DIR

_log = logging.getLogger("cashbook.api.analytics")
SQL = SQL_DIR / "postgres" / "analytics_api"
SEVERITIES = ("critical", "error", "warning", "info")
DAGSTER_TIMEOUT_SECONDS = 2.0


@cache
def _sql(name: str) -> str:
    return (SQL / f"{name}.sql").read_text()


def _rows(conn: psycopg.Connection, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_sql(name), params or {}).fetchall()


def _one(conn: psycopg.Connection, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = _rows(conn, name, params)
    return rows[0] if rows else {}


def _tables(conn: psycopg.Connection) -> dict[str, bool]:
    return _one(conn, "tables")


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


# --- cursors ------------------------------------------------------------------------------------

def _fingerprint(query: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:12]


def encode_cursor(key: list[Any], query: dict[str, Any]) -> str:
    """Opaque: the last row's sort key and a fingerprint of the filters it belongs to."""
    raw = json.dumps({"k": key, "q": _fingerprint(query)}, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, query: dict[str, Any], arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data["k"]
        if not isinstance(key, list) or len(key) != arity or data["q"] != _fingerprint(query):
            raise ValueError
    except Exception:
        raise Problem(400, "invalid_cursor", "cursor is malformed or belongs to other filters: "
                                             "start again without `cursor`", errors=[
                                                 {"loc": ["query", "cursor"], "msg": "invalid cursor"}]) from None
    return key


def _parse_date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise Problem(400, "invalid_cursor", f"cursor has a bad {where}") from None


def _parse_instant(value: Any, where: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise Problem(400, "invalid_cursor", f"cursor has a bad {where}") from None


def check_range(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise Problem(400, "invalid_range", f"`from` ({start}) is after `to` ({end})",
                      errors=[{"loc": ["query", "from"], "msg": "must not be after `to`"}])


# --- freshness ---------------------------------------------------------------------------------

def freshness(conn: psycopg.Connection, has_revenue: bool, now: dt.datetime, max_age_hours: float) -> dict[str, Any]:
    newest = _one(conn, "freshness").get("newest_day") if has_revenue else None
    if newest is None:
        return {"newest_balance_transaction_day": None, "age_hours": None, "max_age_hours": max_age_hours,
                "stale": True}
    end_of_day = dt.datetime.combine(newest + dt.timedelta(days=1), dt.time(), dt.UTC)
    age = max(0.0, (now - end_of_day).total_seconds() / 3600)
    return {"newest_balance_transaction_day": newest, "age_hours": round(age, 3), "max_age_hours": max_age_hours,
            "stale": age > max_age_hours}


@cache
def max_age_hours() -> float:
    """FRESHNESS_MAX_AGE_HOURS, read once per process (the pipeline's freshness check uses the same setting)."""
    from cashbook.quality.freshness import max_age_hours as configured

    try:
        return configured()
    except Exception:  # a bad setting must not take the dashboard down; the default applies
        from cashbook.quality.freshness import DEFAULT_MAX_AGE_HOURS

        return DEFAULT_MAX_AGE_HOURS


# --- the service --------------------------------------------------------------------------------

class AnalyticsService:
    def __init__(self, pool: ConnectionPool, *, freshness_max_age_hours: float | None = None) -> None:
        self.pool = pool
        self.max_age = freshness_max_age_hours if freshness_max_age_hours is not None else max_age_hours()

    # GET /dashboard
    def dashboard(self, as_of_date: dt.date | None) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        day = as_of_date or now.date()
        p = {"as_of": day}
        with self.pool.connection() as conn:
            t = _tables(conn)
            fresh = freshness(conn, t["revenue_daily"], now, self.max_age)
            has_mrr = t["mrr_monthly"] and t["mrr_month_spine"]
            complete = {r["currency"]: r for r in _rows(conn, "mrr_latest_complete", p)} if has_mrr else {}
            running = {r["currency"]: r for r in _rows(conn, "mrr_running", p)} if t["mrr_monthly"] else {}
            revenue = ({r["currency"]: r for r in _rows(conn, "net_revenue_windows", p)}
                       if t["revenue_daily"] else {})
            success = ({r["currency"]: r for r in _rows(conn, "payment_success_7d", p)}
                       if t["payment_health_daily"] else {})
            churn = ({r["currency"]: r for r in _rows(conn, "churn_latest_complete", p)}
                     if t["churn_monthly"] and t["mrr_month_spine"] else {})
            disc = {r["currency"]: r for r in _rows(conn, "open_discrepancies")} if t["discrepancies"] else {}
            alerts = {r["severity"]: int(r["n"]) for r in _rows(conn, "open_alerts_by_severity")} if t["alerts"] else {}
            backlog = _one(conn, "webhook_backlog")
        latest_month = next(iter(complete.values()))["month"] if complete else None
        currencies = sorted(set(complete) | set(running) | set(revenue) | set(success) | set(churn) | set(disc))
        out = []
        for cur in currencies:
            rv = revenue.get(cur, {})
            last = int(rv.get("net_last_30", 0))
            prev = int(rv.get("net_previous_30", 0))
            sc = success.get(cur, {})
            attempts, ok = int(sc.get("attempts", 0)), int(sc.get("succeeded", 0))
            d = disc.get(cur, {})
            out.append({
                "currency": cur,
                "mrr": {"latest_complete": _mrr(complete.get(cur)), "running": _mrr(running.get(cur))},
                "net_revenue": {
                    "last_30_days": {"from": day - dt.timedelta(days=29), "to": day, "net": last,
                                     "gross": int(rv.get("gross_last_30", 0))},
                    "previous_30_days": {"from": day - dt.timedelta(days=59), "to": day - dt.timedelta(days=30),
                                         "net": prev, "gross": int(rv.get("gross_previous_30", 0))},
                    "change": last - prev, "change_rate": _rate(last - prev, abs(prev))},
                "payment_success_7_days": {"from": day - dt.timedelta(days=6), "to": day, "attempts": attempts,
                                           "succeeded": ok, "failed": int(sc.get("failed", 0)),
                                           "success_rate": _rate(ok, attempts)},
                "churn": churn.get(cur),
                "open_discrepancies": {"count": int(d.get("count", 0)), "amount": int(d.get("amount", 0)),
                                       "pending_count": int(d.get("pending_count", 0))},
            })
        return {"as_of": now, "as_of_date": day, "latest_complete_month": latest_month, "freshness": fresh,
                "currencies": out, "open_alerts": {s: alerts.get(s, 0) for s in SEVERITIES},
                "webhook_backlog": _backlog(backlog, now)}

    # GET /revenue
    def revenue(self, start: dt.date, end: dt.date, granularity: str, currency: str | None, limit: int,
                cursor: str | None) -> dict[str, Any]:
        check_range(start, end)
        query = {"from": start, "to": end, "granularity": granularity, "currency": currency}
        after = decode_cursor(cursor, query, 2)
        params = {"from": start, "to": end, "currency": currency, "limit": limit + 1,
                  "after_period": _parse_date(after[0], "period") if after else None,
                  "after_currency": str(after[1]) if after else None}
        table = "revenue_daily" if granularity == "day" else "revenue_monthly"
        with self.pool.connection() as conn:
            rows = _rows(conn, table, params) if _tables(conn)[table] else []
        page, more = rows[:limit], len(rows) > limit
        nxt = encode_cursor([page[-1]["period"].isoformat(), page[-1]["currency"]], query) if more else None
        return {"granularity": granularity, "from": start, "to": end, "currency": currency, "items": page,
                "next_cursor": nxt}

    # GET /transactions
    def transactions(self, start: dt.date, end: dt.date, currency: str | None, limit: int,
                     cursor: str | None) -> dict[str, Any]:
        check_range(start, end)
        query = {"from": start, "to": end, "currency": currency}
        after = decode_cursor(cursor, query, 2)
        base = {"from": start, "to": end, "currency": currency}
        with self.pool.connection() as conn:
            t = _tables(conn)
            charges = _rows(conn, "payment_health_range", base) if t["payment_health_daily"] else []
            summary = _rows(conn, "api_attempts_summary", base)
            items = _rows(conn, "api_attempts_page", {
                **base, "limit": limit + 1,
                "after_at": _parse_instant(after[0], "created_at") if after else None,
                "after_id": str(after[1]) if after else None})
        page, more = items[:limit], len(items) > limit
        nxt = encode_cursor([page[-1]["created_at"].isoformat(), page[-1]["id"]], query) if more else None
        return {"from": start, "to": end, "currency": currency,
                "charges": [_charge_health(r) for r in charges],
                "api_attempts": [_attempt_summary(r) for r in summary], "items": page, "next_cursor": nxt}

    # GET /alerts
    def alerts(self, days: int, severity: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        query = {"days": days, "severity": severity}
        after = decode_cursor(cursor, query, 2)
        params = {"days": days, "severity": severity, "limit": limit + 1,
                  "after_at": _parse_instant(after[0], "first_seen_at") if after else None,
                  "after_id": _int(after[1]) if after else None}
        with self.pool.connection() as conn:
            if _tables(conn)["alerts"]:
                rows = _rows(conn, "alerts_page", params)
                counts = _one(conn, "alerts_counts", params)
            else:
                rows, counts = [], {}
        page, more = rows[:limit], len(rows) > limit
        nxt = encode_cursor([page[-1]["first_seen_at"].isoformat(), page[-1]["alert_id"]], query) if more else None
        return {"days": days, "open_count": int(counts.get("open_count") or 0),
                "resolved_count": int(counts.get("resolved_count") or 0), "items": page, "next_cursor": nxt}

    # GET /health
    def health(self, stats: RequestStats | None, dagster_url: str | None) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        if stats is not None:
            windows, source = stats.windows((5, 60))
            requests = {"source": source, "windows": [w.as_dict() for w in windows]}
        else:
            requests = {"source": "off", "windows": []}
        with self.pool.connection() as conn:
            t = _tables(conn)
            backlog = _backlog(_one(conn, "webhook_backlog"), now)
            processing = _one(conn, "webhook_processing")
            workers = {k: int(v) for k, v in _one(conn, "worker_failures").items()}
            fresh = freshness(conn, t["revenue_daily"], now, self.max_age)
        runs, source, error = [], "freshness", None
        if dagster_url:
            try:
                runs, source = last_successful_runs(dagster_url), "dagster"
            except Exception as exc:  # unreachable or not a Dagster webserver: fall back to data freshness
                error = f"{type(exc).__name__}: Dagster GraphQL API not reachable or answered an error"
                _log.warning("analytics health: %s (%s)", error, exc)
        return {
            "as_of": now, "requests": requests,
            "webhooks": {**backlog, "processed_last_hour": int(processing.get("processed_last_hour") or 0),
                         "processing_p50_seconds": processing.get("p50_seconds"),
                         "processing_p95_seconds": processing.get("p95_seconds")},
            "workers": workers, "stripe_circuits": circuit_states(),
            "pipeline": {"source": source, "dagster_error": error, "last_successful_runs": runs, "freshness": fresh},
        }


_RUNS_QUERY = """query LastSuccess($limit: Int) {
  runsOrError(filter: {statuses: [SUCCESS]}, limit: $limit) {
    __typename
    ... on Runs { results { runId jobName endTime } }
    ... on PythonError { message }
  }
}"""


def last_successful_runs(base_url: str, limit: int = 500) -> list[dict[str, Any]]:
    """The newest successful run of each job, from the Dagster webserver's GraphQL API (newest runs first)."""
    url = base_url.rstrip("/")
    if not url.endswith("/graphql"):
        url += "/graphql"
    resp = httpx.post(url, json={"query": _RUNS_QUERY, "variables": {"limit": limit}},
                      timeout=DAGSTER_TIMEOUT_SECONDS)
    resp.raise_for_status()
    payload = resp.json()
    if payload.get("errors"):
        raise RuntimeError(str(payload["errors"])[:300])
    data = payload["data"]["runsOrError"]
    if data.get("__typename") != "Runs":
        raise RuntimeError(data.get("message", data.get("__typename", "unexpected answer")))
    newest: dict[str, dict[str, Any]] = {}
    for run in data["results"]:
        job, end = run["jobName"], run.get("endTime")
        ended = dt.datetime.fromtimestamp(end, dt.UTC) if end else None
        have = newest.get(job)
        if have is None or (ended and (have["ended_at"] is None or ended > have["ended_at"])):
            newest[job] = {"job": job, "run_id": run["runId"], "ended_at": ended}
    return [newest[j] for j in sorted(newest)]


def dagster_graphql_url(settings: Any) -> str | None:
    """DAGSTER_GRAPHQL_URL: the API setting when it has one, else the environment variable."""
    return getattr(settings, "dagster_graphql_url", None) or os.environ.get("DAGSTER_GRAPHQL_URL") or None


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise Problem(400, "invalid_cursor", "cursor has a bad alert id") from None


def _mrr(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: row[k] for k in ("month", "mrr", "arr", "customers", "arpa", "is_complete")}


def _backlog(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    oldest = row.get("oldest_waiting_received_at")
    return {"pending": int(row.get("pending") or 0), "failed": int(row.get("failed") or 0),
            "manual_review": int(row.get("manual_review") or 0), "oldest_waiting_received_at": oldest,
            "lag_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else None}


def merge_failure_codes(daily: list[str] | None, top: int = 5) -> list[dict[str, Any]]:
    """Sum each day's top-three JSON list (`[{"code", "count"}]`) into one list, largest first, ties by code."""
    total: Counter[str] = Counter()
    for text in daily or []:
        for entry in json.loads(text):
            total[str(entry["code"])] += int(entry["count"])
    ranked = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"code": c, "count": n} for c, n in ranked]


def _charge_health(r: dict[str, Any]) -> dict[str, Any]:
    attempts, ok = int(r["attempts"]), int(r["succeeded"])
    return {"currency": r["currency"], "attempts": attempts, "succeeded": ok, "failed": int(r["failed"]),
            "pending": int(r["pending"]), "success_rate": _rate(ok, attempts),
            "top_failure_codes": merge_failure_codes(r["daily_top_failure_codes"])}


def _attempt_summary(r: dict[str, Any]) -> dict[str, Any]:
    return {"currency": r["currency"], "attempts": int(r["attempts"]), "succeeded": int(r["succeeded"]),
            "failed": int(r["failed"]), "blocked": int(r["blocked"]), "manual_review": int(r["manual_review"]),
            "succeeded_amount": int(r["succeeded_amount"]),
            "risk_decisions": {"allow": int(r["risk_allow"]), "review": int(r["risk_review"]),
                               "block": int(r["risk_block"]), "unscored": int(r["risk_unscored"])}}
