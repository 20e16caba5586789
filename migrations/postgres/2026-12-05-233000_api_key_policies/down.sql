ALTER TABLE projects DROP COLUMN api_key_scopes;
ALTER TABLE api_keys DROP COLUMN metadata;
ALTER TABLE api_keys DROP COLUMN scopes;
