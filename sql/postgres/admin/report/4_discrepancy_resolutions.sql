-- Audit report section: manual resolutions and reopenings of discrepancies in the period.
SELECT r.resolution_id::text AS id, r.resolved_at AS occurred_at, r.resolved_by AS actor, r.action AS kind,
       d.difference AS amount, d.currency, r.discrepancy_id AS reference,
       jsonb_build_object('note', r.note, 'previous_status', r.previous_status, 'previous_note', r.previous_note,
                          'previous_resolved_by', r.previous_resolved_by, 'discrepancy_kind', d.kind) AS detail
FROM analytics.discrepancy_resolutions r
LEFT JOIN analytics.discrepancies d USING (discrepancy_id)
WHERE r.resolved_at >= %(start)s AND r.resolved_at < %(end)s
ORDER BY r.resolution_id
