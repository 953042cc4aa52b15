-- Open discrepancies this run no longer finds are resolved automatically.
UPDATE analytics.discrepancies AS d
SET status = 'resolved', resolution_source = 'auto', resolved_at = %(seen_at)s, last_run_id = %(run_id)s
WHERE d.status = 'open'
  AND NOT EXISTS (SELECT 1 FROM _run_discrepancies r WHERE r.discrepancy_id = d.discrepancy_id);
