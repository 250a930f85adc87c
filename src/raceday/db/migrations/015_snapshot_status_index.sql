-- When a race's current status was first seen (races.last_status_change) is read from its snapshots on
-- every poll: the last snapshot of each other status, then the first of the current one after it. With
-- this index each is one descent, however many snapshots the race has.
CREATE INDEX idx_race_snapshots_status ON race_snapshots(race_id, status, generated_time);
