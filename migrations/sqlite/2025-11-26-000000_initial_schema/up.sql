-- keygate's schema on SQLite. Kept column-for-column identical to ../../postgres (same names,
-- same constraints); see the Postgres file for the few differences.
--
-- Conventions (see crates/keygate-storage/src/lib.rs):
-- * ids are UUIDs stored as TEXT in their hyphenated lowercase form;
-- * instants are BIGINT milliseconds since the Unix epoch, always supplied by the caller (no SQL
--   clock, no DEFAULT now());
-- * secrets are never stored, only their 32-byte digests, as BLOB;
-- * every child row carries its project_id, and references its parent through a composite
--   foreign key (project_id, parent_id) -> parent(project_id, id), so a row can never point at a
--   user, team or permission of another project.

CREATE TABLE projects (
    id TEXT NOT NULL PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at_millis BIGINT NOT NULL,
    allow_user_api_keys BOOLEAN NOT NULL,
    allow_team_api_keys BOOLEAN NOT NULL,
    client_team_creation_enabled BOOLEAN NOT NULL
);

CREATE INDEX projects_created_at_idx ON projects (created_at_millis, id);

CREATE TABLE project_credentials (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    created_at_millis BIGINT NOT NULL,
    expires_at_millis BIGINT,
    revoked_at_millis BIGINT,
    publishable_client_key_hash BLOB UNIQUE CHECK (length(publishable_client_key_hash) = 32),
    secret_server_key_hash BLOB UNIQUE CHECK (length(secret_server_key_hash) = 32),
    super_secret_admin_key_hash BLOB UNIQUE CHECK (length(super_secret_admin_key_hash) = 32),
    CONSTRAINT project_credentials_has_a_key CHECK (
        publishable_client_key_hash IS NOT NULL
        OR secret_server_key_hash IS NOT NULL
        OR super_secret_admin_key_hash IS NOT NULL
    )
);

CREATE INDEX project_credentials_project_idx ON project_credentials (project_id);

CREATE TABLE teams (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    profile_image_url TEXT,
    client_metadata TEXT,
    client_read_only_metadata TEXT,
    server_metadata TEXT,
    created_at_millis BIGINT NOT NULL,
    CONSTRAINT teams_project_id_id_key UNIQUE (project_id, id)
);

CREATE INDEX teams_project_created_at_idx ON teams (project_id, created_at_millis, id);

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    display_name TEXT,
    primary_email TEXT,
    primary_email_verified BOOLEAN NOT NULL,
    profile_image_url TEXT,
    client_metadata TEXT,
    client_read_only_metadata TEXT,
    server_metadata TEXT,
    selected_team_id TEXT,
    signed_up_at_millis BIGINT NOT NULL,
    last_active_at_millis BIGINT NOT NULL,
    CONSTRAINT users_project_id_id_key UNIQUE (project_id, id),
    CONSTRAINT users_project_id_primary_email_key UNIQUE (project_id, primary_email),
    -- Deleting the selected team clears the selection (single-column key, so SET NULL leaves
    -- project_id alone) ...
    CONSTRAINT users_selected_team_fkey FOREIGN KEY (selected_team_id)
        REFERENCES teams (id) ON DELETE SET NULL,
    -- ... and the selected team must belong to the user's project.
    CONSTRAINT users_selected_team_project_fkey FOREIGN KEY (project_id, selected_team_id)
        REFERENCES teams (project_id, id)
);

CREATE INDEX users_selected_team_idx ON users (selected_team_id);

CREATE TABLE sessions (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    refresh_token_hash BLOB NOT NULL CHECK (length(refresh_token_hash) = 32),
    created_at_millis BIGINT NOT NULL,
    expires_at_millis BIGINT NOT NULL,
    revoked_at_millis BIGINT,
    CONSTRAINT sessions_refresh_token_hash_key UNIQUE (refresh_token_hash),
    CONSTRAINT sessions_user_fkey FOREIGN KEY (project_id, user_id)
        REFERENCES users (project_id, id) ON DELETE CASCADE
);

CREATE INDEX sessions_user_idx ON sessions (project_id, user_id);

CREATE TABLE team_memberships (
    project_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at_millis BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id),
    CONSTRAINT team_memberships_project_team_user_key UNIQUE (project_id, team_id, user_id),
    CONSTRAINT team_memberships_team_fkey FOREIGN KEY (project_id, team_id)
        REFERENCES teams (project_id, id) ON DELETE CASCADE,
    CONSTRAINT team_memberships_user_fkey FOREIGN KEY (project_id, user_id)
        REFERENCES users (project_id, id) ON DELETE CASCADE
);

CREATE INDEX team_memberships_user_idx ON team_memberships (project_id, user_id);

CREATE TABLE team_permission_definitions (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    description TEXT NOT NULL,
    is_system BOOLEAN NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE team_permission_containment (
    project_id TEXT NOT NULL,
    permission_id TEXT NOT NULL,
    contained_permission_id TEXT NOT NULL,
    PRIMARY KEY (project_id, permission_id, contained_permission_id),
    CONSTRAINT team_permission_containment_permission_fkey FOREIGN KEY (project_id, permission_id)
        REFERENCES team_permission_definitions (project_id, id) ON DELETE CASCADE,
    CONSTRAINT team_permission_containment_contained_fkey
        FOREIGN KEY (project_id, contained_permission_id)
        REFERENCES team_permission_definitions (project_id, id) ON DELETE CASCADE
);

CREATE INDEX team_permission_containment_contained_idx
    ON team_permission_containment (project_id, contained_permission_id);

CREATE TABLE team_permission_grants (
    project_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    permission_id TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id, permission_id),
    -- A grant lives inside a membership: removing the member removes the grants.
    CONSTRAINT team_permission_grants_membership_fkey FOREIGN KEY (project_id, team_id, user_id)
        REFERENCES team_memberships (project_id, team_id, user_id) ON DELETE CASCADE,
    CONSTRAINT team_permission_grants_permission_fkey FOREIGN KEY (project_id, permission_id)
        REFERENCES team_permission_definitions (project_id, id) ON DELETE CASCADE
);

CREATE INDEX team_permission_grants_membership_idx
    ON team_permission_grants (project_id, team_id, user_id);
CREATE INDEX team_permission_grants_user_idx ON team_permission_grants (project_id, user_id);
CREATE INDEX team_permission_grants_permission_idx
    ON team_permission_grants (project_id, permission_id);

CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT,
    team_id TEXT,
    description TEXT NOT NULL,
    is_public BOOLEAN NOT NULL,
    key_hash BLOB NOT NULL CHECK (length(key_hash) = 32),
    last_four TEXT NOT NULL,
    created_at_millis BIGINT NOT NULL,
    expires_at_millis BIGINT,
    manually_revoked_at_millis BIGINT,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_exactly_one_owner CHECK (
        (user_id IS NOT NULL AND team_id IS NULL) OR (user_id IS NULL AND team_id IS NOT NULL)
    ),
    CONSTRAINT api_keys_user_fkey FOREIGN KEY (project_id, user_id)
        REFERENCES users (project_id, id) ON DELETE CASCADE,
    CONSTRAINT api_keys_team_fkey FOREIGN KEY (project_id, team_id)
        REFERENCES teams (project_id, id) ON DELETE CASCADE
);

CREATE INDEX api_keys_user_created_at_idx ON api_keys (project_id, user_id, created_at_millis);
CREATE INDEX api_keys_team_created_at_idx ON api_keys (project_id, team_id, created_at_millis);
