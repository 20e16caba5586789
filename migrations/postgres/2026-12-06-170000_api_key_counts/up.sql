-- Each owner's number of API keys (issue 16), revoked and expired ones included, as the cap
-- `limits.max_keys_per_owner` counts them. A create reads it from the owner's row, which it
-- locks anyway, instead of counting the owner's keys, which cost as much as the owner has keys.
-- The database keeps it: every insert into api_keys adds its keys to their owners' counts, in
-- the inserting statement's transaction, whatever inserted them. Keys are never deleted except
-- with their owner, so nothing ever subtracts.
ALTER TABLE users ADD COLUMN api_key_count BIGINT NOT NULL DEFAULT 0 CHECK (api_key_count >= 0);
ALTER TABLE teams ADD COLUMN api_key_count BIGINT NOT NULL DEFAULT 0 CHECK (api_key_count >= 0);

UPDATE users SET api_key_count = counted.keys
FROM (SELECT user_id, count(*) AS keys FROM api_keys WHERE user_id IS NOT NULL GROUP BY user_id)
    AS counted
WHERE users.id = counted.user_id;
UPDATE teams SET api_key_count = counted.keys
FROM (SELECT team_id, count(*) AS keys FROM api_keys WHERE team_id IS NOT NULL GROUP BY team_id)
    AS counted
WHERE teams.id = counted.team_id;

-- Once per statement: a multi-row insert of a batch of creates updates each owner once.
CREATE FUNCTION api_keys_count_new_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET api_key_count = users.api_key_count + added.keys
    FROM (SELECT user_id, count(*) AS keys FROM new_keys WHERE user_id IS NOT NULL
          GROUP BY user_id) AS added
    WHERE users.id = added.user_id;
    UPDATE teams SET api_key_count = teams.api_key_count + added.keys
    FROM (SELECT team_id, count(*) AS keys FROM new_keys WHERE team_id IS NOT NULL
          GROUP BY team_id) AS added
    WHERE teams.id = added.team_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_count_new_keys AFTER INSERT ON api_keys
    REFERENCING NEW TABLE AS new_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_count_new_keys();
