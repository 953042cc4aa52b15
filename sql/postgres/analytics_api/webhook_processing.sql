-- Webhook events processed in the last hour and the time from receipt to processing (p50/p95, seconds).
SELECT count(*) AS processed_last_hour,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))::double precision
           AS p50_seconds,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))::double precision
           AS p95_seconds
FROM webhook_events
WHERE processed_at >= now() - interval '1 hour'
