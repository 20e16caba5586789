//! How much one caller may store: the caps that keep every owner's data, and so every list
//! answer, bounded (issue 12: a single signed-in user once pushed a server past 1 GiB of memory
//! with 33 legal requests).
//!
//! **Key decision: every cap has one home.** The field caps (description, display name,
//! metadata) are values here and are enforced by the HTTP layer's request validation, which
//! answers them in upstream's `SCHEMA_ERROR` wording; the count caps (keys per owner, teams a
//! client may create) are enforced by the use cases, in the same transaction as the insert and
//! after locking the owner's row, so concurrent creates cannot overshoot them. Keys per owner
//! counts **every** key, revoked and expired ones included: keys are never deleted, so only that
//! count bounds what a list of an owner's keys can hold.

/// The caps; the binary reads them from the `[limits]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest API-key description, in characters (as JavaScript counts them).
    pub max_description_chars: usize,
    /// Longest display name of a user or a team, in characters.
    pub max_display_name_chars: usize,
    /// Largest `client_metadata`, `client_read_only_metadata` or `server_metadata` of a user or
    /// a team, in bytes of its JSON text.
    pub max_metadata_bytes: usize,
    /// Longest profile image URL of a user or a team, in characters (upstream: 1,000,000, a data
    /// URL of a small image).
    pub max_profile_image_url_chars: usize,
    /// Most API keys one user or one team may have (all of them, revoked and expired included).
    pub max_keys_per_owner: u64,
    /// Most teams a user may belong to and still create one with client access.
    pub max_client_teams_per_user: u64,
    /// Largest `limit` a paginated list accepts.
    pub max_page_size: usize,
    /// Most credentials one project may have (revoked and expired included), so one listing of
    /// them is bounded.
    pub max_credentials_per_project: u64,
    /// Most webhook endpoints one project may have (every event is queued once per endpoint).
    pub max_webhooks_per_project: u64,
    /// Longest grace period of a key rotation, in milliseconds (the old key keeps working that
    /// long).
    pub max_rotation_grace_millis: i64,
}

impl Limits {
    /// Default [`Limits::max_description_chars`].
    pub const DEFAULT_MAX_DESCRIPTION_CHARS: usize = 1_000;
    /// Default [`Limits::max_display_name_chars`].
    pub const DEFAULT_MAX_DISPLAY_NAME_CHARS: usize = 1_000;
    /// Default [`Limits::max_metadata_bytes`]: 16 KiB.
    pub const DEFAULT_MAX_METADATA_BYTES: usize = 16 * 1024;
    /// Default [`Limits::max_profile_image_url_chars`]: upstream's.
    pub const DEFAULT_MAX_PROFILE_IMAGE_URL_CHARS: usize = 1_000_000;
    /// Default [`Limits::max_keys_per_owner`].
    pub const DEFAULT_MAX_KEYS_PER_OWNER: u64 = 1_000;
    /// Default [`Limits::max_client_teams_per_user`].
    pub const DEFAULT_MAX_CLIENT_TEAMS_PER_USER: u64 = 100;
    /// Default [`Limits::max_page_size`].
    pub const DEFAULT_MAX_PAGE_SIZE: usize = 1_000;
    /// Default [`Limits::max_credentials_per_project`].
    pub const DEFAULT_MAX_CREDENTIALS_PER_PROJECT: u64 = 1_000;
    /// Default [`Limits::max_webhooks_per_project`].
    pub const DEFAULT_MAX_WEBHOOKS_PER_PROJECT: u64 = 20;
    /// Default [`Limits::max_rotation_grace_millis`]: 30 days.
    pub const DEFAULT_MAX_ROTATION_GRACE_MILLIS: i64 = 30 * 24 * 60 * 60 * 1000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_description_chars: Self::DEFAULT_MAX_DESCRIPTION_CHARS,
            max_display_name_chars: Self::DEFAULT_MAX_DISPLAY_NAME_CHARS,
            max_metadata_bytes: Self::DEFAULT_MAX_METADATA_BYTES,
            max_profile_image_url_chars: Self::DEFAULT_MAX_PROFILE_IMAGE_URL_CHARS,
            max_keys_per_owner: Self::DEFAULT_MAX_KEYS_PER_OWNER,
            max_client_teams_per_user: Self::DEFAULT_MAX_CLIENT_TEAMS_PER_USER,
            max_page_size: Self::DEFAULT_MAX_PAGE_SIZE,
            max_credentials_per_project: Self::DEFAULT_MAX_CREDENTIALS_PER_PROJECT,
            max_webhooks_per_project: Self::DEFAULT_MAX_WEBHOOKS_PER_PROJECT,
            max_rotation_grace_millis: Self::DEFAULT_MAX_ROTATION_GRACE_MILLIS,
        }
    }
}
