-- Core tables (Epic 1 spec, "Core Tables"). IDs are the NZ TAB UUID strings, stored as TEXT.
-- Differences from the spec's text, both from real NZ TAB data (README "Deviations from the spec"):
--   meetings.status and races.status carry CHECKs over the values raceday stores.

CREATE TABLE meetings (
  meeting_id TEXT PRIMARY KEY,
  meeting_name TEXT NOT NULL,
  country TEXT NOT NULL,
  race_type TEXT NOT NULL CHECK (race_type IN ('thoroughbred', 'harness')),
  date DATE NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'cancelled')),
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE races (
  race_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  race_number INTEGER NOT NULL,
  start_time TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'interim', 'final', 'abandoned')),
  actual_start TIMESTAMPTZ,
  meeting_id TEXT NOT NULL REFERENCES meetings(meeting_id) ON DELETE CASCADE,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE entrants (
  entrant_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  runner_number INTEGER NOT NULL,
  win_odds NUMERIC(10,2),
  place_odds NUMERIC(10,2),
  hold_percentage NUMERIC(5,2),
  is_scratched BOOLEAN DEFAULT false,
  race_id TEXT NOT NULL REFERENCES races(race_id) ON DELETE CASCADE,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE race_pools (
  race_id TEXT PRIMARY KEY REFERENCES races(race_id) ON DELETE CASCADE,
  win_pool_total NUMERIC(12,2),
  place_pool_total NUMERIC(12,2),
  quinella_pool_total NUMERIC(12,2),
  trifecta_pool_total NUMERIC(12,2),
  last_updated TIMESTAMPTZ DEFAULT NOW()
);
