-- One batch of expired audit rows (the transaction has set cashbook.audit_retention_cutoff = %(cutoff)s).
DELETE FROM audit_log
WHERE audit_id IN (SELECT audit_id FROM audit_log WHERE occurred_at < %(cutoff)s ORDER BY audit_id LIMIT %(batch)s)
