//! Server settings, layered as the wire contract's A5 says: the compiled-in
//! `config/default.toml`, then an optional file (`--config` / `KEYGATE_CONFIG`), then `KEYGATE_*`
//! environment variables (nested keys joined by `__`), then command-line flags.
//!
//! An unknown key in a settings file is an error naming it. An unknown `KEYGATE_*` variable is
//! only warned about (tests and tools share the prefix), and a bad value for a known one is an
//! error naming the variable.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use config::{Config, File, FileFormat};
use keygate_service::delivery::DeliverySettings;
use serde::Deserialize;

/// The defaults, compiled in so the binary runs from any directory.
pub const DEFAULT_SETTINGS_TOML: &str = include_str!("../../../config/default.toml");

/// The prefix of every environment variable keygate reads.
const ENV_PREFIX: &str = "KEYGATE_";

/// Environment variables with the prefix that are not settings, so they are neither applied nor
/// warned about.
const ENV_NOT_SETTINGS: &[&str] = &["KEYGATE_CONFIG"];

/// A setting that holds a secret: never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretSetting(String);

impl SecretSetting {
    /// The secret, or `None` when the setting is empty.
    pub fn expose(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }
}

impl fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

/// All of keygate's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// The operator token that manages projects; empty disables the operator endpoints.
    pub operator_token: SecretSetting,
    /// The URL users reach this server at; empty derives it from `bind`.
    pub public_url: String,
    /// HTTP worker threads; 0 is one per core.
    pub workers: usize,
    /// How long requests in flight may take to finish after a shutdown signal.
    pub shutdown_timeout_seconds: u64,
    /// Database pool settings.
    pub database: DatabaseSettings,
    /// Tokens and hashing.
    pub auth: AuthSettings,
    /// Logging.
    pub log: LogSettings,
    /// The prebuilt UI.
    pub ui: UiSettings,
    /// The key check's in-process cache.
    pub check_cache: CheckCacheSettings,
    /// The in-process cache of project authentication.
    pub project_auth_cache: ProjectAuthCacheSettings,
    /// How much one caller may send and store (`[limits]`).
    pub limits: LimitsSettings,
    /// Per-address rate limits.
    pub rate_limits: RateLimitsSettings,
    /// Session refresh tokens.
    pub refresh_tokens: RefreshTokenSettings,
    /// Prometheus metrics (`[metrics]`).
    pub metrics: MetricsSettings,
    /// The audit log (`[audit]`).
    pub audit: AuditLogSettings,
    /// Delivering e-mails and webhooks (`[notifications]`).
    pub notifications: NotificationSettings,
    /// Enforcing API keys' rate limits and usage credits across nodes (`[key_policies]`).
    pub key_policies: KeyPolicySettings,
    /// Recording when keys were last used (`[key_usage]`).
    pub key_usage: KeyUsageSettings,
    /// The stream of key changes protected services' clients follow (`[key_change_feed]`).
    pub key_change_feed: KeyChangeFeedSetting,
    /// How checks that miss the check cache read their keys (`[key_lookups]`).
    pub key_lookups: BatchSetting,
    /// How concurrent creates of keys are committed together (`[key_creates]`).
    pub key_creates: BatchSetting,
}

/// Work served in batches by a bounded number of database calls at once: the lookups of checks
/// that miss the check cache (docs/operations.md, "Key lookups") and the creates of keys ("Key
/// creates").
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSetting {
    /// Most database calls at once, each holding a pooled connection (1 to
    /// `database.max_connections`).
    pub max_concurrent: usize,
    /// Most items one call serves (1 to 1,000).
    pub max_batch: usize,
}

/// The stream of key changes `keygate-client` follows to verify repeated keys itself
/// (docs/operations.md, "Key-change streams").
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyChangeFeedSetting {
    /// Streams one node serves at once (1 to 100,000).
    pub max_subscribers: usize,
    /// Change events a stream may fall behind before it is ended (16 to 1,000,000).
    pub buffer: usize,
    /// How often an idle stream says it is still there (50 to 10,000).
    pub heartbeat_millis: u64,
}

/// How the nodes of a deployment agree on keys' rate limits (docs/operations.md, "Key rate
/// limits and usage credits").
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicySettings {
    /// How often a node writes its rate-limit counts and reads the other nodes', and gives
    /// back idle leases of usage credits (10 to 10,000).
    pub rate_limit_sync_millis: u64,
    /// Usage credits a node leases at once (1 to 1,000,000).
    pub credit_lease_block: i64,
    /// How long a lease of usage credits stays unused before it is given back (100 to
    /// 3,600,000).
    pub credit_lease_idle_millis: u64,
}

/// Recording when keys were last used (docs/operations.md, "Last use of keys").
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyUsageSettings {
    /// How far a use may follow the stored last use without being written, in milliseconds; 0
    /// writes every use (0 to 86,400,000).
    pub last_used_precision_millis: u64,
}

/// Delivering the outbox's e-mails and webhook events (docs/operations.md, "Notifications").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// The SMTP server; empty keeps e-mails in the outbox. May hold a password: never shown.
    pub smtp_url: SecretSetting,
    /// The sender of e-mails.
    pub from: String,
    /// How often the delivery worker looks for due e-mails and events.
    pub poll_interval_millis: u64,
    /// Attempts per e-mail or webhook delivery.
    pub max_attempts: u32,
    /// The wait before the second attempt (doubled for each further one, at most an hour).
    pub retry_base_millis: u64,
    /// How long one send may take.
    pub send_timeout_millis: u64,
    /// How many days before a key expires its owners are warned; 0 warns nobody.
    pub expiry_warning_days: u32,
}

impl NotificationSettings {
    /// The delivery settings these name.
    pub fn delivery(&self) -> DeliverySettings {
        DeliverySettings {
            smtp_url: self.smtp_url.expose().map(str::to_owned),
            from: self.from.clone(),
            max_attempts: self.max_attempts,
            retry_base: Duration::from_millis(self.retry_base_millis),
            send_timeout: Duration::from_millis(self.send_timeout_millis),
            expiry_warning: (self.expiry_warning_days > 0)
                .then(|| Duration::from_secs(u64::from(self.expiry_warning_days) * 24 * 60 * 60)),
            batch: 100,
        }
    }
}

/// The audit log (docs/operations.md, "Audit log").
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLogSettings {
    /// Events older than this many days are deleted (hourly); 0 keeps them forever.
    pub retention_days: u32,
}

/// Prometheus metrics at `GET /metrics` (docs/operations.md, "Metrics").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Whether `GET /metrics` is served (off by default: it is unauthenticated).
    pub enabled: bool,
    /// A listener of its own for `/metrics` (e.g. `127.0.0.1:9102`); empty: the public one.
    pub bind: String,
}

impl MetricsSettings {
    /// Where `/metrics` is served: `None` when off; `Some(None)` on the public listener;
    /// `Some(Some(address))` only on a listener of its own.
    pub fn exposure(&self) -> anyhow::Result<Option<Option<SocketAddr>>> {
        if !self.enabled {
            return Ok(None);
        }
        let bind = self.bind.trim();
        if bind.is_empty() {
            return Ok(Some(None));
        }
        let address = bind.parse::<SocketAddr>().map_err(|_| {
            anyhow::anyhow!(
                "setting metrics.bind (KEYGATE_METRICS__BIND) must be an address such as 127.0.0.1:9102, got {bind:?}"
            )
        })?;
        Ok(Some(Some(address)))
    }
}

/// How much one caller may send and store: request bodies, stored field sizes, counts per owner,
/// page sizes (docs/operations.md, "Limits").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Largest request body of the routes whose bodies are a few short fields, in bytes.
    pub max_small_body_bytes: usize,
    /// Most top-level fields of a JSON object or form body.
    pub max_body_fields: usize,
    /// Longest API-key description, in characters.
    pub max_description_chars: usize,
    /// Longest user or team display name, in characters.
    pub max_display_name_chars: usize,
    /// Largest user or team metadata field, in bytes of JSON.
    pub max_metadata_bytes: usize,
    /// Longest user or team profile image URL, in characters.
    pub max_profile_image_url_chars: usize,
    /// Most API keys of one user or one team (revoked and expired ones included).
    pub max_keys_per_owner: u64,
    /// Most teams a user may belong to and still create one with client access.
    pub max_client_teams_per_user: u64,
    /// Largest `limit` of a paginated list.
    pub max_page_size: usize,
    /// Most credentials of one project (revoked and expired ones included).
    pub max_credentials_per_project: u64,
    /// Most webhook endpoints of one project.
    pub max_webhooks_per_project: u64,
    /// Longest grace period of a key rotation, in milliseconds.
    pub max_rotation_grace_millis: i64,
}

/// Session refresh tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenSettings {
    /// Whether every refresh issues a new refresh token and a reused one ends its session
    /// (off by default: upstream's SDKs keep using one refresh token).
    pub rotation: bool,
}

/// Per-address rate limits (`keygate_http::rate_limits`); a rate or burst of 0 switches that
/// limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsSettings {
    /// `POST /api/v1/auth/oauth/token`: requests a minute per address.
    pub oauth_token_per_minute: u32,
    /// … and at once.
    pub oauth_token_burst: u32,
    /// `POST /api/v1/integrations/credential-scanning/revoke`: requests a minute per address.
    pub credential_scanning_per_minute: u32,
    /// … and at once.
    pub credential_scanning_burst: u32,
    /// Failed authentications (wrong project key or operator token) a minute per address.
    pub failed_auth_per_minute: u32,
    /// … and at once.
    pub failed_auth_burst: u32,
    /// Addresses each limit remembers at most; 0 switches every limit off.
    pub max_tracked_addresses: usize,
    /// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR ranges, as a list or a
    /// comma-separated text (for the environment variable).
    pub trusted_proxies: ListSetting,
}

/// A list setting, written as a TOML list or as comma-separated text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListSetting {
    /// `["a", "b"]`.
    List(Vec<String>),
    /// `"a,b"`.
    Text(String),
}

impl ListSetting {
    /// The entries, trimmed, empty ones left out.
    pub fn entries(&self) -> Vec<&str> {
        let all: Vec<&str> = match self {
            ListSetting::List(items) => items.iter().map(String::as_str).collect(),
            ListSetting::Text(text) => text.split(',').collect(),
        };
        all.into_iter()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect()
    }
}

impl RateLimitsSettings {
    /// The limits as the HTTP layer takes them; an entry of `trusted_proxies` that is not an
    /// address or range is an error naming the setting.
    pub fn to_http(&self) -> anyhow::Result<keygate_http::rate_limits::RateLimitSettings> {
        use keygate_http::rate_limits::{Rate, RateLimitSettings, TrustedProxies};
        let trusted_proxies =
            TrustedProxies::parse(self.trusted_proxies.entries()).with_context(|| {
                format!(
                    "setting rate_limits.trusted_proxies ({})",
                    env_var_name("rate_limits.trusted_proxies")
                )
            })?;
        Ok(RateLimitSettings {
            oauth_token: Rate {
                per_minute: self.oauth_token_per_minute,
                burst: self.oauth_token_burst,
            },
            credential_scanning: Rate {
                per_minute: self.credential_scanning_per_minute,
                burst: self.credential_scanning_burst,
            },
            failed_auth: Rate {
                per_minute: self.failed_auth_per_minute,
                burst: self.failed_auth_burst,
            },
            max_tracked_addresses: self.max_tracked_addresses,
            trusted_proxies,
        })
    }
}

/// The in-process cache of which project a presented project key opens
/// (`keygate_http::project_auth_cache`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectAuthCacheSettings {
    /// How long an entry lives, in milliseconds: how late a change made elsewhere is seen; 0
    /// turns the cache off.
    pub ttl_millis: u64,
    /// How many presented keys are remembered at most; 0 turns the cache off.
    pub max_entries: u64,
}

/// The key check's in-process cache (`keygate_http::check_cache`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckCacheSettings {
    /// Approximate bytes the cached key rows may take; 0 turns the cache off.
    pub max_bytes: u64,
    /// How many unknown key ids are remembered at most; 0 turns that off.
    pub max_unknown: u64,
    /// How long an unknown key id is remembered, in milliseconds.
    pub unknown_ttl_millis: u64,
    /// How long a cached key row is kept at most, in milliseconds, even if no invalidation
    /// arrives (defence in depth); 0 turns the cache of rows off.
    pub row_ttl_millis: u64,
}

/// The prebuilt UI (the account-settings page and its demo sign-in).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    /// Whether `/handler/demo-sign-in` works.
    pub demo_sign_in: DemoSignInSetting,
}

/// When the demo sign-in works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoSignInSetting {
    /// Only when bound to a loopback address (the one-time link printed at start is what lets a
    /// browser in).
    Auto,
    /// Always (a demo server that others reach over the network).
    Enabled,
    /// Never.
    Disabled,
}

/// Database pool settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connections in the pool.
    pub max_connections: u32,
    /// Threads that run database work, for the whole node; 0 chooses by backend.
    pub blocking_threads: usize,
}

/// Tokens and hashing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl_seconds: u64,
    /// HS256 secret for access tokens; empty means generated and kept in the database.
    pub jwt_secret: SecretSetting,
    /// HMAC pepper for stored hashes; empty means plain SHA-256.
    pub pepper: SecretSetting,
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter directive.
    pub level: String,
    /// Text or JSON.
    pub format: LogFormat,
}

/// Flags given on the command line; each, when present, wins over every other source.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    /// `--bind`.
    pub bind: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

/// Settings as loaded, plus what the operator should be told about.
#[derive(Debug)]
pub struct LoadedSettings {
    /// The effective settings.
    pub settings: Settings,
    /// `KEYGATE_*` variables that are not settings (to be logged as warnings).
    pub unknown_env_vars: Vec<String>,
}

impl Settings {
    /// The settings the given `KEYGATE_*` variables make on top of the defaults (for tests).
    #[cfg(test)]
    pub(crate) fn from_env_pairs(pairs: &[(&str, &str)]) -> Settings {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(None, &env, &FlagOverrides::default())
            .expect("valid test settings")
            .settings
    }

    /// Loads the settings from the process environment.
    pub fn load(
        config_file: Option<&Path>,
        flags: &FlagOverrides,
    ) -> anyhow::Result<LoadedSettings> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let config_file = config_file.map(Path::to_path_buf).or_else(|| {
            env.get("KEYGATE_CONFIG")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        Self::load_from(config_file.as_deref(), &env, flags)
    }

    /// Loads the settings from explicit sources (testable without touching the process).
    pub fn load_from(
        config_file: Option<&Path>,
        env: &BTreeMap<String, String>,
        flags: &FlagOverrides,
    ) -> anyhow::Result<LoadedSettings> {
        let known_keys = known_setting_keys()?;
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_SETTINGS_TOML, FileFormat::Toml));
        if let Some(path) = config_file {
            if !path.is_file() {
                bail!("settings file {} does not exist", path.display());
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }

        let mut unknown_env_vars = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if ENV_NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if known_keys.contains_key(&key) {
                builder = builder
                    .set_override(&key, value.as_str())
                    .with_context(|| format!("environment variable {name}"))?;
            } else {
                unknown_env_vars.push(name.clone());
            }
        }
        if let Some(bind) = &flags.bind {
            builder = builder.set_override("bind", bind.as_str())?;
        }
        if let Some(url) = &flags.database_url {
            builder = builder.set_override("database_url", url.as_str())?;
        }

        let merged = builder
            .build()
            .map_err(|e| anyhow::anyhow!("invalid settings{}: {e}", file_hint(config_file)))?;
        let settings: Settings = merged.try_deserialize().map_err(|e| {
            anyhow::anyhow!(
                "invalid settings{}: {e} (environment variables are named KEYGATE_<KEY>, nested keys joined by __)",
                file_hint(config_file)
            )
        })?;
        settings.validate()?;
        Ok(LoadedSettings {
            settings,
            unknown_env_vars,
        })
    }

    /// Checks values that deserialization alone cannot.
    fn validate(&self) -> anyhow::Result<()> {
        if self.notifications.max_attempts == 0 {
            bail!("setting notifications.max_attempts (KEYGATE_NOTIFICATIONS__MAX_ATTEMPTS) must be at least 1");
        }
        if self.notifications.poll_interval_millis == 0
            || self.notifications.send_timeout_millis == 0
        {
            bail!("settings notifications.poll_interval_millis and notifications.send_timeout_millis must be at least 1");
        }
        if self.database_url.trim().is_empty() {
            bail!("setting database_url (KEYGATE_DATABASE_URL) must not be empty");
        }
        if let Some(token) = self.operator_token.expose() {
            if token.len() < 16 {
                bail!("setting operator_token (KEYGATE_OPERATOR_TOKEN) must be at least 16 characters");
            }
        }
        require_secret_length("auth.jwt_secret", &self.auth.jwt_secret)?;
        require_secret_length("auth.pepper", &self.auth.pepper)?;
        if !(60..=86_400).contains(&self.auth.access_token_ttl_seconds) {
            bail!(
                "setting auth.access_token_ttl_seconds (KEYGATE_AUTH__ACCESS_TOKEN_TTL_SECONDS) must be between 60 and 86400, got {}",
                self.auth.access_token_ttl_seconds
            );
        }
        if self.shutdown_timeout_seconds > 3_600 {
            bail!(
                "setting shutdown_timeout_seconds (KEYGATE_SHUTDOWN_TIMEOUT_SECONDS) must be at most 3600, got {}",
                self.shutdown_timeout_seconds
            );
        }
        if !(10..=10_000).contains(&self.key_policies.rate_limit_sync_millis) {
            bail!(
                "setting key_policies.rate_limit_sync_millis (KEYGATE_KEY_POLICIES__RATE_LIMIT_SYNC_MILLIS) must be between 10 and 10000, got {}",
                self.key_policies.rate_limit_sync_millis
            );
        }
        if !(1..=1_000_000).contains(&self.key_policies.credit_lease_block) {
            bail!(
                "setting key_policies.credit_lease_block (KEYGATE_KEY_POLICIES__CREDIT_LEASE_BLOCK) must be between 1 and 1000000, got {}",
                self.key_policies.credit_lease_block
            );
        }
        if !(100..=3_600_000).contains(&self.key_policies.credit_lease_idle_millis) {
            bail!(
                "setting key_policies.credit_lease_idle_millis (KEYGATE_KEY_POLICIES__CREDIT_LEASE_IDLE_MILLIS) must be between 100 and 3600000, got {}",
                self.key_policies.credit_lease_idle_millis
            );
        }
        if self.key_usage.last_used_precision_millis > 86_400_000 {
            bail!(
                "setting key_usage.last_used_precision_millis (KEYGATE_KEY_USAGE__LAST_USED_PRECISION_MILLIS) must be between 0 and 86400000, got {}",
                self.key_usage.last_used_precision_millis
            );
        }
        let feed = &self.key_change_feed;
        if !(1..=100_000).contains(&feed.max_subscribers) {
            bail!(
                "setting key_change_feed.max_subscribers (KEYGATE_KEY_CHANGE_FEED__MAX_SUBSCRIBERS) must be between 1 and 100000, got {}",
                feed.max_subscribers
            );
        }
        if !(16..=1_000_000).contains(&feed.buffer) {
            bail!(
                "setting key_change_feed.buffer (KEYGATE_KEY_CHANGE_FEED__BUFFER) must be between 16 and 1000000, got {}",
                feed.buffer
            );
        }
        if !(50..=10_000).contains(&feed.heartbeat_millis) {
            bail!(
                "setting key_change_feed.heartbeat_millis (KEYGATE_KEY_CHANGE_FEED__HEARTBEAT_MILLIS) must be between 50 and 10000, got {}",
                feed.heartbeat_millis
            );
        }
        if self.database.max_connections == 0 {
            bail!("setting database.max_connections (KEYGATE_DATABASE__MAX_CONNECTIONS) must be at least 1");
        }
        for (name, env, batches) in [
            ("key_lookups", "KEY_LOOKUPS", &self.key_lookups),
            ("key_creates", "KEY_CREATES", &self.key_creates),
        ] {
            if batches.max_concurrent == 0
                || batches.max_concurrent > self.database.max_connections as usize
            {
                bail!(
                    "setting {name}.max_concurrent (KEYGATE_{env}__MAX_CONCURRENT) must be between 1 and database.max_connections ({}), got {}",
                    self.database.max_connections,
                    batches.max_concurrent
                );
            }
            if !(1..=1_000).contains(&batches.max_batch) {
                bail!(
                    "setting {name}.max_batch (KEYGATE_{env}__MAX_BATCH) must be between 1 and 1000, got {}",
                    batches.max_batch
                );
            }
        }
        let limits = &self.limits;
        for (name, value) in [
            ("max_body_bytes", limits.max_body_bytes),
            ("max_small_body_bytes", limits.max_small_body_bytes),
            ("max_body_fields", limits.max_body_fields),
            ("max_description_chars", limits.max_description_chars),
            ("max_display_name_chars", limits.max_display_name_chars),
            ("max_metadata_bytes", limits.max_metadata_bytes),
            (
                "max_profile_image_url_chars",
                limits.max_profile_image_url_chars,
            ),
            ("max_page_size", limits.max_page_size),
        ] {
            if value == 0 {
                bail!(
                    "setting limits.{name} (KEYGATE_LIMITS__{}) must be at least 1",
                    name.to_ascii_uppercase()
                );
            }
        }
        self.rate_limits.to_http()?;
        self.metrics.exposure()?;
        let has_scheme = ["http://", "https://"]
            .iter()
            .any(|scheme| self.public_url.starts_with(scheme));
        if !self.public_url.is_empty() && !has_scheme {
            bail!("setting public_url (KEYGATE_PUBLIC_URL) must start with http:// or https://");
        }
        Ok(())
    }

    /// The URL users reach this server at.
    pub fn public_url(&self) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.trim_end_matches('/').to_owned();
        }
        let host = match self.bind.ip() {
            ip if ip.is_unspecified() || ip.is_loopback() => "localhost".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{host}:{}", self.bind.port())
    }
}

/// The least number of bytes a configured key-like secret (`auth.jwt_secret`, `auth.pepper`)
/// must have: 32 bytes is the HMAC-SHA-256 output size, so a shorter key would be the weakest
/// link of the hash or the signature it keys.
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// The one rule for key-like secrets: when `value` (the setting `key`) is set, it has at least
/// [`MIN_SECRET_KEY_BYTES`] bytes; the error names the setting and its environment variable.
fn require_secret_length(key: &str, value: &SecretSetting) -> anyhow::Result<()> {
    match value.expose() {
        Some(secret) if secret.len() < MIN_SECRET_KEY_BYTES => bail!(
            "setting {key} ({}) must be at least {MIN_SECRET_KEY_BYTES} characters",
            env_var_name(key)
        ),
        _ => Ok(()),
    }
}

/// The environment variable of a dotted setting key (`auth.pepper` → `KEYGATE_AUTH__PEPPER`).
fn env_var_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.to_ascii_uppercase().replace('.', "__")
    )
}

fn file_hint(config_file: Option<&Path>) -> String {
    config_file
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

/// Every setting key, dotted (`auth.pepper`), from the compiled-in defaults, which list them all.
fn known_setting_keys() -> anyhow::Result<BTreeMap<String, ()>> {
    let defaults = Config::builder()
        .add_source(File::from_str(DEFAULT_SETTINGS_TOML, FileFormat::Toml))
        .build()
        .context("compiled-in default settings")?;
    let mut keys = BTreeMap::new();
    let table: config::Map<String, config::Value> = defaults.try_deserialize()?;
    collect_keys("", &table, &mut keys);
    Ok(keys)
}

fn collect_keys(
    prefix: &str,
    table: &config::Map<String, config::Value>,
    out: &mut BTreeMap<String, ()>,
) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value.clone().into_table() {
            Ok(inner) => collect_keys(&key, &inner, out),
            Err(_) => {
                out.insert(key, ());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(file: Option<&str>, pairs: &[(&str, &str)]) -> anyhow::Result<LoadedSettings> {
        let tmp = file.map(|contents| {
            let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
            f.write_all(contents.as_bytes()).unwrap();
            f
        });
        Settings::load_from(
            tmp.as_ref().map(|f| f.path()),
            &env(pairs),
            &FlagOverrides::default(),
        )
    }

    #[test]
    fn metrics_are_off_unless_enabled_and_bind_privately_when_asked() {
        let defaults = load(None, &[]).unwrap().settings;
        assert!(!defaults.metrics.enabled);
        assert_eq!(defaults.metrics.exposure().unwrap(), None);
        let public = load(None, &[("KEYGATE_METRICS__ENABLED", "true")])
            .unwrap()
            .settings;
        assert_eq!(public.metrics.exposure().unwrap(), Some(None));
        let private = load(
            None,
            &[
                ("KEYGATE_METRICS__ENABLED", "true"),
                ("KEYGATE_METRICS__BIND", "127.0.0.1:9102"),
            ],
        )
        .unwrap()
        .settings;
        assert_eq!(
            private.metrics.exposure().unwrap(),
            Some(Some("127.0.0.1:9102".parse().unwrap()))
        );
        // A bind without `enabled` serves nothing.
        let off = load(None, &[("KEYGATE_METRICS__BIND", "127.0.0.1:9102")])
            .unwrap()
            .settings;
        assert_eq!(off.metrics.exposure().unwrap(), None);
        let err = load(
            None,
            &[
                ("KEYGATE_METRICS__ENABLED", "true"),
                ("KEYGATE_METRICS__BIND", "nowhere"),
            ],
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("metrics.bind"), "{err}");
        assert!(err.contains("KEYGATE_METRICS__BIND"), "{err}");
    }

    #[test]
    fn check_cache_rows_live_a_minute_unless_set() {
        let defaults = load(None, &[]).unwrap().settings;
        assert_eq!(defaults.check_cache.row_ttl_millis, 60_000);
        let set = Settings::from_env_pairs(&[("KEYGATE_CHECK_CACHE__ROW_TTL_MILLIS", "5000")]);
        assert_eq!(set.check_cache.row_ttl_millis, 5_000);
    }

    #[test]
    fn defaults_load() {
        let loaded = load(None, &[]).unwrap();
        let s = loaded.settings;
        assert_eq!(s.bind.to_string(), "127.0.0.1:8102");
        assert_eq!(s.database_url, "sqlite://keygate.sqlite3");
        assert_eq!(s.operator_token.expose(), None);
        assert_eq!(s.auth.access_token_ttl_seconds, 600);
        assert_eq!(s.public_url(), "http://localhost:8102");
        assert!(!s.refresh_tokens.rotation, "upstream does not rotate");
        assert_eq!(s.audit.retention_days, 365);
        assert_eq!(s.key_policies.rate_limit_sync_millis, 100);
        assert_eq!(s.key_policies.credit_lease_block, 10);
        assert_eq!(s.key_policies.credit_lease_idle_millis, 2_000);
        assert_eq!(s.key_usage.last_used_precision_millis, 60_000);
        assert_eq!(s.key_change_feed.max_subscribers, 1_000);
        assert_eq!(s.key_change_feed.buffer, 1_024);
        assert_eq!(s.key_change_feed.heartbeat_millis, 250);
        assert_eq!(s.key_lookups.max_concurrent, 2);
        assert_eq!(s.key_lookups.max_batch, 64);
        assert_eq!(s.key_creates.max_concurrent, 2);
        assert_eq!(s.key_creates.max_batch, 64);
        assert!(loaded.unknown_env_vars.is_empty());
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let file = "bind = \"127.0.0.1:9000\"\ndatabase_url = \"sqlite://from-file.db\"\n[auth]\naccess_token_ttl_seconds = 900\n";
        let mut tmp = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        tmp.write_all(file.as_bytes()).unwrap();
        let e = env(&[
            ("KEYGATE_DATABASE_URL", "sqlite://from-env.db"),
            ("KEYGATE_AUTH__ACCESS_TOKEN_TTL_SECONDS", "1200"),
        ]);
        let flags = FlagOverrides {
            bind: Some("127.0.0.1:9001".into()),
            database_url: None,
        };
        let s = Settings::load_from(Some(tmp.path()), &e, &flags)
            .unwrap()
            .settings;
        assert_eq!(s.bind.to_string(), "127.0.0.1:9001");
        assert_eq!(s.database_url, "sqlite://from-env.db");
        assert_eq!(s.auth.access_token_ttl_seconds, 1200);
    }

    #[test]
    fn unknown_key_in_file_is_an_error_naming_it() {
        let err = load(Some("bnid = \"127.0.0.1:1\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnid"), "{err}");
        let err = load(Some("[auth]\npeper = \"x\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("peper"), "{err}");
    }

    #[test]
    fn unknown_env_var_is_only_reported() {
        let loaded = load(
            None,
            &[
                ("KEYGATE_TEST_POSTGRES_URL", "postgres://x"),
                ("KEYGATE_BND", "1"),
            ],
        )
        .unwrap();
        assert_eq!(
            loaded.unknown_env_vars,
            vec!["KEYGATE_BND", "KEYGATE_TEST_POSTGRES_URL"]
        );
    }

    #[test]
    fn bad_values_are_errors_naming_the_setting() {
        let err = load(None, &[("KEYGATE_BIND", "not-an-address")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("bind"), "{err}");
        let err = load(None, &[("KEYGATE_WORKERS", "many")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("workers"), "{err}");
        let err = load(None, &[("KEYGATE_OPERATOR_TOKEN", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("operator_token"), "{err}");
        let err = load(None, &[("KEYGATE_AUTH__ACCESS_TOKEN_TTL_SECONDS", "5")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("access_token_ttl_seconds"), "{err}");
        let err = load(None, &[("KEYGATE_LOG__FORMAT", "xml")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("format"), "{err}");
        for (var, value) in [
            ("KEYGATE_KEY_LOOKUPS__MAX_CONCURRENT", "0"),
            ("KEYGATE_KEY_LOOKUPS__MAX_CONCURRENT", "17"),
            ("KEYGATE_KEY_LOOKUPS__MAX_BATCH", "0"),
            ("KEYGATE_KEY_LOOKUPS__MAX_BATCH", "1001"),
            ("KEYGATE_KEY_CREATES__MAX_CONCURRENT", "0"),
            ("KEYGATE_KEY_CREATES__MAX_CONCURRENT", "17"),
            ("KEYGATE_KEY_CREATES__MAX_BATCH", "0"),
            ("KEYGATE_KEY_CREATES__MAX_BATCH", "1001"),
            ("KEYGATE_KEY_USAGE__LAST_USED_PRECISION_MILLIS", "86400001"),
        ] {
            let err = load(None, &[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
        load(None, &[("KEYGATE_KEY_LOOKUPS__MAX_CONCURRENT", "16")]).unwrap();
        load(None, &[("KEYGATE_KEY_CREATES__MAX_CONCURRENT", "16")]).unwrap();
        load(
            None,
            &[("KEYGATE_KEY_USAGE__LAST_USED_PRECISION_MILLIS", "0")],
        )
        .unwrap();
    }

    #[test]
    fn short_key_secrets_are_refused_naming_the_setting() {
        let short = "x".repeat(MIN_SECRET_KEY_BYTES - 1);
        let err = load(None, &[("KEYGATE_AUTH__PEPPER", &short)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.pepper"), "{err}");
        assert!(err.contains("KEYGATE_AUTH__PEPPER"), "{err}");
        assert!(
            !err.contains(&short),
            "the secret itself is never printed: {err}"
        );
        let err = load(None, &[("KEYGATE_AUTH__JWT_SECRET", &short)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.jwt_secret"), "{err}");

        let long = "x".repeat(MIN_SECRET_KEY_BYTES);
        let s = load(
            None,
            &[
                ("KEYGATE_AUTH__PEPPER", long.as_str()),
                ("KEYGATE_AUTH__JWT_SECRET", long.as_str()),
            ],
        )
        .unwrap()
        .settings;
        assert_eq!(s.auth.pepper.expose(), Some(long.as_str()));
        // Empty is "not set", which stays allowed.
        assert_eq!(
            load(None, &[("KEYGATE_AUTH__PEPPER", "")])
                .unwrap()
                .settings
                .auth
                .pepper
                .expose(),
            None
        );
    }

    #[test]
    fn rate_limits_load_with_their_defaults_and_proxies_from_a_list_or_text() {
        let defaults = keygate_http::rate_limits::RateLimitSettings::default();
        let s = load(None, &[]).unwrap().settings;
        assert_eq!(
            s.rate_limits.to_http().unwrap(),
            defaults,
            "default.toml and the code agree"
        );

        let s = load(
            None,
            &[(
                "KEYGATE_RATE_LIMITS__TRUSTED_PROXIES",
                "10.0.0.0/8, fd00::/8",
            )],
        )
        .unwrap()
        .settings;
        assert_eq!(
            s.rate_limits.trusted_proxies.entries(),
            ["10.0.0.0/8", "fd00::/8"]
        );
        let s = load(
            Some("[rate_limits]\ntrusted_proxies = [\"192.168.0.1\"]\nfailed_auth_burst = 0\n"),
            &[],
        )
        .unwrap()
        .settings;
        let limits = s.rate_limits.to_http().unwrap();
        assert_eq!(limits.failed_auth.burst, 0);
        assert_ne!(limits.trusted_proxies, defaults.trusted_proxies);

        let err = load(
            None,
            &[("KEYGATE_RATE_LIMITS__TRUSTED_PROXIES", "10.0.0.0/8,nowhere")],
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("rate_limits.trusted_proxies"), "{err}");
        assert!(err.contains("nowhere"), "{err}");
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let err = Settings::load_from(
            Some(Path::new("/nonexistent/keygate.toml")),
            &BTreeMap::new(),
            &FlagOverrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/keygate.toml"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s = load(
            None,
            &[("KEYGATE_OPERATOR_TOKEN", "operator-token-0123456789")],
        )
        .unwrap()
        .settings;
        let printed = format!("{s:?}");
        assert!(!printed.contains("operator-token-0123456789"), "{printed}");
        assert_eq!(s.operator_token.expose(), Some("operator-token-0123456789"));
    }

    #[test]
    fn public_url_prefers_the_setting() {
        let s = load(None, &[("KEYGATE_PUBLIC_URL", "https://keys.example.com/")])
            .unwrap()
            .settings;
        assert_eq!(s.public_url(), "https://keys.example.com");
        let s = load(None, &[("KEYGATE_BIND", "0.0.0.0:80")])
            .unwrap()
            .settings;
        assert_eq!(s.public_url(), "http://localhost:80");
    }

    #[test]
    fn limits_default_to_the_libraries_defaults_and_refuse_zero() {
        let limits = load(None, &[]).unwrap().settings.limits;
        let service = keygate_service::Limits::default();
        let body = keygate_http::request_body::BodyLimits::default();
        assert_eq!(limits.max_body_bytes, body.max_body_bytes);
        assert_eq!(limits.max_small_body_bytes, body.max_small_body_bytes);
        assert_eq!(limits.max_body_fields, body.max_body_fields);
        assert_eq!(limits.max_description_chars, service.max_description_chars);
        assert_eq!(
            limits.max_display_name_chars,
            service.max_display_name_chars
        );
        assert_eq!(limits.max_metadata_bytes, service.max_metadata_bytes);
        assert_eq!(
            limits.max_profile_image_url_chars,
            service.max_profile_image_url_chars
        );
        assert_eq!(limits.max_keys_per_owner, service.max_keys_per_owner);
        assert_eq!(
            limits.max_client_teams_per_user,
            service.max_client_teams_per_user
        );
        assert_eq!(limits.max_page_size, service.max_page_size);
        assert_eq!(
            limits.max_credentials_per_project,
            service.max_credentials_per_project
        );
        assert_eq!(
            limits.max_webhooks_per_project,
            service.max_webhooks_per_project
        );
        assert_eq!(
            limits.max_rotation_grace_millis,
            service.max_rotation_grace_millis
        );

        let changed = load(None, &[("KEYGATE_LIMITS__MAX_KEYS_PER_OWNER", "5")])
            .unwrap()
            .settings
            .limits;
        assert_eq!(changed.max_keys_per_owner, 5);
        let err = load(None, &[("KEYGATE_LIMITS__MAX_PAGE_SIZE", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("limits.max_page_size"), "{err}");
    }
}
