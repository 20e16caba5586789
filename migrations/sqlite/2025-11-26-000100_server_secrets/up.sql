-- Values the server generates once and every node sharing the database must agree on (e.g. the
-- access-token signing secret when `auth.jwt_secret` is not set), and one-time markers such as
-- "the first start has been handled". Written with insert-if-absent, so the first writer wins
-- even when several nodes start at once. Never holds the pepper or any configured secret.
CREATE TABLE server_secrets (
    name TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL,
    created_at_millis BIGINT NOT NULL
);
