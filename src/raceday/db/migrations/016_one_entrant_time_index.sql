-- money_flow_history kept two indexes on (entrant_id, event_timestamp): the spec's, and a unique one for
-- "one row per entrant per snapshot" (ON CONFLICT). The spec's index, made unique, does both, so every
-- money-flow row is written into three indexes, not four.
DROP INDEX idx_money_flow_entrant_time;
CREATE UNIQUE INDEX idx_money_flow_entrant_time ON money_flow_history(entrant_id, event_timestamp DESC);
DROP INDEX uq_money_flow_entrant_snapshot;
