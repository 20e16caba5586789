-- The audit log: one row per change to keys, credentials, projects, memberships and team
-- permissions, written in the same transaction as the change (so a change is never without its
-- record, and a rolled-back change leaves none). Rows are only inserted and, past the retention
-- setting, deleted oldest first; never updated.
--
-- project_id has no foreign key: the record of what happened outlives what it happened to.
-- metadata is a JSON object of non-secret facts (descriptions, last four characters, expiries).
CREATE TABLE audit_events (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    created_at_millis BIGINT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_user_id TEXT,
    actor_label TEXT,
    target_user_id TEXT,
    request_id TEXT,
    client_address TEXT,
    metadata TEXT NOT NULL
);

-- Listing, newest first with a keyset cursor (created_at_millis, id).
CREATE INDEX audit_events_project_time_idx ON audit_events (project_id, created_at_millis, id);
-- Retention deletes the oldest rows of every project.
CREATE INDEX audit_events_time_idx ON audit_events (created_at_millis);
