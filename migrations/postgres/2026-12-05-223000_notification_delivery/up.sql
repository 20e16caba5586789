-- Delivering what keygate owes people and systems.
--
-- notification_outbox rows (e-mails) gain their delivery state. A worker claims due rows
-- (next_attempt_at_millis <= now, neither sent nor failed) by setting claimed_at_millis and
-- moving next_attempt_at_millis past a lease; it then sends, and records the outcome: sent, or
-- a retry at a later next_attempt_at_millis with last_error, or failed after the last attempt.
-- An e-mail whose lease ran out with no outcome (the node stopped mid-send) is marked failed,
-- never sent again: at most once per dedupe_key.
ALTER TABLE notification_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notification_outbox ADD COLUMN next_attempt_at_millis BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notification_outbox ADD COLUMN claimed_at_millis BIGINT;
ALTER TABLE notification_outbox ADD COLUMN failed_at_millis BIGINT;
ALTER TABLE notification_outbox ADD COLUMN last_error TEXT;
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at_millis)
    WHERE sent_at_millis IS NULL AND failed_at_millis IS NULL;

-- A project's webhook endpoints. The signing secret is not stored: it is derived from the
-- node's webhook signing root and the endpoint id. event_types is the comma-separated event
-- types the endpoint receives; empty means all.
CREATE TABLE webhook_endpoints (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    event_types TEXT NOT NULL,
    disabled BOOLEAN NOT NULL,
    created_at_millis BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_project_idx ON webhook_endpoints (project_id, created_at_millis);

-- One event for one endpoint, written in the transaction of the change it reports, and its
-- delivery log (attempts, last HTTP status or error). id is the Standard Webhooks message id
-- (webhook-id), the same on every attempt; dedupe_key keeps an event from being queued twice.
-- Claimed and retried like the outbox, but a lease that ran out is retried (at least once:
-- receivers deduplicate by webhook-id).
CREATE TABLE webhook_deliveries (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    dedupe_key TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_millis BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at_millis BIGINT NOT NULL,
    claimed_at_millis BIGINT,
    delivered_at_millis BIGINT,
    failed_at_millis BIGINT,
    last_status INTEGER,
    last_error TEXT,
    CONSTRAINT webhook_deliveries_dedupe_key_key UNIQUE (dedupe_key)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at_millis)
    WHERE delivered_at_millis IS NULL AND failed_at_millis IS NULL;
CREATE INDEX webhook_deliveries_endpoint_idx
    ON webhook_deliveries (endpoint_id, created_at_millis, id);

-- The expiry-warning scan reads keys by when they expire.
CREATE INDEX api_keys_expires_at_idx ON api_keys (expires_at_millis)
    WHERE expires_at_millis IS NOT NULL;
