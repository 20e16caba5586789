-- Notices keygate owes to people (e.g. "your API key was revoked because it was found in a
-- public repository"), written in the same transaction as the change they report, so a notice
-- is never lost and never sent for a change that was rolled back. A delivery worker sends the
-- pending ones (sent_at_millis IS NULL), oldest first, and marks them sent.
--
-- dedupe_key makes a notice idempotent: the same event for the same recipient is written at
-- most once, even when two requests race to report it.
CREATE TABLE notification_outbox (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    dedupe_key TEXT NOT NULL,
    recipient_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    created_at_millis BIGINT NOT NULL,
    sent_at_millis BIGINT,
    CONSTRAINT notification_outbox_dedupe_key_key UNIQUE (dedupe_key)
);

CREATE INDEX notification_outbox_pending_idx
    ON notification_outbox (sent_at_millis, created_at_millis, id);
CREATE INDEX notification_outbox_project_idx ON notification_outbox (project_id);
