-- Projects made before this migration without CORS settings of their own trusted localhost
-- origins by default. From now on a project without a settings row trusts no localhost origin
-- (a project an operator creates must opt in), so the old default is written down for the
-- projects that relied on it: their behaviour does not change.
INSERT INTO project_cors_settings (project_id, allow_localhost, updated_at_millis)
SELECT id, TRUE, created_at_millis FROM projects
WHERE id NOT IN (SELECT project_id FROM project_cors_settings);
