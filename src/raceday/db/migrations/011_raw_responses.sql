-- Every NZ TAB response the pipeline used, raw and compressed (README "Recording and replay"): a bug found
-- next week is fixed on last week's data by rebuilding the derived tables from these. Partitioned by NZ
-- day on generated_time (the response's own header.generated_time, else when it was received), with the
-- same partition functions and retention as the history tables.

CREATE TABLE raw_responses (
  endpoint TEXT NOT NULL CHECK (endpoint IN ('events', 'meetings')),
  -- What was asked: the race id for an event, "YYYY-MM-DD@offset" for a meetings page.
  request_key TEXT NOT NULL,
  race_id TEXT,
  generated_time TIMESTAMPTZ NOT NULL,
  received_at TIMESTAMPTZ NOT NULL,
  -- stored: transformed and written; invalid: rejected as malformed (error says why).
  outcome TEXT NOT NULL CHECK (outcome IN ('stored', 'invalid')),
  error TEXT,
  raw_bytes INTEGER NOT NULL,
  body BYTEA NOT NULL  -- zlib-compressed response body
) PARTITION BY RANGE (generated_time);

CREATE UNIQUE INDEX uq_raw_responses_key ON raw_responses(endpoint, request_key, generated_time);
CREATE INDEX idx_raw_responses_race ON raw_responses(race_id, generated_time) WHERE race_id IS NOT NULL;

SELECT ensure_daily_partition('raw_responses', (now() AT TIME ZONE 'Pacific/Auckland')::date);

CREATE OR REPLACE FUNCTION ensure_partitions_ahead(days_ahead INTEGER DEFAULT 2)
RETURNS SETOF TEXT AS $$
DECLARE
  today DATE := (now() AT TIME ZONE 'Pacific/Auckland')::date;
  parent TEXT;
  offset_days INTEGER;
BEGIN
  FOREACH parent IN ARRAY ARRAY['money_flow_history', 'odds_history', 'raw_responses'] LOOP
    FOR offset_days IN 0..days_ahead LOOP
      RETURN NEXT ensure_daily_partition(parent, today + offset_days);
    END LOOP;
  END LOOP;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION detach_old_partitions(retention_days INTEGER DEFAULT 30)
RETURNS SETOF TEXT AS $$
DECLARE
  cutoff DATE := (now() AT TIME ZONE 'Pacific/Auckland')::date - retention_days;
  child RECORD;
  locked BOOLEAN := false;
BEGIN
  FOR child IN
    SELECT c.relname AS name, p.relname AS parent
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname IN ('money_flow_history', 'odds_history', 'raw_responses')
      AND c.relname ~ '_\d{4}_\d{2}_\d{2}$'
      AND to_date(right(c.relname, 10), 'YYYY_MM_DD') < cutoff
    ORDER BY c.relname
  LOOP
    IF NOT locked THEN
      LOCK TABLE entrants IN SHARE ROW EXCLUSIVE MODE;
      locked := true;
    END IF;
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', child.parent, child.name);
    RETURN NEXT child.name;
  END LOOP;
END;
$$ LANGUAGE plpgsql;
