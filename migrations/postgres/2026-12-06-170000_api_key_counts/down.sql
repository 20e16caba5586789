DROP TRIGGER api_keys_count_new_keys ON api_keys;
DROP FUNCTION api_keys_count_new_keys();
ALTER TABLE teams DROP COLUMN api_key_count;
ALTER TABLE users DROP COLUMN api_key_count;
