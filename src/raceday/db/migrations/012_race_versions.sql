-- A counter per race, bumped by every poll's transaction, announced on the race_changed channel once it
-- commits (payload "<race_id> <version>"). Readers that cache a race's answers (the API) compare versions:
-- NOTIFY tells them early, the row tells them for certain.

CREATE TABLE race_versions (
  race_id TEXT PRIMARY KEY,
  version BIGINT NOT NULL,
  changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
