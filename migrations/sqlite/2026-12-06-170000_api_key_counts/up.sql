-- Each owner's number of API keys (issue 16), revoked and expired ones included, as the cap
-- `limits.max_keys_per_owner` counts them. A create reads it from the owner's row instead of
-- counting the owner's keys, which cost as much as the owner has keys. The database keeps it:
-- every insert into api_keys adds its key to its owner's count, in the inserting statement's
-- transaction, whatever inserted it. Keys are never deleted except with their owner, so
-- nothing ever subtracts.
ALTER TABLE users ADD COLUMN api_key_count BIGINT NOT NULL DEFAULT 0 CHECK (api_key_count >= 0);
ALTER TABLE teams ADD COLUMN api_key_count BIGINT NOT NULL DEFAULT 0 CHECK (api_key_count >= 0);

UPDATE users SET api_key_count =
    (SELECT count(*) FROM api_keys
     WHERE api_keys.project_id = users.project_id AND api_keys.user_id = users.id);
UPDATE teams SET api_key_count =
    (SELECT count(*) FROM api_keys
     WHERE api_keys.project_id = teams.project_id AND api_keys.team_id = teams.id);

CREATE TRIGGER api_keys_count_new_user_key AFTER INSERT ON api_keys
    WHEN NEW.user_id IS NOT NULL
BEGIN
    UPDATE users SET api_key_count = api_key_count + 1 WHERE id = NEW.user_id;
END;

CREATE TRIGGER api_keys_count_new_team_key AFTER INSERT ON api_keys
    WHEN NEW.team_id IS NOT NULL
BEGIN
    UPDATE teams SET api_key_count = api_key_count + 1 WHERE id = NEW.team_id;
END;
