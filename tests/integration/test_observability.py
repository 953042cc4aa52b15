"""Issue 10 item 6: JSON logs with one request id from webhook intake to its effect, no secrets in any line, and
Prometheus metrics scraped over HTTP — all through the shipped layout (`cashbook api`: uvicorn workers plus
webhook worker processes) and a lone `cashbook worker --metrics-port`, against real Postgres."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
from psycopg.types.json import Jsonb

from cashbook.billing.tokens import mint
from cashbook.db.migrate import migrate
from tests.integration.api_fixtures import JWT_SECRET, WEBHOOK_SECRET, load_event, signed, wait_until
from tests.integration.observability_processes import STRIPE_KEY, api_layout, sample, worker_process

PAN = "4000056655665556"
EMAIL = "jo.private@example.org"


def q(pg_url: str, sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_request_id_follows_a_webhook_to_its_ledger_row_and_no_secret_is_logged(pg_url: str,
                                                                                  tmp_path: Path) -> None:
    token = mint("u_obs", JWT_SECRET, email=EMAIL)
    event = load_event("invoice.paid", object={"id": "in_obs_1", "customer_email": EMAIL})
    with api_layout(pg_url, tmp_path) as api:
        body, headers = signed(event)
        r = httpx.post(api.url + "/api/webhooks/stripe", content=body,
                       headers={**headers, "X-Request-ID": "obs-req-0001", "Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "obs-req-0001"
        wait_until(lambda: q(pg_url, "SELECT count(*) FROM ledger_entries WHERE stripe_id = 'in_obs_1'") == [(1,)],
                   timeout=60)
        assert q(pg_url, "SELECT request_id, status FROM webhook_events WHERE id = %s", event["id"]) == [
            ("obs-req-0001", "processed")]
        # a request without an id gets a generated one; an unsafe id is replaced, not echoed
        generated = httpx.get(api.url + "/healthz").headers["x-request-id"]
        assert generated.startswith("req_") and len(generated) == 36
        unsafe = httpx.get(api.url + "/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        assert unsafe.headers["x-request-id"].startswith("req_")
        # requests carrying a bearer token, card data and an e-mail address in their bodies
        billing = httpx.get(api.url + "/api/billing/status", headers={"Authorization": f"Bearer {token}",
                                                                       "X-Request-ID": "obs-req-0002"})
        assert billing.status_code == 200, billing.text
        bad = httpx.post(api.url + "/api/billing/purchase-resume",
                         headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k1",
                                  "Content-Type": "application/json"},
                         content=json.dumps({"pack_id": 1, "card": {"number": PAN, "cvc": "737"},
                                             "note": f"mail {EMAIL} with {STRIPE_KEY}"}))
        assert bad.status_code in (400, 422)
        # a signature that does not verify (wrong secret): logged as a request, the body never
        body2, headers2 = signed(load_event("invoice.paid"), secret="whsec_wrong_secret_value_123")
        assert httpx.post(api.url + "/api/webhooks/stripe", content=body2, headers=headers2).status_code == 401
    raw = api.log_path.read_text()
    records = api.records()  # every line is JSON
    assert records and all({"timestamp", "level", "event", "logger", "pid"} <= r.keys() for r in records)
    assert not [r for r in records if r["logger"] == "uvicorn.access"]  # ours is the access line

    traced = [r for r in records if r.get("request_id") == "obs-req-0001"]
    events = {(r["logger"], r["event"]) for r in traced}
    assert ("cashbook.api", "request") in events  # intake: the delivery's access line, in an API worker
    assert ("cashbook.worker", "webhook event processed") in events  # processing, in a webhook worker process
    assert ("cashbook.ledger", "ledger entry recorded") in events  # the effect
    ledger = next(r for r in traced if r["event"] == "ledger entry recorded")
    assert ledger["stripe_id"] == "in_obs_1" and ledger["event_id"] == event["id"] and ledger["type"] == "payment"
    access = next(r for r in traced if r["event"] == "request")
    assert access["route"] == "/api/webhooks/stripe" and access["status"] == 200 and access["method"] == "POST"
    assert (access["event_id"], access["event_type"], access["duplicate"]) == (event["id"], "invoice.paid", False)
    assert ledger["pid"] != access["pid"]  # processed outside the request process (issue 15)
    assert any(r.get("request_id") == "obs-req-0002" and r["event"] == "request"
               and r["route"] == "/api/billing/status" for r in records)
    assert any(r["event"] == "request" and r["status"] == 401 for r in records)

    for secret in (token, token.split(".")[1], STRIPE_KEY, WEBHOOK_SECRET, JWT_SECRET, "whsec_wrong_secret",
                   PAN, "cvc", EMAIL, "jo.private", headers["Stripe-Signature"].split("v1=")[1]):
        assert secret not in raw, f"{secret[:12]}… appears in the logs"


def test_metrics_over_http_from_the_api_and_its_webhook_workers(pg_url: str, tmp_path: Path) -> None:
    with api_layout(pg_url, tmp_path) as api:
        for i in range(3):
            body, headers = signed(load_event("invoice.paid", object={"id": f"in_met_{i}"}))
            assert httpx.post(api.url + "/api/webhooks/stripe", content=body, headers=headers).status_code == 200
        body, headers = signed(load_event("invoice.paid", object={"id": "in_met_0"}) | {"id": "evt_dup_x"})
        httpx.post(api.url + "/api/webhooks/stripe", content=body, headers=headers)
        httpx.post(api.url + "/api/webhooks/stripe", content=body, headers=headers)  # a duplicate delivery
        assert httpx.get(api.url + "/api/billing/status").status_code == 401
        assert httpx.get(api.url + "/no/such/path/42").status_code == 404
        wait_until(lambda: q(pg_url, "SELECT count(*) FROM webhook_events WHERE status = 'processed'") == [(4,)],
                   timeout=60)
        with psycopg.connect(pg_url) as conn:  # one parked-for-later event, 120 s old, not due for an hour
            ev = load_event("invoice.paid")
            conn.execute("INSERT INTO webhook_events (id, type, created, payload, received_at, next_attempt_at)"
                         " VALUES (%s, %s, %s, %s, now() - interval '120 seconds', now() + interval '1 hour')",
                         (ev["id"], ev["type"], ev["created"], Jsonb(ev)))
        httpx.get(api.url + "/readyz")  # pings Stripe: nothing listens there, a counted error
        text = ""

        def scraped() -> bool:
            nonlocal text
            r = httpx.get(api.url + "/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            text = r.text  # the webhook worker flushes its counters to the shared directory as it goes
            return sample(text, "cashbook_webhook_events_total", type="invoice.paid", outcome="processed") == 4

        wait_until(scraped, timeout=30)
    route = "/api/webhooks/stripe"
    assert sample(text, "cashbook_http_requests_total", method="POST", route=route, status="200") == 5
    assert sample(text, "cashbook_http_request_duration_seconds_count", method="POST", route=route,
                  status="200") == 5
    assert sample(text, "cashbook_http_request_duration_seconds_bucket", method="POST", route=route,
                  status="200", le="+Inf") == 5
    assert sample(text, "cashbook_http_requests_total", method="GET", route="/api/billing/status",
                  status="401") == 1
    assert sample(text, "cashbook_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert sample(text, "cashbook_webhook_deliveries_total", duplicate="true") == 1
    assert sample(text, "cashbook_webhook_deliveries_total", duplicate="false") == 4  # 3 + evt_dup_x
    assert sample(text, "cashbook_webhook_inbox_up") == 1
    assert sample(text, "cashbook_webhook_inbox_backlog", status="pending") == 1
    assert sample(text, "cashbook_webhook_inbox_backlog", status="manual_review") == 0
    age = sample(text, "cashbook_webhook_inbox_oldest_age_seconds", status="pending")
    assert age is not None and 120 <= age < 3600
    assert (sample(text, "cashbook_stripe_requests_total", method="Balance.retrieve", outcome="stripe_unavailable")
            or 0) >= 1
    assert (sample(text, "cashbook_stripe_retries_total") or 0) >= 1  # STRIPE_MAX_NETWORK_RETRIES=1


def test_worker_metrics_port_counts_parked_events_pages_and_backlog(pg_url: str, tmp_path: Path) -> None:
    """A lone `cashbook worker --metrics-port`: an amount mismatch is parked and pages on-call (log sink)."""
    migrate(pg_url)  # the worker does not migrate; the API (or `cashbook migrate`) does
    with worker_process(pg_url, tmp_path) as worker:
        with psycopg.connect(pg_url) as conn:
            conn.execute("INSERT INTO users (id, email) VALUES ('mia', %s)", (EMAIL,))
            conn.execute("INSERT INTO payment_attempts (id, user_id, kind, stripe_id, pack_id, credits, amount,"
                         " currency, status) VALUES ('cp_mia', 'mia', 'credit_purchase', 'pi_obs_mm', 'resume_5', 5,"
                         " 1999, 'usd', 'requires_confirmation')")
            conn.execute("INSERT INTO payment_attempts (id, user_id, kind, stripe_id, pack_id, credits, amount,"
                         " currency, status) VALUES ('cp_mia2', 'mia', 'credit_purchase', 'pi_obs_ok', 'resume_5', 5,"
                         " 2000, 'usd', 'requires_confirmation')")
            events = [load_event("payment_intent.succeeded", object={"id": "pi_obs_mm", "amount": 2000}),
                      load_event("payment_intent.succeeded", object={"id": "pi_obs_ok", "amount": 2000,
                                                                     "currency": "usd"}),
                      load_event("invoice.paid", object={"id": "in_obs_w"}), load_event("payout.paid")]
            for i, ev in enumerate(events):
                conn.execute("INSERT INTO webhook_events (id, type, created, payload, request_id)"
                             " VALUES (%s, %s, %s, %s, %s)", (ev["id"], ev["type"], ev["created"], Jsonb(ev), f"req-w-{i}"))
        wait_until(lambda: q(pg_url, "SELECT count(*) FROM webhook_events WHERE status IN"
                                     " ('processed', 'ignored', 'manual_review')") == [(4,)], timeout=60)
        text = ""

        def scraped() -> bool:
            nonlocal text
            text = httpx.get(worker.url + "/metrics").text
            return sample(text, "cashbook_pages_total", sink="log", action="trigger", outcome="sent") == 1

        wait_until(scraped, timeout=30)
    assert sample(text, "cashbook_webhook_events_total", type="payment_intent.succeeded", outcome="parked") == 1
    assert sample(text, "cashbook_webhook_events_total", type="invoice.paid", outcome="processed") == 1
    assert sample(text, "cashbook_webhook_events_total", type="payment_intent.succeeded", outcome="processed") == 1
    assert sample(text, "cashbook_webhook_events_total", type="payout.paid", outcome="ignored") == 1
    assert sample(text, "cashbook_webhook_inbox_backlog", status="manual_review") == 1
    assert sample(text, "cashbook_webhook_inbox_backlog", status="pending") == 0
    records = worker.records()
    parked = [r for r in records if r.get("event_id") == events[0]["id"]]
    assert {"webhook handler failed", "webhook event parked"} <= {r["event"] for r in parked}
    assert all(r["request_id"] == "req-w-0" for r in parked)
    granted = [r for r in records if r.get("request_id") == "req-w-1"]  # the effect: credits and a ledger row
    assert {"credits granted", "ledger entry recorded", "webhook event processed"} <= {r["event"] for r in granted}
    assert EMAIL not in worker.log_path.read_text() and STRIPE_KEY not in worker.log_path.read_text()


def _webhook_worker_pids(api_pid: int) -> list[int]:
    # every thread's children: the supervisor thread respawns workers, and /proc lists children per thread
    kids: list[str] = []
    for task in Path(f"/proc/{api_pid}/task").iterdir():
        try:
            kids += (task / "children").read_text().split()
        except OSError:  # a thread that ended meanwhile
            continue
    found = []
    for kid in kids:
        try:
            cmdline = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in cmdline and b"--parent-pid" in cmdline:
            found.append(int(kid))
    return found


def test_cashbook_api_restarts_a_webhook_worker_that_died(pg_url: str, tmp_path: Path) -> None:
    import os
    import signal

    with api_layout(pg_url, tmp_path, workers=1) as api:
        first = wait_until(lambda: _webhook_worker_pids(api.proc.pid), timeout=30)
        assert len(first) == 1
        os.kill(first[0], signal.SIGKILL)
        again = wait_until(lambda: [p for p in _webhook_worker_pids(api.proc.pid) if p != first[0]], timeout=30)
        assert len(again) == 1
        body, headers = signed(load_event("invoice.paid", object={"id": "in_after_restart"}))
        assert httpx.post(api.url + "/api/webhooks/stripe", content=body, headers=headers).status_code == 200
        wait_until(lambda: q(pg_url, "SELECT count(*) FROM ledger_entries WHERE stripe_id = 'in_after_restart'")
                   == [(1,)], timeout=60)
    assert any(r["event"] == "webhook worker exited; restarting" for r in api.records())
