-- Key policies (issue 14): the scopes a key was created with (space-separated scope ids; empty
-- for none; fixed at creation), the metadata a project's server attached (a JSON object's text,
-- returned verbatim by the check), and each project's scope catalogue (a JSON array of
-- {"id", "description"}).
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN metadata TEXT;
ALTER TABLE projects ADD COLUMN api_key_scopes TEXT NOT NULL DEFAULT '[]';
