//! `keygate serve`: open (and migrate) the database, settle the access-token secret, bind, run
//! the first start, follow other nodes' key changes (Postgres), and serve until SIGINT or
//! SIGTERM; keys' last uses are written in the background and once more after the last request.
//!
//! Shutdown is graceful on both signals (actix on its own stops abruptly on SIGINT): the
//! listener closes at once, requests in flight get `shutdown_timeout_seconds` to finish, then
//! the process exits with status 0.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use keygate_http::access_token::AccessTokenSigner;
use keygate_http::metrics::MetricsExposure;
use keygate_http::request_body::BodyLimits;
use keygate_http::server::{self, ServerOptions};
use keygate_http::ui::{DemoLinkAnnouncer, DemoSignIn, UiSettings};
use keygate_http::{AppConfig, AppState};
use keygate_service::audit::AuditSettings;
use keygate_service::batch_queue::BatchSettings;
use keygate_service::check_cache::CheckCacheSettings;
use keygate_service::clock::{now_millis, system_clock};
use keygate_service::delivery::{Deliverer, DeliveryWorker};
use keygate_service::key_change_feed::KeyChangeFeedSettings;
use keygate_service::key_credits::CreditSettings;
use keygate_service::key_rate_limits::KeyPolicySync;
use keygate_service::key_usage::{UsageFlusher, DEFAULT_FLUSH_INTERVAL};
use keygate_service::metrics::ListenerState;
use keygate_service::project_auth_cache::ProjectAuthCacheSettings;
use keygate_service::{Limits, Service};
use keygate_storage::key_changes;
use keygate_storage::Backend;

use crate::first_start;
use crate::runtime::{access_token_secret, key_hasher, open_database, webhook_secrets};
use crate::settings::{DemoSignInSetting, Settings};

/// Runs the server until a shutdown signal.
pub fn serve(settings: Settings) -> anyhow::Result<()> {
    let database = open_database(&settings, settings.database.max_connections)?;
    let hasher = key_hasher(&settings);
    let secret = access_token_secret(&settings, &database, now_millis())?;
    let lifetime = Duration::from_secs(settings.auth.access_token_ttl_seconds);
    let access_tokens = AccessTokenSigner::new(&secret)
        .with_lifetime(lifetime)
        .map_err(|_| {
            anyhow::anyhow!("setting auth.access_token_ttl_seconds is out of range: {lifetime:?}")
        })?;

    let listener = TcpListener::bind(settings.bind)
        .with_context(|| format!("could not listen on {} (setting bind)", settings.bind))?;
    let bound = listener.local_addr()?;
    // Links printed from here on name the port actually bound (`--bind 127.0.0.1:0`).
    let effective = Settings {
        bind: bound,
        ..settings.clone()
    };
    let base_url = effective.public_url();

    if let Some(first) = first_start::run(&database, &hasher, now_millis())
        .context("could not create the default project on first start")?
    {
        // Printed, never logged: this is the only place the keys ever appear.
        println!("{}", first_start::banner(&first, &base_url));
    }

    let operator_token = settings.operator_token.expose().map(str::to_owned);
    if operator_token.is_none() {
        tracing::info!(
            "no operator token is set (KEYGATE_OPERATOR_TOKEN): the operator endpoints refuse every request; manage projects with `keygate project …`"
        );
    }
    let database_for_secrets = database.clone();
    let state = AppState::new(AppConfig {
        database,
        hasher,
        access_tokens,
        operator_token,
        clock: system_clock(),
    })
    .with_check_cache(CheckCacheSettings {
        max_bytes: settings.check_cache.max_bytes,
        max_unknown: settings.check_cache.max_unknown,
        unknown_ttl: Duration::from_millis(settings.check_cache.unknown_ttl_millis),
        row_ttl: Duration::from_millis(settings.check_cache.row_ttl_millis),
    })
    .with_key_lookup_settings(BatchSettings {
        max_concurrent: settings.key_lookups.max_concurrent,
        max_batch: settings.key_lookups.max_batch,
    })
    .with_key_create_settings(BatchSettings {
        max_concurrent: settings.key_creates.max_concurrent,
        max_batch: settings.key_creates.max_batch,
    })
    .with_key_change_feed(KeyChangeFeedSettings {
        max_subscribers: settings.key_change_feed.max_subscribers,
        buffer: settings.key_change_feed.buffer,
        heartbeat: Duration::from_millis(settings.key_change_feed.heartbeat_millis),
    })
    .with_credit_settings(CreditSettings {
        lease_block: settings.key_policies.credit_lease_block,
        lease_idle: Duration::from_millis(settings.key_policies.credit_lease_idle_millis),
    })
    .with_last_used_precision(Duration::from_millis(
        settings.key_usage.last_used_precision_millis,
    ))
    .with_project_auth_cache(ProjectAuthCacheSettings {
        // A zero TTL means "off": nothing is kept at all.
        max_entries: if settings.project_auth_cache.ttl_millis == 0 {
            0
        } else {
            settings.project_auth_cache.max_entries
        },
        ttl: Duration::from_millis(settings.project_auth_cache.ttl_millis),
    })
    .with_ui(UiSettings {
        demo_sign_in: match settings.ui.demo_sign_in {
            DemoSignInSetting::Auto => DemoSignIn::Auto,
            DemoSignInSetting::Enabled => DemoSignIn::Enabled,
            DemoSignInSetting::Disabled => DemoSignIn::Disabled,
        },
        bind: Some(bound),
        public_url: Some(base_url.clone()),
        demo_link_announcer: Some(DemoLinkAnnouncer::new(print_demo_link)),
    })
    .with_limits(
        Limits {
            max_description_chars: settings.limits.max_description_chars,
            max_display_name_chars: settings.limits.max_display_name_chars,
            max_metadata_bytes: settings.limits.max_metadata_bytes,
            max_profile_image_url_chars: settings.limits.max_profile_image_url_chars,
            max_keys_per_owner: settings.limits.max_keys_per_owner,
            max_client_teams_per_user: settings.limits.max_client_teams_per_user,
            max_page_size: settings.limits.max_page_size,
            max_credentials_per_project: settings.limits.max_credentials_per_project,
            max_webhooks_per_project: settings.limits.max_webhooks_per_project,
            max_rotation_grace_millis: settings.limits.max_rotation_grace_millis,
        },
        BodyLimits {
            max_body_bytes: settings.limits.max_body_bytes,
            max_small_body_bytes: settings.limits.max_small_body_bytes,
            max_body_fields: settings.limits.max_body_fields,
        },
    )
    .with_rate_limits(&settings.rate_limits.to_http()?)
    .with_refresh_token_rotation(settings.refresh_tokens.rotation)
    .with_webhook_secrets(webhook_secrets(
        &settings,
        &database_for_secrets,
        now_millis(),
    )?);
    // Built here, outside the async runtime: its blocking HTTP client must live on plain threads.
    let deliverer = Deliverer::new(settings.notifications.delivery())?;
    if settings.notifications.smtp_url.expose().is_none() {
        tracing::info!(
            "no SMTP server is set (KEYGATE_NOTIFICATIONS__SMTP_URL): e-mails wait in the outbox; webhooks are delivered"
        );
    }
    let (state, metrics_listener) = metrics(state, &settings)?;
    follow_key_changes(&state, &settings);
    // The first one-time link (each use prints the next); none when the demo sign-in is off.
    state.ui().issue_demo_link();

    actix_web::rt::System::new().block_on(run_http(
        state,
        deliverer,
        listener,
        metrics_listener,
        &base_url,
        &settings,
    ))
}

/// Turns metrics on as `[metrics]` says; with `metrics.bind`, binds their own listener (before
/// serving, so a taken port stops start-up with a message naming the setting).
fn metrics(
    state: AppState,
    settings: &Settings,
) -> anyhow::Result<(AppState, Option<TcpListener>)> {
    match settings.metrics.exposure()? {
        None => Ok((state, None)),
        Some(None) => Ok((state.with_metrics(MetricsExposure::Public), None)),
        Some(Some(address)) => {
            let listener = TcpListener::bind(address)
                .with_context(|| format!("could not listen on {address} (setting metrics.bind)"))?;
            Ok((
                state.with_metrics(MetricsExposure::Separate),
                Some(listener),
            ))
        }
    }
}

/// Shows a one-time demo sign-in link to the operator: printed on standard output like the
/// first start's keys, never logged (it is a secret that signs a browser in).
fn print_demo_link(link: &str) {
    println!("see the API keys UI as a demo user: open {link} (works once; a new link is printed after each use)");
    let _ = std::io::stdout().flush();
}

/// On Postgres, other nodes may change keys: the check cache is trusted only while a listener
/// hears their announcements (`keygate_storage::key_changes`); until it has subscribed, and
/// whenever its connection is lost, every check reads the database. SQLite has one node.
fn follow_key_changes(state: &AppState, settings: &Settings) {
    if state.service().database().backend() != Backend::Postgres {
        return;
    }
    let cache = Arc::clone(state.check_cache());
    let project_auth_cache = Arc::clone(state.project_auth_cache());
    let service_metrics = Arc::clone(state.service().metrics());
    let feed = Arc::clone(state.service().key_change_feed());
    cache.set_trusted(false);
    feed.set_following(false);
    service_metrics.listener.set(ListenerState::Down);
    match key_changes::spawn_listener(&settings.database_url, move |event| {
        // The listener's state, for the metrics' `keygate_key_change_listener_up`.
        service_metrics.listener.on_key_change(&event);
        // Credentials revoked on other nodes (or by the CLI) stop opening projects here at once.
        project_auth_cache.on_key_change(&event);
        // Protected services' clients hear what this node hears, or are told to stop trusting.
        feed.on_key_change(&event);
        cache.on_key_change(event);
    }) {
        // The listener runs on its own thread for the life of the process.
        Ok(_listener) => {}
        Err(error) => tracing::warn!(
            %error,
            "cannot listen for other nodes' key changes: the check cache stays off"
        ),
    }
}

/// How many threads each HTTP worker may use for database work (`web::block`), from
/// `database.blocking_threads` (for the whole node; 0 chooses by backend).
///
/// SQLite work is CPU-bound, so more threads than workers only add hand-offs and context
/// switches: one per worker served 40% more cache-missing checks than actix's default of 512
/// (docs/benchmarks.md). Postgres work mostly waits on the network, so there is one thread per
/// pooled connection, and none waits for a connection the pool does not have.
fn blocking_threads_per_worker(settings: &Settings, backend: Backend, workers: usize) -> usize {
    let total = match settings.database.blocking_threads {
        0 => match backend {
            Backend::Sqlite => workers,
            Backend::Postgres => settings.database.max_connections as usize,
        },
        threads => threads,
    };
    total.div_ceil(workers.max(1)).max(1)
}

/// How often the audit log is pruned to its retention.
const AUDIT_PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Deletes audit events past `settings.retention_days` now and every
/// [`AUDIT_PRUNE_INTERVAL`]; a failure is logged and retried at the next turn.
async fn prune_audit_log(service: Service, settings: AuditSettings) {
    let mut every = actix_web::rt::time::interval(AUDIT_PRUNE_INTERVAL);
    loop {
        every.tick().await;
        match service.prune_audit_log(settings).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(
                deleted,
                retention_days = settings.retention_days,
                "deleted audit events past their retention"
            ),
            Err(error) => {
                tracing::warn!(%error, "could not prune the audit log; retrying in an hour")
            }
        }
    }
}

async fn run_http(
    state: AppState,
    deliverer: Deliverer,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    base_url: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    let bound = listener.local_addr()?;
    let usage = UsageFlusher::start(
        Arc::clone(state.key_usage()),
        state.service().database().clone(),
        DEFAULT_FLUSH_INTERVAL,
    );
    let key_policy_sync = KeyPolicySync::start(
        state.service().clone(),
        Duration::from_millis(settings.key_policies.rate_limit_sync_millis),
    )
    .context("could not start the key-policy sync")?;
    let workers = if settings.workers > 0 {
        settings.workers
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    let options = ServerOptions {
        workers,
        worker_max_blocking_threads: blocking_threads_per_worker(
            settings,
            state.service().database().backend(),
            workers,
        ),
        shutdown_timeout_seconds: settings.shutdown_timeout_seconds,
    };
    // keygate-http's server is actix-web's `HttpServer` plus the conventions on the answers
    // actix-http's parser writes itself.
    let metrics_bound = match &metrics_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let server = server::serve_with_metrics(
        listener,
        metrics_listener,
        state.clone(),
        options,
        shutdown_signal(),
    )
    .with_context(|| format!("could not serve on {bound}"))?;

    let delivery = DeliveryWorker::start(
        state.service().clone(),
        deliverer,
        Duration::from_millis(settings.notifications.poll_interval_millis),
    )
    .context("could not start the delivery worker")?;
    let pruning = actix_web::rt::spawn(prune_audit_log(
        state.service().clone(),
        AuditSettings {
            retention_days: settings.audit.retention_days,
        },
    ));

    println!("listening on http://{bound}");
    if let Some(address) = metrics_bound {
        println!("metrics on http://{address}/metrics");
    }
    std::io::stdout().flush()?;
    tracing::info!(address = %bound, public_url = base_url, "keygate is listening");

    let served = server.await.context("the HTTP server failed");
    pruning.abort();
    delivery.stop();
    if let Err(error) = key_policy_sync.stop() {
        tracing::warn!(%error, "could not write the last rate-limit counts or give back the leased usage credits at shutdown");
    }
    // After the last request: nothing recorded as a key's last use is lost at shutdown.
    match usage.stop() {
        Ok(written) => tracing::debug!(keys = written, "recorded when API keys were last used"),
        Err(error) => {
            tracing::error!(%error, "could not record when API keys were last used at shutdown");
        }
    }
    served?;
    tracing::info!("keygate stopped");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "could not listen for SIGINT");
            std::future::pending::<()>().await;
        }
        "SIGINT"
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
        "SIGTERM"
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&str>();
    let received = tokio::select! {
        name = interrupt => name,
        name = terminate => name,
    };
    tracing::info!(
        signal = received,
        "shutting down: no new connections; requests in flight may finish"
    );
}

#[cfg(test)]
mod tests {

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_env_pairs(pairs)
    }

    #[test]
    fn database_threads_follow_the_backend_unless_set() {
        let automatic = settings(&[("KEYGATE_DATABASE__MAX_CONNECTIONS", "16")]);
        // SQLite: one per worker.
        assert_eq!(
            blocking_threads_per_worker(&automatic, Backend::Sqlite, 2),
            1
        );
        assert_eq!(
            blocking_threads_per_worker(&automatic, Backend::Sqlite, 8),
            1
        );
        // Postgres: the pool's connections, shared out over the workers (rounded up).
        assert_eq!(
            blocking_threads_per_worker(&automatic, Backend::Postgres, 2),
            8
        );
        assert_eq!(
            blocking_threads_per_worker(&automatic, Backend::Postgres, 3),
            6
        );
        assert_eq!(
            blocking_threads_per_worker(&automatic, Backend::Postgres, 32),
            1
        );

        let set = settings(&[("KEYGATE_DATABASE__BLOCKING_THREADS", "10")]);
        assert_eq!(blocking_threads_per_worker(&set, Backend::Sqlite, 2), 5);
        assert_eq!(blocking_threads_per_worker(&set, Backend::Postgres, 4), 3);
    }
}
