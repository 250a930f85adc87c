-- What raceday stores is a function of the set of snapshots it received (README "Trustworthy ingestion").
-- race_snapshots is that set: one row per (race, NZ TAB generated_time), with the parts the snapshot
-- carried. The writer asks it which snapshot's values are current (the newest, a terminal status
-- outranking any other), and rebuilds odds history after a late snapshot from the odds it recorded.

CREATE TABLE race_snapshots (
  race_id TEXT NOT NULL REFERENCES races(race_id) ON DELETE CASCADE,
  generated_time TIMESTAMPTZ NOT NULL,
  status TEXT CHECK (status IN ('open', 'closed', 'interim', 'final', 'abandoned')),
  terminal BOOLEAN NOT NULL,
  has_runners BOOLEAN NOT NULL,
  has_money BOOLEAN NOT NULL,
  has_pools BOOLEAN NOT NULL,
  has_results BOOLEAN NOT NULL,
  -- The active runners' odds: {"entrant_id": {"fixed_win": 4.2, ...}}; null without runners.
  odds JSONB,
  received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (race_id, generated_time)
);

-- "Is there a snapshot that outranks this one?": (terminal, generated_time) after the race id.
CREATE INDEX idx_race_snapshots_rank ON race_snapshots(race_id, terminal, generated_time);

-- The snapshot each part of the race's current values comes from, and the span of its snapshots
-- (which bounds every history look-up, so a race that crosses NZ midnight is read whole).
ALTER TABLE races
  ADD COLUMN snapshot_at TIMESTAMPTZ,
  ADD COLUMN status_at TIMESTAMPTZ,
  ADD COLUMN runners_at TIMESTAMPTZ,
  ADD COLUMN money_at TIMESTAMPTZ,
  ADD COLUMN first_snapshot_at TIMESTAMPTZ,
  ADD COLUMN last_snapshot_at TIMESTAMPTZ;

-- False once the newest snapshot with runners no longer lists the runner: not served as live.
ALTER TABLE entrants ADD COLUMN in_field BOOLEAN NOT NULL DEFAULT true;

-- The races the meetings list gives each meeting: the meeting is settled when all of them are.
ALTER TABLE meetings ADD COLUMN race_ids TEXT[];

-- A day whose partition was detached (retention) is attached again when a write needs it, rather
-- than a second table of the same name being created or the row rejected.
-- Creating, attaching or detaching a partition adds or drops its foreign key to entrants, which locks
-- entrants after the partition; a poll locks entrants before the history tables. Both functions
-- therefore lock entrants first, so the two orders never meet (a deadlock seen in the tests).
CREATE OR REPLACE FUNCTION ensure_daily_partition(parent TEXT, day DATE)
RETURNS TEXT AS $$
DECLARE
  partition_name TEXT := format('%s_%s', parent, to_char(day, 'YYYY_MM_DD'));
  lower_bound TIMESTAMPTZ := day::timestamp AT TIME ZONE 'Pacific/Auckland';
  upper_bound TIMESTAMPTZ := (day + 1)::timestamp AT TIME ZONE 'Pacific/Auckland';
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(partition_name));
  IF to_regclass(format('%I', partition_name)) IS NULL THEN
    LOCK TABLE entrants IN SHARE ROW EXCLUSIVE MODE;
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
      partition_name, parent, lower_bound, upper_bound
    );
  ELSIF NOT EXISTS (
    SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(format('%I', partition_name))
  ) THEN
    LOCK TABLE entrants IN SHARE ROW EXCLUSIVE MODE;
    EXECUTE format(
      'ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
      parent, partition_name, lower_bound, upper_bound
    );
  END IF;
  RETURN partition_name;
END;
$$ LANGUAGE plpgsql;

-- The writer reads a race's rows after a late snapshot (to correct their increments) by time.
CREATE INDEX idx_money_flow_race_time ON money_flow_history(race_id, event_timestamp);

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
    WHERE p.relname IN ('money_flow_history', 'odds_history')
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
