-- Per-project CORS for the client API, so the prebuilt UI components (and a customer's own
-- frontend) can call keygate from the customer's site. Names follow upstream's project config:
-- `allow_localhost` and `domains: [{domain, handler_path}]` (trusted domains).
--
-- A project without a row in project_cors_settings allows localhost (upstream's default for new
-- projects) and trusts no domain.
CREATE TABLE project_cors_settings (
    project_id TEXT NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    allow_localhost BOOLEAN NOT NULL,
    updated_at_millis BIGINT NOT NULL
);

-- One row per trusted domain, in the order configured. `origin` is the domain's normalised web
-- origin (scheme://host[:port], lowercase, default port left out): what a browser sends in the
-- Origin header, and what requests are matched on.
CREATE TABLE project_trusted_domains (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    domain TEXT NOT NULL,
    handler_path TEXT NOT NULL,
    origin TEXT NOT NULL,
    PRIMARY KEY (project_id, position)
);

CREATE INDEX project_trusted_domains_origin_idx ON project_trusted_domains (origin, project_id);
