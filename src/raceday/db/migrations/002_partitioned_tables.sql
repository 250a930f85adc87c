-- Time-series tables, partitioned by day on event_timestamp (Epic 1 spec, "Partitioned Time-Series
-- Tables"). A day is the NZ racing day (Pacific/Auckland), so one race day never straddles two
-- partitions: money_flow_history_2025_10_05 holds 2025-10-05 00:00 to 2025-10-06 00:00 NZ time.

CREATE TABLE money_flow_history (
  id BIGSERIAL,
  entrant_id TEXT NOT NULL REFERENCES entrants(entrant_id),
  race_id TEXT NOT NULL,
  hold_percentage NUMERIC(5,2),
  bet_percentage NUMERIC(5,2),
  type TEXT,
  time_to_start INTEGER,
  time_interval INTEGER,
  interval_type TEXT,
  event_timestamp TIMESTAMPTZ NOT NULL,
  polling_timestamp TIMESTAMPTZ NOT NULL,
  win_pool_amount BIGINT,
  place_pool_amount BIGINT,
  win_pool_percentage NUMERIC(5,2),
  place_pool_percentage NUMERIC(5,2),
  incremental_amount BIGINT,
  incremental_win_amount BIGINT,
  incremental_place_amount BIGINT,
  pool_type TEXT,
  is_consolidated BOOLEAN,
  created_at TIMESTAMPTZ DEFAULT NOW()
) PARTITION BY RANGE (event_timestamp);

CREATE TABLE odds_history (
  id BIGSERIAL,
  entrant_id TEXT NOT NULL REFERENCES entrants(entrant_id),
  odds NUMERIC(10,2),
  type TEXT,
  event_timestamp TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ DEFAULT NOW()
) PARTITION BY RANGE (event_timestamp);

-- Creates {parent}_YYYY_MM_DD for one NZ day if it is missing; safe when sessions race for it.
CREATE OR REPLACE FUNCTION ensure_daily_partition(parent TEXT, day DATE)
RETURNS TEXT AS $$
DECLARE
  partition_name TEXT := format('%s_%s', parent, to_char(day, 'YYYY_MM_DD'));
  lower_bound TIMESTAMPTZ := day::timestamp AT TIME ZONE 'Pacific/Auckland';
  upper_bound TIMESTAMPTZ := (day + 1)::timestamp AT TIME ZONE 'Pacific/Auckland';
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(partition_name));
  IF to_regclass(format('%I', partition_name)) IS NULL THEN
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
      partition_name, parent, lower_bound, upper_bound
    );
  END IF;
  RETURN partition_name;
END;
$$ LANGUAGE plpgsql;

-- Today's partitions (today in New Zealand).
SELECT ensure_daily_partition('money_flow_history', (now() AT TIME ZONE 'Pacific/Auckland')::date);
SELECT ensure_daily_partition('odds_history', (now() AT TIME ZONE 'Pacific/Auckland')::date);
