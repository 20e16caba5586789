-- When a session was last used (issue 17): set when it opens and whenever its refresh token
-- buys an access token; the account page's sessions list shows it as upstream's last_used_at.
-- Sessions opened before this migration count their start as their last use.
ALTER TABLE sessions ADD COLUMN last_used_at_millis BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_used_at_millis = created_at_millis;
