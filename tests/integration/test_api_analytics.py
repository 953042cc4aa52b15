"""/api/analytics over real HTTP: every figure equals a direct SQL query on the published marts (issue 13).

The marts are built from a simulated account (the same SQL the pipeline runs), published to this test's own
Postgres with the pipeline's publisher, then read through the running API. The expected values are computed
here with independent SQL on `analytics.*` and the API's tables, not with the service's queries.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from typing import Any

import duckdb
import psycopg
import pytest

from cashbook.billing.tokens import ADMIN_AUDIENCE, mint
from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from cashbook.marts import MART_TABLES, build_all
from cashbook.publish import publish_table
from cashbook.simulator import SimConfig, simulate
from cashbook.sources.export import read_export
from cashbook.warehouse import register_raw_tables
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.api_fixtures import JWT_SECRET, ApiFactory

ROUTES = ["/api/analytics/dashboard", "/api/analytics/revenue", "/api/analytics/transactions",
          "/api/analytics/health", "/api/analytics/alerts"]
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    out = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(out=out, customers=80, months=3, seed=13, start=dt.date(2025, 1, 1)))
    con = duckdb.connect()
    register_raw_tables(con, read_export(out))
    build_all(con)
    return con


def _publish(con: duckdb.DuckDBPyConnection, url: str) -> None:
    migrate(url)
    for mart in MART_TABLES:
        publish_table(con, f"marts.{mart}", url, f"analytics.{mart}")
    at = {"stripe_object_id": None, "ledger_entry_id": None, "occurred_at": dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
          "detail": "test"}
    rows = [
        discrepancy("d1", difference=100, **at),
        discrepancy("d2", "missing_in_stripe", stripe_amount=None, ledger_amount=2500, difference=-2500, **at),
        discrepancy("d3", "pending", stripe_amount=700, ledger_amount=None, difference=700, **at),
        discrepancy("d4", stripe_amount=500, difference=50, currency="eur", **at),
    ]
    publish_discrepancies(url, discrepancy_table(rows), run_id="r1")
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url) as conn:
        for i, (sev, status, resolved) in enumerate([
                ("critical", "open", None), ("warning", "open", None), ("warning", "open", None),
                ("error", "resolved", now - dt.timedelta(days=2)), ("info", "resolved", now - dt.timedelta(days=40))]):
            conn.execute(
                "INSERT INTO analytics.alerts (rule, dedup_key, scope, severity, status, summary, first_seen_at,"
                " last_seen_at, resolved_at) VALUES (%s, %s, 'usd', %s, %s, 'test alert', %s, %s, %s)",
                (f"rule_{i}", f"key_{i}", sev, status, now - dt.timedelta(hours=50 - i), now, resolved))
        for i, status in enumerate(["pending", "pending", "failed", "manual_review", "processed"]):
            conn.execute("INSERT INTO webhook_events (id, type, created, payload, status, received_at, processed_at)"
                         " VALUES (%s, 'invoice.paid', 0, '{}', %s, %s, %s)",
                         (f"evt_{i}", status, now - dt.timedelta(minutes=30 - i),
                          now if status == "processed" else None))
        conn.execute("INSERT INTO users (id, email) VALUES ('buyer', 'b@example.com')")
        for i, (status, decision, cur) in enumerate([
                ("succeeded", "allow", "usd"), ("failed", "allow", "usd"), ("blocked", "block", "usd"),
                ("manual_review", "review", "eur"), ("succeeded", None, "usd")]):
            conn.execute("INSERT INTO payment_attempts (id, user_id, kind, amount, currency, status, risk_score,"
                         " risk_decision, created_at) VALUES (%s, 'buyer', 'credit_purchase', %s, %s, %s, %s, %s, %s)",
                         (f"pa_{i}", 1000 + i, cur, status, 10 * i, decision,
                          dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC) + dt.timedelta(hours=i)))


def _sql(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _iso(d: dt.date) -> str:
    return d.isoformat()


def test_dashboard_figures_equal_the_marts(running_api_factory: ApiFactory, pg_url: str,
                                          marts: duckdb.DuckDBPyConnection) -> None:
    _publish(marts, pg_url)
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    as_of = _sql(pg_url, "SELECT max(day) FROM analytics.revenue_daily")[0][0]
    resp = api.client.get("/api/analytics/dashboard", headers=admin, params={"as_of": _iso(as_of)})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["as_of_date"] == _iso(as_of)
    assert body["as_of"].endswith("Z")  # UTC ISO 8601

    month_start = as_of.replace(day=1)
    complete = _sql(pg_url, "SELECT max(month) FROM analytics.mrr_month_spine WHERE is_complete AND month < %s",
                    (month_start,))[0][0]
    assert complete is not None and body["latest_complete_month"] == _iso(complete)
    by_cur = {c["currency"]: c for c in body["currencies"]}
    mrr_rows = _sql(pg_url, "SELECT currency, month, mrr, arr, customers, arpa, is_complete FROM analytics.mrr_monthly"
                            " WHERE month IN (%s, %s)", (complete, month_start))
    assert mrr_rows
    for cur, month, mrr, arr, customers, arpa, is_complete in mrr_rows:
        slot = "latest_complete" if month == complete else "running"
        got = by_cur[cur]["mrr"][slot]
        assert (got["month"], got["mrr"], got["arr"], got["customers"], got["arpa"], got["is_complete"]) == (
            _iso(month), mrr, arr, customers, arpa, is_complete)
    assert any(c["mrr"]["running"] and not c["mrr"]["running"]["is_complete"] for c in by_cur.values())

    for cur, c in by_cur.items():
        windows = {}
        for name, lo, hi in (("last_30_days", as_of - dt.timedelta(days=29), as_of),
                             ("previous_30_days", as_of - dt.timedelta(days=59), as_of - dt.timedelta(days=30))):
            net, gross = _sql(pg_url, "SELECT coalesce(sum(net), 0)::bigint, coalesce(sum(gross), 0)::bigint"
                                      " FROM analytics.revenue_daily WHERE currency = %s AND day BETWEEN %s AND %s",
                              (cur, lo, hi))[0]
            got = c["net_revenue"][name]
            assert (got["from"], got["to"], got["net"], got["gross"]) == (_iso(lo), _iso(hi), net, gross)
            windows[name] = net
        assert c["net_revenue"]["change"] == windows["last_30_days"] - windows["previous_30_days"]

        attempts, succeeded, failed = _sql(
            pg_url, "SELECT coalesce(sum(attempts), 0)::bigint, coalesce(sum(succeeded), 0)::bigint,"
                    " coalesce(sum(failed), 0)::bigint FROM analytics.payment_health_daily"
                    " WHERE currency = %s AND day BETWEEN %s AND %s", (cur, as_of - dt.timedelta(days=6), as_of))[0]
        ps = c["payment_success_7_days"]
        assert (ps["attempts"], ps["succeeded"], ps["failed"]) == (attempts, succeeded, failed)
        assert ps["success_rate"] == (pytest.approx(succeeded / attempts) if attempts else None)

        churn = _sql(pg_url, "SELECT previous_customers, churned_customers, customer_churn_rate, previous_mrr,"
                             " churned_mrr, contraction_mrr, gross_mrr_churn_rate, net_mrr_churn_rate"
                             " FROM analytics.churn_monthly WHERE currency = %s AND month = %s", (cur, complete))
        if churn:
            got = c["churn"]
            assert got["month"] == _iso(complete)
            assert (got["previous_customers"], got["churned_customers"], got["customer_churn_rate"],
                    got["previous_mrr"], got["churned_mrr"], got["contraction_mrr"], got["gross_mrr_churn_rate"],
                    got["net_mrr_churn_rate"]) == churn[0]
    assert by_cur["usd"]["net_revenue"]["last_30_days"]["net"] != 0  # the account really has revenue

    disc = dict(((cur, (n, amount)) for cur, n, amount in _sql(
        pg_url, "SELECT currency, count(*), sum(abs(difference))::bigint FROM analytics.discrepancies"
                " WHERE status = 'open' AND kind <> 'pending' GROUP BY currency")))
    assert disc == {"usd": (2, 2600), "eur": (1, 50)}
    for cur, (n, amount) in disc.items():
        assert (by_cur[cur]["open_discrepancies"]["count"], by_cur[cur]["open_discrepancies"]["amount"]) == (n, amount)
    assert by_cur["usd"]["open_discrepancies"]["pending_count"] == 1

    alerts = dict(_sql(pg_url, "SELECT severity, count(*) FROM analytics.alerts WHERE status = 'open' GROUP BY 1"))
    assert body["open_alerts"] == {s: alerts.get(s, 0) for s in ("critical", "error", "warning", "info")}
    assert body["open_alerts"]["warning"] == 2
    backlog = body["webhook_backlog"]
    assert (backlog["pending"], backlog["failed"], backlog["manual_review"]) == (2, 1, 1)
    assert backlog["lag_seconds"] >= 29 * 60

    newest = _sql(pg_url, "SELECT max(day) FROM analytics.revenue_daily WHERE balance_transaction_count > 0")[0][0]
    fresh = body["freshness"]
    assert fresh["newest_balance_transaction_day"] == _iso(newest)
    assert fresh["stale"] is True  # a 2025 account read today: the dashboard says the data is old
    assert fresh["age_hours"] > fresh["max_age_hours"]


def test_revenue_pages_equal_the_marts(running_api_factory: ApiFactory, pg_url: str,
                                       marts: duckdb.DuckDBPyConnection) -> None:
    _publish(marts, pg_url)
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    cols = ("gross, refunds, disputes, other, fees, net, payouts, charge_count, refund_count, dispute_count,"
            " dispute_reversal_count, other_count, payout_count, balance_transaction_count")
    names = [c.strip() for c in cols.split(",")]

    def pages(params: dict[str, Any]) -> list[dict[str, Any]]:
        items, cursor, n = [], None, 0
        while True:
            resp = api.client.get("/api/analytics/revenue", headers=admin,
                                  params={**params, **({"cursor": cursor} if cursor else {})})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            items += body["items"]
            cursor, n = body["next_cursor"], n + 1
            if cursor is None:
                return items
            assert len(body["items"]) == params["limit"] and n < 100

    daily = pages({"from": "2025-01-15", "to": "2025-03-10", "granularity": "day", "limit": 17})
    want = _sql(pg_url, f"SELECT day, currency, {cols} FROM analytics.revenue_daily"
                        " WHERE day BETWEEN '2025-01-15' AND '2025-03-10' ORDER BY day, currency")
    assert len(want) > 17
    assert [(r["period"], r["currency"], *(r[c] for c in names)) for r in daily] == [
        (_iso(d), cur, *rest) for d, cur, *rest in want]

    usd = pages({"from": "2025-02-01", "to": "2025-02-28", "currency": "USD", "limit": 5})
    assert {r["currency"] for r in usd} == {"usd"}
    assert sum(r["net"] for r in usd) == _sql(pg_url, "SELECT sum(net) FROM analytics.revenue_daily WHERE currency ="
                                                      " 'usd' AND day BETWEEN '2025-02-01' AND '2025-02-28'")[0][0]

    monthly = pages({"from": "2025-01-20", "to": "2025-03-31", "granularity": "month", "limit": 2})
    want = _sql(pg_url, f"SELECT month, currency, {cols} FROM analytics.revenue_monthly"
                        " WHERE month BETWEEN '2025-01-01' AND '2025-03-31' ORDER BY month, currency")
    assert len(want) >= 6
    assert [(r["period"], r["currency"], *(r[c] for c in names)) for r in monthly] == [
        (_iso(m), cur, *rest) for m, cur, *rest in want]


def test_transactions_equal_the_marts_and_api_attempts(running_api_factory: ApiFactory, pg_url: str,
                                                       marts: duckdb.DuckDBPyConnection) -> None:
    _publish(marts, pg_url)
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    resp = api.client.get("/api/analytics/transactions", headers=admin,
                          params={"from": "2025-02-01", "to": "2025-03-31", "limit": 2})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    want = _sql(pg_url, "SELECT currency, sum(attempts)::bigint, sum(succeeded)::bigint, sum(failed)::bigint,"
                        " sum(pending)::bigint FROM analytics.payment_health_daily"
                        " WHERE day BETWEEN '2025-02-01' AND '2025-03-31' GROUP BY 1 ORDER BY 1")
    assert [(c["currency"], c["attempts"], c["succeeded"], c["failed"], c["pending"]) for c in body["charges"]] == want
    for c, (_, attempts, succeeded, _f, _p) in zip(body["charges"], want, strict=True):
        assert c["success_rate"] == pytest.approx(succeeded / attempts)
    codes: dict[str, Counter[str]] = {}
    for cur, text in _sql(pg_url, "SELECT currency, top_failure_codes FROM analytics.payment_health_daily"
                                  " WHERE day BETWEEN '2025-02-01' AND '2025-03-31'"):
        for e in json.loads(text or "[]"):
            codes.setdefault(cur, Counter())[e["code"]] += e["count"]
    for c in body["charges"]:
        expected = sorted(codes.get(c["currency"], Counter()).items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        assert [(e["code"], e["count"]) for e in c["top_failure_codes"]] == expected
    assert any(c["top_failure_codes"] for c in body["charges"])  # the simulated account has declines

    summary = {s["currency"]: s for s in body["api_attempts"]}
    assert (summary["usd"]["attempts"], summary["usd"]["succeeded"], summary["usd"]["failed"],
            summary["usd"]["blocked"]) == (4, 2, 1, 1)
    assert summary["usd"]["succeeded_amount"] == 1000 + 1004
    assert summary["usd"]["risk_decisions"] == {"allow": 2, "review": 0, "block": 1, "unscored": 1}
    assert summary["eur"]["risk_decisions"]["review"] == 1 and summary["eur"]["manual_review"] == 1

    ids = [i["id"] for i in body["items"]]
    cursor = body["next_cursor"]
    while cursor:
        nxt = api.client.get("/api/analytics/transactions", headers=admin,
                             params={"from": "2025-02-01", "to": "2025-03-31", "limit": 2, "cursor": cursor}).json()
        ids += [i["id"] for i in nxt["items"]]
        cursor = nxt["next_cursor"]
    assert ids == [f"pa_{i}" for i in (4, 3, 2, 1, 0)]  # newest first, every attempt once
    first = {i["id"]: i for i in body["items"]}
    assert first["pa_4"]["created_at"] == "2025-03-10T16:00:00Z"
    assert first["pa_3"]["risk_decision"] == "review" and first["pa_3"]["risk_score"] == 30

    eur = api.client.get("/api/analytics/transactions", headers=admin,
                         params={"from": "2025-03-01", "to": "2025-03-31", "currency": "eur"}).json()
    assert {c["currency"] for c in eur["charges"]} <= {"eur"} and [i["id"] for i in eur["items"]] == ["pa_3"]


def test_alerts_open_and_recently_resolved(running_api_factory: ApiFactory, pg_url: str,
                                           marts: duckdb.DuckDBPyConnection) -> None:
    _publish(marts, pg_url)
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    body = api.client.get("/api/analytics/alerts", headers=admin, params={"days": 7, "limit": 2}).json()
    assert (body["open_count"], body["resolved_count"]) == (3, 1)
    seen = [a["rule"] for a in body["items"]]
    while body["next_cursor"]:
        body = api.client.get("/api/analytics/alerts", headers=admin,
                              params={"days": 7, "limit": 2, "cursor": body["next_cursor"]}).json()
        seen += [a["rule"] for a in body["items"]]
    assert seen == ["rule_3", "rule_2", "rule_1", "rule_0"]  # newest first; the 40-day-old resolution is out
    wide = api.client.get("/api/analytics/alerts", headers=admin, params={"days": 60}).json()
    assert wide["resolved_count"] == 2 and len(wide["items"]) == 5
    crit = api.client.get("/api/analytics/alerts", headers=admin, params={"severity": "critical"}).json()
    assert [a["rule"] for a in crit["items"]] == ["rule_0"]


def test_health_counts_requests_in_redis_and_survives_redis_down(running_api_factory: ApiFactory, pg_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", "http://127.0.0.1:9/graphql")  # nothing listens: falls back
    prefix = "test-" + uuid.uuid4().hex[:8]
    api = running_api_factory(worker_in_process=False, redis_url="redis://127.0.0.1:6379/0",
                              rate_limit_key_prefix=prefix)
    admin = api.admin_token("ops")
    for _ in range(5):
        assert api.client.get("/api/analytics/alerts", headers=admin).status_code == 200
    assert api.client.get("/api/analytics/nope", headers=admin).status_code == 404
    # Stripe is unreachable in this app (its gateway points at a closed port): billing calls fail with 502
    buyer = api.token("buyer", email="buyer@example.test")
    failed = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=buyer)
    assert failed.status_code in (502, 503), failed.text

    def five_min() -> dict[str, Any]:
        body = api.client.get("/api/analytics/health", headers=admin).json()
        assert body["requests"]["source"] == "redis"
        return body

    from tests.integration.api_fixtures import wait_until

    body = wait_until(lambda: (b := five_min())["requests"]["windows"][0]["requests"] >= 7 and b)
    w5, w60 = body["requests"]["windows"]
    assert (w5["minutes"], w60["minutes"]) == (5, 60)
    assert w5["client_errors"] >= 1
    assert w5["latency_ms"]["p50"] is not None and w5["latency_ms"]["p50"] <= w5["latency_ms"]["p99"]
    assert w60["requests"] >= w5["requests"]
    assert w5["billing_requests"] == 1 and w5["stripe_failures"] == 1 and w5["stripe_error_rate"] == 1.0
    assert w5["server_errors"] == 1 and w5["error_rate"] > 0
    assert body["pipeline"]["source"] == "freshness" and body["pipeline"]["dagster_error"]
    assert body["pipeline"]["freshness"]["stale"] is True  # nothing published in this database
    assert "stripe" in body["stripe_circuits"] and body["stripe_circuits"]["stripe"]["state"] == "closed"
    assert body["workers"]["emails_failed"] == 0

    import redis

    # shared across processes: the counts live in Redis (flushed once a second per process, api/request_stats.py)
    keys = wait_until(lambda: redis.Redis.from_url("redis://127.0.0.1:6379/0").keys(f"{prefix}-stats:*"))
    assert keys

    down = running_api_factory(worker_in_process=False, redis_url="redis://127.0.0.1:1/0")
    admin2 = down.admin_token("ops2")
    assert down.client.get("/api/analytics/alerts", headers=admin2).status_code == 200
    body = down.client.get("/api/analytics/health", headers=admin2).json()
    assert body["requests"]["source"] == "process"
    assert body["requests"]["windows"][0]["requests"] >= 1


def test_access_control(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    api.admin_token("ops")  # an admin exists; the others below are not it
    user = {"Authorization": f"Bearer {mint('u1', JWT_SECRET)}"}
    no_role = {"Authorization": f"Bearer {mint('u2', JWT_SECRET, audience=ADMIN_AUDIENCE, ttl_seconds=600)}"}
    for route in ROUTES:
        for headers, status in ((user, 403), (no_role, 403), ({}, 401)):
            resp = api.client.get(route, headers=headers)
            assert resp.status_code == status, (route, resp.text)
            assert resp.headers["content-type"].startswith(PROBLEM)


def test_bad_parameters_are_problems(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    cases = [
        ("/api/analytics/revenue", {"from": "2025-03-01", "to": "2025-02-01"}, 400, "invalid_range"),
        ("/api/analytics/transactions", {"from": "2025-03-01", "to": "2025-02-01"}, 400, "invalid_range"),
        ("/api/analytics/revenue", {"from": "2000-01-01", "to": "2025-02-01"}, 400, "invalid_range"),
        ("/api/analytics/revenue", {"granularity": "week"}, 422, "validation_error"),
        ("/api/analytics/revenue", {"from": "2025-02-30"}, 422, "validation_error"),
        ("/api/analytics/revenue", {"currency": "dollars"}, 422, "validation_error"),
        ("/api/analytics/revenue", {"limit": 0}, 422, "validation_error"),
        ("/api/analytics/revenue", {"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ("/api/analytics/alerts", {"days": 0}, 422, "validation_error"),
        ("/api/analytics/alerts", {"severity": "loud"}, 422, "validation_error"),
        ("/api/analytics/dashboard", {"as_of": "yesterday"}, 422, "validation_error"),
        ("/api/analytics/dashboard", {"as_of": "0001-01-01"}, 422, "validation_error"),
        ("/api/analytics/revenue", {"to": "0001-01-10"}, 422, "validation_error"),
        ("/api/analytics/transactions", {"to": "0"}, 422, "validation_error"),  # not a Unix time
    ]
    for route, params, status, code in cases:
        resp = api.client.get(route, headers=admin, params=params)
        assert resp.status_code == status, (route, params, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert resp.json()["type"].endswith("/" + code), resp.json()
    # a cursor is bound to the filters it came from
    with psycopg.connect(api.database_url) as conn:
        conn.execute("INSERT INTO users (id) VALUES ('b')")
        for i in range(3):
            conn.execute("INSERT INTO payment_attempts (id, user_id, kind, amount, currency, status, created_at)"
                         " VALUES (%s, 'b', 'credit_purchase', 100, 'usd', 'succeeded', %s)",
                         (f"p{i}", dt.datetime(2025, 1, 2, i, tzinfo=dt.UTC)))
    first = api.client.get("/api/analytics/transactions", headers=admin,
                           params={"from": "2025-01-01", "to": "2025-01-31", "limit": 1}).json()
    assert first["next_cursor"]
    other = api.client.get("/api/analytics/transactions", headers=admin,
                           params={"from": "2025-01-01", "to": "2025-01-30", "limit": 1, "cursor": first["next_cursor"]})
    assert other.status_code == 400 and other.json()["type"].endswith("/invalid_cursor")


def test_empty_install_answers_without_published_marts(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    body = api.client.get("/api/analytics/dashboard", headers=admin).json()
    assert body["currencies"] == [] and body["freshness"]["stale"] is True
    assert body["freshness"]["newest_balance_transaction_day"] is None
    rev = api.client.get("/api/analytics/revenue", headers=admin).json()
    assert rev["items"] == [] and rev["next_cursor"] is None


def test_openapi_documents_the_analytics_routes(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False, docs_enabled=True)
    doc = api.client.get("/openapi.json").json()
    for route in ROUTES:
        op = doc["paths"][route]["get"]
        assert "application/json" in op["responses"]["200"]["content"]
        for code in ("400", "401", "403", "422", "429"):
            assert PROBLEM in op["responses"][code]["content"], (route, code)
