-- Each race's next poll is a row, due at a wall-clock time and held by the poll worker running it. It
-- replaces one procrastinate job a poll (a job inserted, fetched, finished and deleted, each with events
-- and triggers of its own): about a seventh of a poll's CPU. See docs/scaling.md.

CREATE TABLE poll_workers (
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_heartbeat TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A worker taken for dead is deleted, and the polls it held are waiting again (SET NULL).
CREATE TABLE race_polls (
  race_id TEXT PRIMARY KEY,
  start_time TIMESTAMPTZ NOT NULL,
  due_at TIMESTAMPTZ NOT NULL,
  worker_id BIGINT REFERENCES poll_workers (id) ON DELETE SET NULL,
  taken_at TIMESTAMPTZ
);
CREATE INDEX race_polls_due_idx ON race_polls (due_at) WHERE worker_id IS NULL;
CREATE INDEX race_polls_worker_idx ON race_polls (worker_id) WHERE worker_id IS NOT NULL;

-- A database that polled through procrastinate keeps its races followed: each race's newest poll job
-- becomes its row, and the jobs go (no worker runs that task any more).
DO $$
BEGIN
  IF to_regclass('procrastinate_jobs') IS NOT NULL THEN
    INSERT INTO race_polls (race_id, start_time, due_at)
    SELECT DISTINCT ON (lock) lock, (args->>'start')::timestamptz, coalesce(scheduled_at, now())
    FROM procrastinate_jobs
    WHERE task_name = 'poll_race' AND status IN ('todo', 'doing') AND lock IS NOT NULL
    ORDER BY lock, id DESC;
    DELETE FROM procrastinate_jobs WHERE task_name = 'poll_race' AND status IN ('todo', 'doing');
  END IF;
END $$;
