DROP TABLE project_trusted_domains;
DROP TABLE project_cors_settings;
