-- Audit report section: every admin request and change recorded in audit_log in the period.
SELECT audit_id::text AS id, occurred_at, actor, action AS kind, NULL::bigint AS amount, NULL::text AS currency,
       target AS reference,
       jsonb_build_object('outcome', outcome, 'status_code', status_code, 'before', before, 'after', after,
                          'method', method, 'path', path, 'query', query, 'ip', ip, 'actor_email', actor_email,
                          'request_id', request_id) AS detail
FROM audit_log
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
ORDER BY audit_id
