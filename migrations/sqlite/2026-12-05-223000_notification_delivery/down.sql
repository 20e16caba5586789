DROP INDEX api_keys_expires_at_idx;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP INDEX notification_outbox_due_idx;
ALTER TABLE notification_outbox DROP COLUMN last_error;
ALTER TABLE notification_outbox DROP COLUMN failed_at_millis;
ALTER TABLE notification_outbox DROP COLUMN claimed_at_millis;
ALTER TABLE notification_outbox DROP COLUMN next_attempt_at_millis;
ALTER TABLE notification_outbox DROP COLUMN attempts;
