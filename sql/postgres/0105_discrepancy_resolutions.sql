-- Issue 12, defect 7: every manual resolution of a discrepancy is kept, append-only. Resolving an already
-- resolved discrepancy used to overwrite its note and resolver; now the row shows the latest resolution and
-- this table holds each one with what it replaced. The database refuses UPDATE and DELETE here.
CREATE OR REPLACE FUNCTION cashbook_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TABLE IF NOT EXISTS analytics.discrepancy_resolutions (
    resolution_id        bigserial PRIMARY KEY,
    discrepancy_id       text NOT NULL,                       -- no FK: history outlives a deleted row
    note                 text NOT NULL,
    resolved_by          text NOT NULL,
    resolved_at          timestamptz NOT NULL DEFAULT now(),
    previous_status      text NOT NULL,
    previous_note        text,
    previous_resolved_by text
);
CREATE INDEX IF NOT EXISTS discrepancy_resolutions_idx ON analytics.discrepancy_resolutions (discrepancy_id, resolution_id);

DROP TRIGGER IF EXISTS discrepancy_resolutions_append_only ON analytics.discrepancy_resolutions;
CREATE TRIGGER discrepancy_resolutions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON analytics.discrepancy_resolutions FOR EACH STATEMENT EXECUTE FUNCTION cashbook_append_only();
