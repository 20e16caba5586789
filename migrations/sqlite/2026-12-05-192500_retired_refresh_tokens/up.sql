-- The refresh token each session's last rotation replaced (its digest only), so that presenting
-- it again is recognised as reuse and ends the session (refresh_tokens.rotation). One row per
-- session: each rotation replaces it; it goes with its session.
CREATE TABLE retired_refresh_tokens (
    refresh_token_hash BLOB NOT NULL PRIMARY KEY CHECK (length(refresh_token_hash) = 32),
    session_id TEXT NOT NULL,
    retired_at_millis BIGINT NOT NULL,
    CONSTRAINT retired_refresh_tokens_session_key UNIQUE (session_id),
    CONSTRAINT retired_refresh_tokens_session_fkey FOREIGN KEY (session_id)
        REFERENCES sessions (id) ON DELETE CASCADE
);
