ALTER TABLE sessions DROP COLUMN last_used_at_millis;
