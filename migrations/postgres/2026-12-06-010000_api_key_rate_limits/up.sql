-- Key rate limits (issue 14): at most rate_limit checks per window of rate_window_millis (both
-- set or both NULL; copied from the project's default at creation when the request named none),
-- and each node's count of checks per key and window, written in batches by the node's rate-limit
-- sync (never per check) so that every node learns what the others admitted. Rows are pruned
-- once their window is over.
ALTER TABLE api_keys ADD COLUMN rate_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN rate_window_millis BIGINT;
ALTER TABLE projects ADD COLUMN default_rate_limit BIGINT;
ALTER TABLE projects ADD COLUMN default_rate_window_millis BIGINT;
CREATE TABLE key_rate_counts (
    api_key_id TEXT NOT NULL,
    window_start_millis BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    checks BIGINT NOT NULL,
    window_end_millis BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, window_start_millis, node_id)
);
CREATE INDEX key_rate_counts_window_end ON key_rate_counts (window_end_millis);
