-- Results stored before this migration carry NZ TAB's numbers as numeric strings ("3.7"): the writer
-- dumped Decimals in JSON mode. The web client calls .toFixed on dividends (domain §7.4), so stored
-- results now hold JSON numbers, as NZ TAB sends them, and each runner's closing fixed odds also carry
-- the client's key names (fixed_win_odds, fixed_place_odds). This rewrites the rows already stored into
-- exactly the shape the writer now produces, so a later poll of the same race changes nothing.

CREATE FUNCTION raceday_010_numbers(item JSONB, fields TEXT[]) RETURNS JSONB
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN item ELSE COALESCE(
    (SELECT jsonb_object_agg(
       key,
       CASE WHEN key = ANY (fields) AND jsonb_typeof(value) = 'string'
              AND value #>> '{}' ~ '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$'
            THEN to_jsonb((value #>> '{}')::numeric)
            ELSE value END)
     FROM jsonb_each(item)),
    '{}'::jsonb) END
$$;

CREATE FUNCTION raceday_010_each(items JSONB, fields TEXT[]) RETURNS JSONB
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(items) IS DISTINCT FROM 'array' THEN items ELSE COALESCE(
    (SELECT jsonb_agg(raceday_010_numbers(element, fields) ORDER BY position)
     FROM jsonb_array_elements(items) WITH ORDINALITY AS e(element, position)),
    '[]'::jsonb) END
$$;

UPDATE race_results
SET results_data = raceday_010_each(results_data, ARRAY['margin_length', 'winning_time', 'time_ran']),
    dividends_data = raceday_010_each(dividends_data, ARRAY['dividend', 'pool_size', 'jackpot_size'])
WHERE results_data IS DISTINCT FROM
        raceday_010_each(results_data, ARRAY['margin_length', 'winning_time', 'time_ran'])
   OR dividends_data IS DISTINCT FROM
        raceday_010_each(dividends_data, ARRAY['dividend', 'pool_size', 'jackpot_size']);

UPDATE race_results
SET fixed_odds_data = (
  SELECT jsonb_object_agg(
    key,
    CASE WHEN jsonb_typeof(value) = 'object'
         THEN jsonb_build_object(
                'fixed_win_odds', COALESCE(value -> 'fixed_win', 'null'::jsonb),
                'fixed_place_odds', COALESCE(value -> 'fixed_place', 'null'::jsonb)) || value
         ELSE value END)
  FROM jsonb_each(fixed_odds_data))
WHERE jsonb_typeof(fixed_odds_data) = 'object'
  AND EXISTS (
    SELECT 1 FROM jsonb_each(fixed_odds_data)
    WHERE jsonb_typeof(value) = 'object' AND NOT (value ? 'fixed_win_odds' AND value ? 'fixed_place_odds')
  );

DROP FUNCTION raceday_010_each(JSONB, TEXT[]);
DROP FUNCTION raceday_010_numbers(JSONB, TEXT[]);
