DROP TRIGGER api_keys_count_new_team_key;
DROP TRIGGER api_keys_count_new_user_key;
ALTER TABLE teams DROP COLUMN api_key_count;
ALTER TABLE users DROP COLUMN api_key_count;
