-- Indexes (Epic 1 spec). idx_races_start_time keeps its name and purpose (active races by start
-- time) with a predicate over the statuses NZ TAB really sends for a race not yet settled.

CREATE INDEX idx_meetings_date_type ON meetings(date, race_type)
  WHERE status = 'active';

CREATE INDEX idx_races_start_time ON races(start_time)
  WHERE status IN ('open', 'closed', 'interim');

CREATE INDEX idx_races_meeting ON races(meeting_id);

CREATE INDEX idx_entrants_race ON entrants(race_id);

CREATE INDEX idx_active_entrants ON entrants(race_id)
  WHERE is_scratched = false;

CREATE INDEX idx_money_flow_entrant_time
  ON money_flow_history(entrant_id, event_timestamp DESC);

CREATE INDEX idx_odds_entrant_time
  ON odds_history(entrant_id, event_timestamp DESC);
