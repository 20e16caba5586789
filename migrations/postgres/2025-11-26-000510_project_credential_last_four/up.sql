-- The last four characters of each key of a project credential, for display in listings (the
-- keys themselves are stored only as digests). NULL where the credential has no such key, and
-- for credentials issued before this column existed.
ALTER TABLE project_credentials ADD COLUMN publishable_client_key_last_four TEXT;
ALTER TABLE project_credentials ADD COLUMN secret_server_key_last_four TEXT;
ALTER TABLE project_credentials ADD COLUMN super_secret_admin_key_last_four TEXT;
