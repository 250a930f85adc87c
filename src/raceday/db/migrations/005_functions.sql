-- Partition management (Epic 1 spec 005; Stories 4.1-4.2): partitions for the days ahead, and
-- retention that DETACHes (keeps, for archiving) partitions older than the retention window.

CREATE OR REPLACE FUNCTION ensure_partitions_ahead(days_ahead INTEGER DEFAULT 2)
RETURNS SETOF TEXT AS $$
DECLARE
  today DATE := (now() AT TIME ZONE 'Pacific/Auckland')::date;
  parent TEXT;
  offset_days INTEGER;
BEGIN
  FOREACH parent IN ARRAY ARRAY['money_flow_history', 'odds_history'] LOOP
    FOR offset_days IN 0..days_ahead LOOP
      RETURN NEXT ensure_daily_partition(parent, today + offset_days);
    END LOOP;
  END LOOP;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION detach_old_partitions(retention_days INTEGER DEFAULT 30)
RETURNS SETOF TEXT AS $$
DECLARE
  cutoff DATE := (now() AT TIME ZONE 'Pacific/Auckland')::date - retention_days;
  child RECORD;
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
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', child.parent, child.name);
    RETURN NEXT child.name;
  END LOOP;
END;
$$ LANGUAGE plpgsql;
