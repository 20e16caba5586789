-- When a key was last checked (epoch ms); NULL until its first use. Written in batches by the
-- server, never on the check path itself.
ALTER TABLE api_keys ADD COLUMN last_used_at_millis BIGINT;
