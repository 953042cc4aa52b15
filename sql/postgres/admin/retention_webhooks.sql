-- One batch: payloads of processed/ignored webhook events received before the cutoff keep only their links.
UPDATE webhook_events w SET
    payload = jsonb_build_object('id', w.id, 'type', w.type, 'purged', true, 'data', jsonb_build_object('object',
        jsonb_strip_nulls(jsonb_build_object(
            'id', w.payload #>> '{data,object,id}',
            'object', w.payload #>> '{data,object,object}',
            'charge', coalesce(w.payload #>> '{data,object,charge,id}', w.payload #>> '{data,object,charge}'),
            'latest_charge', coalesce(w.payload #>> '{data,object,latest_charge,id}',
                                      w.payload #>> '{data,object,latest_charge}'))))),
    payload_purged_at = now()
WHERE w.id IN (SELECT id FROM webhook_events WHERE status IN ('processed', 'ignored') AND payload_purged_at IS NULL
               AND received_at < %(cutoff)s ORDER BY received_at, id LIMIT %(batch)s)
