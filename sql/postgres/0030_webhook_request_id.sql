-- The request id (X-Request-ID, or the one the API generated) of the delivery that first stored each webhook event.
-- The worker binds it to its log lines for that event, so intake, processing and the effect (ledger row, credits)
-- can be followed under one id (issue 10, item 6). Nullable: rows stored before this migration have none.
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS request_id text;
