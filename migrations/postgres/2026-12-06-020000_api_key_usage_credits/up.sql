-- Key usage credits (issue 14): remaining_uses is what no node has leased yet (NULL: the key is
-- unlimited), in the refill period that started at refilled_at_millis; with refill_amount and
-- refill_interval_millis the count is set back to the amount at each period boundary (counted
-- from refilled_at_millis), lazily, by the next lease. All four are set together or all NULL
-- (the two refill columns may be NULL alone).
ALTER TABLE api_keys ADD COLUMN remaining_uses BIGINT;
ALTER TABLE api_keys ADD COLUMN refill_amount BIGINT;
ALTER TABLE api_keys ADD COLUMN refill_interval_millis BIGINT;
ALTER TABLE api_keys ADD COLUMN refilled_at_millis BIGINT;
