-- Worker failures: webhook events that failed or were parked, e-mails that failed, error_logs rows, per window.
SELECT (SELECT count(*) FROM webhook_events WHERE status = 'failed' AND received_at >= now() - interval '1 hour')
           AS webhooks_failed_last_hour,
       (SELECT count(*) FROM webhook_events WHERE status = 'manual_review') AS webhooks_manual_review,
       (SELECT count(*) FROM email_outbox WHERE status = 'failed') AS emails_failed,
       (SELECT count(*) FROM error_logs WHERE created_at >= now() - interval '1 hour') AS errors_last_hour,
       (SELECT count(*) FROM error_logs WHERE created_at >= now() - interval '24 hours') AS errors_last_24_hours
