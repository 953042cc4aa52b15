#!/usr/bin/env bash
# The README's billing-API walkthrough ("The billing API against localstripe") as a script that runs top to
# bottom: `make walkthrough`, `bash docs/walkthrough.sh`, or paste the lines into bash at the repository root.
#
# It starts localstripe and the API in the background, waits for them (/readyz), subscribes, buys a credit pack,
# confirms it with the PaymentIntent id read from the answer, shows status and history, and on exit (normal, error
# or Ctrl-C) stops what it started: the API (and its webhook worker), localstripe, and the embedded Postgres if
# this script started it. Ids are read with sed, so it needs only bash, curl and the project's virtualenv.
# Ports: WALKTHROUGH_API_PORT (8000) and WALKTHROUGH_STRIPE_PORT (8420). With DATABASE_URL set, that database is
# used; otherwise the embedded server under $CASHBOOK_HOME (.cashbook).
set -euo pipefail
if [ -n "${BASH_SOURCE[0]:-}" ] && [ -f "${BASH_SOURCE[0]}" ]; then cd "$(dirname "${BASH_SOURCE[0]}")/.."; fi
CB=${CB:-.venv/bin}
API_PORT=${WALKTHROUGH_API_PORT:-8000}
STRIPE_PORT=${WALKTHROUGH_STRIPE_PORT:-8420}
PG_PID_FILE="${CASHBOOK_HOME:-.cashbook}/pg/postmaster.pid"
PG_WAS_UP=0; [ -e "$PG_PID_FILE" ] && PG_WAS_UP=1
PIDS=()

cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$PG_WAS_UP" = 0 ] && [ -z "${DATABASE_URL:-}" ]; then "$CB/cashbook" db-stop >/dev/null || true; fi
  echo "walkthrough: cleaned up (API, webhook worker, localstripe; embedded Postgres if started here)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# waits until URL answers 2xx (at most ~2 min: a first embedded Postgres start runs initdb)
wait_for() { for _ in $(seq 1 240); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.5; done
             echo "walkthrough: $1 did not answer" >&2; return 1; }
# waits until something answers HTTP on PORT, whatever the status
wait_port() { for _ in $(seq 1 240); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/")" != 000 ] \
              && return 0; sleep 0.5; done; echo "walkthrough: nothing on port $1" >&2; return 1; }
# the value of a top-level string field of a JSON answer, without python or jq: json_field NAME < answer
json_field() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p"; }

export CASHBOOK_API_ENV=dev   # development secrets below; without it the API and `cashbook token` refuse them
$CB/python -c "import aiohttp.web, localstripe.server as s; aiohttp.web.run_app(s.app, host='127.0.0.1', port=$STRIPE_PORT)" &
PIDS+=($!)
STRIPE_API_BASE=http://127.0.0.1:$STRIPE_PORT STRIPE_API_KEY=sk_test_local $CB/cashbook api --port "$API_PORT" &
PIDS+=($!)
B=http://127.0.0.1:$API_PORT
wait_port "$STRIPE_PORT"
wait_for "$B/readyz"
# localstripe delivers webhooks (signed with the dev secret) to the API:
curl -fsS -X POST "http://127.0.0.1:$STRIPE_PORT/_config/webhooks/cashbook" \
     -d url="$B/api/webhooks/stripe" -d secret=whsec_dev_only >/dev/null

H="Authorization: Bearer $($CB/cashbook token --user u1 --email u1@example.com)"
curl -fsS "$B/api/billing/plans" -H "$H"; echo
SUB=$(curl -fsS "$B/api/billing/create-subscription" -H "$H" -H 'Content-Type: application/json' \
      -H 'Idempotency-Key: sub-1' -d '{"plan_id": "pro_monthly", "payment_method": "pm_card_visa"}')
echo "$SUB"                                                                     # → status "active"
BUY=$(curl -fsS "$B/api/billing/purchase-resume" -H "$H" -H 'Content-Type: application/json' \
      -H 'Idempotency-Key: buy-1' -d '{"pack_id": "resume_5"}')
PI=$(echo "$BUY" | json_field payment_intent_id)                                # → pi_…
echo "PaymentIntent: $PI"
CONFIRM=$(curl -fsS "$B/api/billing/confirm-payment" -H "$H" -H 'Content-Type: application/json' \
          -d "{\"payment_intent_id\": \"$PI\", \"payment_method\": \"pm_card_visa\"}")
echo "$CONFIRM"                                                                 # → credits_granted: true, once
curl -fsS "$B/api/billing/status" -H "$H"; echo                                  # plan, status, period end, credits
curl -fsS "$B/api/billing/history?limit=20" -H "$H"; echo

echo "$SUB" | grep -q '"status" *: *"active"' || { echo "walkthrough: subscription is not active" >&2; exit 1; }
echo "$CONFIRM" | grep -q '"credits_granted" *: *true' || { echo "walkthrough: no credits granted" >&2; exit 1; }
echo "walkthrough: OK (subscription active, $PI confirmed, credits granted)"
