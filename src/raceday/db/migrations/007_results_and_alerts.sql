-- Race results (written by the pipeline when a race reaches interim or final) and the alert
-- indicators the web client configures (domain.md §7.3, §8.1).

CREATE TABLE race_results (
  race_id TEXT PRIMARY KEY REFERENCES races(race_id) ON DELETE CASCADE,
  results_available BOOLEAN NOT NULL DEFAULT false,
  results_data JSONB,
  dividends_data JSONB,
  fixed_odds_data JSONB,
  result_status TEXT CHECK (result_status IN ('interim', 'final', 'protest')),
  photo_finish BOOLEAN NOT NULL DEFAULT false,
  stewards_inquiry BOOLEAN NOT NULL DEFAULT false,
  protest_lodged BOOLEAN NOT NULL DEFAULT false,
  result_time TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_race_results_status ON race_results(result_status);

CREATE TRIGGER update_race_results_updated_at
  BEFORE UPDATE ON race_results
  FOR EACH ROW
  EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE user_alert_configs (
  indicator_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id TEXT NOT NULL,
  indicator_type TEXT NOT NULL DEFAULT 'percentage_range'
    CHECK (indicator_type = 'percentage_range'),
  percentage_range_min NUMERIC(5,2) NOT NULL
    CHECK (percentage_range_min BETWEEN 0 AND 100),
  percentage_range_max NUMERIC(5,2)
    CHECK (percentage_range_max IS NULL OR percentage_range_max BETWEEN 0 AND 100),
  color CHAR(7) NOT NULL CHECK (color ~ '^#[0-9A-F]{6}$'),
  is_default BOOLEAN NOT NULL DEFAULT false,
  enabled BOOLEAN NOT NULL DEFAULT true,
  display_order INTEGER NOT NULL CHECK (display_order BETWEEN 1 AND 6),
  audible_alerts_enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (percentage_range_max IS NULL OR percentage_range_max > percentage_range_min)
);

CREATE INDEX idx_user_alert_configs_user_id ON user_alert_configs(user_id);
CREATE UNIQUE INDEX idx_user_alert_configs_user_display_order
  ON user_alert_configs(user_id, display_order);

CREATE TRIGGER update_user_alert_configs_updated_at
  BEFORE UPDATE ON user_alert_configs
  FOR EACH ROW
  EXECUTE FUNCTION update_updated_at_column();
