DROP TABLE key_rate_counts;
ALTER TABLE projects DROP COLUMN default_rate_window_millis;
ALTER TABLE projects DROP COLUMN default_rate_limit;
ALTER TABLE api_keys DROP COLUMN rate_window_millis;
ALTER TABLE api_keys DROP COLUMN rate_limit;
