-- Indexes for the REST API's reads (src/raceday/db/queries.py). Children lists (a meeting's races, a
-- race's entrants) use the existing foreign-key indexes; the history tables already have what the
-- API needs: (entrant_id, event_timestamp DESC) and the timeline's (race_id, time_interval).

-- GET /api/meetings?date: one day's meetings in name order, whatever their status
-- (idx_meetings_date_type covers active meetings only).
CREATE INDEX idx_meetings_date_name ON meetings(date, meeting_name);

-- GET /api/races/navigation: a race's neighbours in (start_time, race_id) order, any status
-- (idx_races_start_time covers the active statuses only).
CREATE INDEX idx_races_start_time_id ON races(start_time, race_id);
