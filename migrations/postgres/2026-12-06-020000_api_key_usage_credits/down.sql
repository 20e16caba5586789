ALTER TABLE api_keys DROP COLUMN refilled_at_millis;
ALTER TABLE api_keys DROP COLUMN refill_interval_millis;
ALTER TABLE api_keys DROP COLUMN refill_amount;
ALTER TABLE api_keys DROP COLUMN remaining_uses;
