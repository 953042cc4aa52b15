-- Audit report section: approvals and rejections (four-eyes decisions) made in the period.
SELECT id, decided_at AS occurred_at, decided_by AS actor, decision AS kind, amount, currency, id AS reference,
       jsonb_build_object('created_by', created_by, 'note', decision_note, 'user_id', user_id) AS detail
FROM (
    SELECT *, 'approve' AS decision, approved_at AS decided_at, approved_by AS decided_by FROM manual_payments
    WHERE approved_at IS NOT NULL
    UNION ALL
    SELECT *, 'reject', rejected_at, rejected_by FROM manual_payments WHERE rejected_at IS NOT NULL
) d
WHERE decided_at >= %(start)s AND decided_at < %(end)s
ORDER BY decided_at, id
