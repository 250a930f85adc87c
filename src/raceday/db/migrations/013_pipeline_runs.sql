-- The pipeline's periodic work done, by slot (a NZ racing day, or a window of data time): every raceday
-- instance runs the same schedule, and a slot found here is not run again by any of them.

CREATE TABLE pipeline_runs (
  job TEXT NOT NULL,
  slot TEXT NOT NULL,
  finished_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (job, slot)
);
