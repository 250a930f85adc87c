-- Columns the pipeline fills from real NZ TAB fields (domain.md part 1 and §8.1). Nothing of the
-- spec's is renamed or dropped; the race_type CHECK is widened so greyhound meetings can be tracked.

ALTER TABLE meetings
  ADD COLUMN category TEXT,
  ADD COLUMN category_name TEXT,
  ADD COLUMN state TEXT,
  ADD COLUMN track_condition TEXT,
  ADD COLUMN tote_status TEXT,
  ADD COLUMN data_source TEXT NOT NULL DEFAULT 'nztab'
    CHECK (data_source IN ('nztab', 'simulator'));

ALTER TABLE meetings DROP CONSTRAINT meetings_race_type_check;
ALTER TABLE meetings ADD CONSTRAINT meetings_race_type_check
  CHECK (race_type IN ('thoroughbred', 'harness', 'greyhound'));

ALTER TABLE races
  ADD COLUMN race_date_nz DATE,
  ADD COLUMN start_time_nz TEXT,
  ADD COLUMN distance INTEGER,
  ADD COLUMN track_condition TEXT,
  ADD COLUMN track_surface TEXT,
  ADD COLUMN weather TEXT,
  ADD COLUMN type TEXT,
  ADD COLUMN country TEXT,
  ADD COLUMN entrant_count INTEGER,
  ADD COLUMN field_size INTEGER,
  ADD COLUMN positions_paid INTEGER,
  ADD COLUMN total_prize_money NUMERIC(12,2),
  ADD COLUMN silk_url TEXT,
  ADD COLUMN silk_base_url TEXT,
  ADD COLUMN last_status_change TIMESTAMPTZ,
  ADD COLUMN finalized_at TIMESTAMPTZ,
  ADD COLUMN abandoned_at TIMESTAMPTZ;

-- Odds and money flow as of the latest poll; amounts in integer cents.
ALTER TABLE entrants
  ADD COLUMN barrier INTEGER,
  ADD COLUMN jockey TEXT,
  ADD COLUMN trainer_name TEXT,
  ADD COLUMN silk_colours TEXT,
  ADD COLUMN silk_url_64x64 TEXT,
  ADD COLUMN silk_url_128x128 TEXT,
  ADD COLUMN is_late_scratched BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN is_emergency BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN scratch_time TIMESTAMPTZ,
  ADD COLUMN favourite BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN mover BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN fixed_win_odds NUMERIC(10,2),
  ADD COLUMN fixed_place_odds NUMERIC(10,2),
  ADD COLUMN pool_win_odds NUMERIC(10,2),
  ADD COLUMN pool_place_odds NUMERIC(10,2),
  ADD COLUMN bet_percentage NUMERIC(5,2),
  ADD COLUMN win_pool_percentage NUMERIC(5,2),
  ADD COLUMN place_pool_percentage NUMERIC(5,2),
  ADD COLUMN win_pool_amount BIGINT,
  ADD COLUMN place_pool_amount BIGINT;

-- Pool totals in dollars, as NUMERIC(12,2) says (the API serves cents).
ALTER TABLE race_pools
  ADD COLUMN exacta_pool_total NUMERIC(12,2),
  ADD COLUMN first4_pool_total NUMERIC(12,2),
  ADD COLUMN total_race_pool NUMERIC(12,2),
  ADD COLUMN currency TEXT NOT NULL DEFAULT '$',
  ADD COLUMN data_quality_score INTEGER,
  ADD COLUMN extracted_pools INTEGER;

-- The odds at each poll ride along with the money flow, as the REST timeline returns them.
ALTER TABLE money_flow_history
  ADD COLUMN total_pool_amount BIGINT,
  ADD COLUMN fixed_win_odds NUMERIC(10,2),
  ADD COLUMN fixed_place_odds NUMERIC(10,2),
  ADD COLUMN pool_win_odds NUMERIC(10,2),
  ADD COLUMN pool_place_odds NUMERIC(10,2);

-- One row per entrant per snapshot: re-processing the same snapshot adds nothing.
CREATE UNIQUE INDEX uq_money_flow_entrant_snapshot
  ON money_flow_history(entrant_id, event_timestamp);
CREATE UNIQUE INDEX uq_odds_entrant_type_snapshot
  ON odds_history(entrant_id, type, event_timestamp);

-- The timeline reads a race's bucketed rows.
CREATE INDEX idx_money_flow_race_interval
  ON money_flow_history(race_id, time_interval)
  WHERE type = 'bucketed_aggregation';
