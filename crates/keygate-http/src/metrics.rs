//! Prometheus metrics: every answer counted and timed (by `wire_conventions`, which sees each
//! final status), and the rendering of everything the node counts in the OpenMetrics text
//! format for `GET /metrics` (`routes::metrics`).
//!
//! Key decisions:
//! - **The exposition format is `prometheus-client`'s** (the Prometheus project's own Rust
//!   client: no global registry, OpenMetrics text). Nothing is hand-formatted here; every
//!   metric is written through its `Collector` API at scrape time.
//! - **The hot path only touches atomics.** Requests are stored per (route, status) as atomic
//!   bucket counters (`prometheus-client`'s `Histogram` takes a write lock per observation);
//!   finding them takes two shared reads of a sharded map (`DashMap`), no allocation once a
//!   pair has been seen. The route label is the matched route *pattern*, never the path (whose values are
//!   unbounded): the check routes are named by their pattern, so `match_name` borrows it;
//!   other routes pay one short `String` for `match_pattern`. Requests no route matched are
//!   `"unmatched"`; errors and panics that escaped every handler, `"escaped"`; past
//!   [`MAX_ROUTES`] patterns, `"other"`.
//! - **The service's counters are read, not copied**: check outcomes, cache hits, the
//!   listener's state, the pool and the last-used flusher are sampled when scraped; the outbox
//!   backlog is one bounded query per scrape on the blocking pool.
//! - `/metrics` is unauthenticated: it is off unless `metrics.enabled`, and `metrics.bind`
//!   serves it on a private listener instead of the public one.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpRequest;
use dashmap::DashMap;
use keygate_domain::KeyType;
use keygate_service::metrics::{key_type_label, CacheCounts, CheckOutcome, ListenerState};
use keygate_service::Service;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets, in seconds: sub-millisecond cached checks up to
/// multi-second slow requests.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The route label of an error or panic that escaped every handler (its request, and so its
/// route, went with it).
pub const ESCAPED_ROUTE: &str = "escaped";

/// Distinct route labels kept at most (keygate has far fewer routes; a guard, not a limit).
pub const MAX_ROUTES: usize = 256;

/// Pending outbox rows counted at most per scrape.
pub const OUTBOX_BACKLOG_CAP: u32 = 10_000;

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsExposure {
    /// On the public listener, with the API.
    Public,
    /// Only on a listener of its own (`metrics.bind`).
    Separate,
}

/// Count and latency of the answers of one (route, status).
#[derive(Debug)]
struct LatencyStats {
    /// Answers per bucket (not cumulative; the last one is `+Inf`).
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyStats {
    fn new() -> Self {
        LatencyStats {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, seconds: f64, nanos: u64) {
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// One route's answers by status.
#[derive(Debug)]
struct RouteStats {
    by_status: DashMap<u16, Arc<LatencyStats>>,
}

/// What the HTTP layer counts (the service's counters are sampled when scraped).
pub struct Metrics {
    routes: DashMap<Box<str>, Arc<RouteStats>>,
    exposure: MetricsExposure,
    started: Instant,
}

/// One scrape: the request counts, the service to sample, the outbox backlog read for it.
#[derive(Debug)]
struct Scrape {
    metrics: Arc<Metrics>,
    service: Service,
    /// `None`: it could not be read.
    outbox_backlog: Option<u32>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("routes", &self.routes.len())
            .field("exposure", &self.exposure)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Empty metrics, served as `exposure` says.
    pub fn new(exposure: MetricsExposure) -> Self {
        Metrics {
            routes: DashMap::new(),
            exposure,
            started: Instant::now(),
        }
    }

    /// Where `/metrics` is served.
    pub fn exposure(&self) -> MetricsExposure {
        self.exposure
    }

    /// Counts one answer to `request` (after routing) with `status`, begun at `started`: by its
    /// route's name (the check routes are named by their pattern), else its route pattern, else
    /// `"unmatched"`.
    pub fn observe_request(&self, request: &HttpRequest, status: u16, started: Instant) {
        match request.match_name() {
            Some(route) => self.observe(route, status, started),
            None => match request.match_pattern() {
                Some(route) => self.observe(&route, status, started),
                None => self.observe("unmatched", status, started),
            },
        }
    }

    /// Counts one answer under the route label `route` (for answers whose request is gone).
    pub fn observe_route(&self, route: &'static str, status: u16, started: Instant) {
        self.observe(route, status, started);
    }

    fn observe(&self, route: &str, status: u16, started: Instant) {
        let elapsed = started.elapsed();
        let (seconds, nanos) = (
            elapsed.as_secs_f64(),
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        );
        // The common case: a pair seen before, counted under two shared map reads, no
        // allocation and no reference-count traffic.
        if let Some(route_stats) = self.routes.get(route) {
            if let Some(stats) = route_stats.by_status.get(&status) {
                stats.observe(seconds, nanos);
                return;
            }
        }
        self.first_of_pair(route, status).observe(seconds, nanos);
    }

    /// The stats of a (route, status) pair not seen before (or being added concurrently).
    fn first_of_pair(&self, route: &str, status: u16) -> Arc<LatencyStats> {
        let route_stats = match self.routes.get(route) {
            Some(found) => Arc::clone(&found),
            None => {
                let label = if self.routes.len() >= MAX_ROUTES {
                    "other"
                } else {
                    route
                };
                Arc::clone(&self.routes.entry(label.into()).or_insert_with(|| {
                    Arc::new(RouteStats {
                        by_status: DashMap::new(),
                    })
                }))
            }
        };
        let stats = Arc::clone(
            &route_stats
                .by_status
                .entry(status)
                .or_insert_with(|| Arc::new(LatencyStats::new())),
        );
        stats
    }

    /// Renders every metric of this node (OpenMetrics text), sampling `service` (the outbox
    /// backlog with one bounded query).
    pub async fn render(self: &Arc<Self>, service: &Service) -> String {
        let outbox_backlog = match service.outbox_backlog(OUTBOX_BACKLOG_CAP).await {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::warn!(%error, "could not count the outbox backlog for metrics");
                None
            }
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape {
            metrics: Arc::clone(self),
            service: service.clone(),
            outbox_backlog,
        }));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

/// Writes one metric without labels.
fn single(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> fmt::Result {
    let metric_encoder = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(metric_encoder)
}

/// Writes one cache's hits, misses, evictions and entries.
fn cache(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    what: &str,
    counts: CacheCounts,
    entries: i64,
) -> fmt::Result {
    let rows = [
        ("hits", "lookups answered by", counts.hits),
        (
            "misses",
            "lookups that read the database past",
            counts.misses,
        ),
        (
            "evictions",
            "entries dropped to stay within the size bound of",
            counts.evictions,
        ),
    ];
    for (suffix, help, value) in rows {
        single(
            encoder,
            &format!("keygate_{name}_{suffix}"),
            &format!("{help} {what}"),
            &ConstCounter::new(value),
        )?;
    }
    single(
        encoder,
        &format!("keygate_{name}_entries"),
        &format!("entries held by {what} (approximate)"),
        &ConstGauge::new(entries),
    )
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        // Requests, by route and status.
        {
            let mut metric = encoder.encode_descriptor(
                "keygate_http_request_duration_seconds",
                "time to answer HTTP requests, by matched route pattern and status",
                None,
                MetricType::Histogram,
            )?;
            for route in self.metrics.routes.iter() {
                for status in route.by_status.iter() {
                    let stats = status.value();
                    // Per-bucket counts: the encoder writes them cumulatively.
                    let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                        .iter()
                        .copied()
                        .chain(std::iter::once(f64::MAX))
                        .zip(&stats.buckets)
                        .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
                        .collect();
                    let count = buckets.iter().map(|(_, count)| count).sum();
                    let status_code = status.key().to_string();
                    let labels = [
                        ("route", route.key().as_ref()),
                        ("status", status_code.as_str()),
                    ];
                    let sum = stats.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
                    metric
                        .encode_family(&labels)?
                        .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
                }
            }
        }

        // Check outcomes, by the route's key type.
        {
            let outcomes = &self.service.metrics().check_outcomes;
            let mut metric = encoder.encode_descriptor(
                "keygate_api_key_checks",
                "API-key checks by the route's key type and outcome",
                None,
                MetricType::Counter,
            )?;
            for key_type in [KeyType::User, KeyType::Team] {
                for outcome in CheckOutcome::ALL {
                    let labels = [
                        ("key_type", key_type_label(key_type)),
                        ("outcome", outcome.as_str()),
                    ];
                    ConstCounter::new(outcomes.get(key_type, outcome))
                        .encode(metric.encode_family(&labels)?)?;
                }
            }
        }

        // Caches.
        let check_cache = self.service.check_cache();
        let (rows, unknown) = check_cache.entry_counts_estimate();
        cache(
            &mut encoder,
            "check_cache",
            "the check cache (key rows and unknown ids)",
            check_cache.counts(),
            i64::try_from(rows + unknown).unwrap_or(i64::MAX),
        )?;
        let project_auth = self.service.project_auth_cache();
        cache(
            &mut encoder,
            "project_auth_cache",
            "the project-authentication cache",
            project_auth.counts(),
            i64::try_from(project_auth.entry_count_estimate()).unwrap_or(i64::MAX),
        )?;

        // The connection pool.
        let pool = self.service.database().pool_status();
        let in_use = i64::from(pool.connections.saturating_sub(pool.idle_connections));
        let pool_rows: [(&str, &str, &dyn EncodeMetric); 7] = [
            (
                "keygate_db_pool_connections_in_use",
                "pooled database connections checked out now",
                &ConstGauge::new(in_use),
            ),
            (
                "keygate_db_pool_connections_idle",
                "pooled database connections idle now",
                &ConstGauge::new(i64::from(pool.idle_connections)),
            ),
            (
                "keygate_db_pool_max_connections",
                "the pool's size (database.max_connections)",
                &ConstGauge::new(i64::from(pool.max_size)),
            ),
            (
                "keygate_db_pool_checkouts",
                "connections checked out of the pool",
                &ConstCounter::new(pool.checkouts),
            ),
            (
                "keygate_db_pool_slow_checkouts",
                "checkouts that waited 5 ms or more for a connection",
                &ConstCounter::new(pool.slow_checkouts),
            ),
            (
                "keygate_db_pool_checkout_wait_seconds",
                "time checkouts spent waiting for a connection",
                &ConstCounter::new(pool.checkout_wait_micros as f64 / 1e6),
            ),
            (
                "keygate_db_pool_checkout_timeouts",
                "checkouts that gave up waiting (the request failed)",
                &ConstCounter::new(pool.timeouts),
            ),
        ];
        for (name, help, metric) in pool_rows {
            let metric_encoder =
                encoder.encode_descriptor(name, help, None, metric.metric_type())?;
            metric.encode(metric_encoder)?;
        }

        // The cross-node listener (Postgres only).
        let listening = match self.service.metrics().listener.get() {
            ListenerState::NotRunning => None,
            ListenerState::Listening => Some(1),
            ListenerState::Down => Some(0),
        };
        if let Some(up) = listening {
            single(
                &mut encoder,
                "keygate_key_change_listener_up",
                "1 while the cross-node key-change listener is subscribed, else 0 (the check cache is off)",
                &ConstGauge::new(up),
            )?;
        }

        // The outbox.
        if let Some(backlog) = self.outbox_backlog {
            single(
                &mut encoder,
                "keygate_outbox_backlog",
                "notices not sent yet (counted up to 10000)",
                &ConstGauge::new(i64::from(backlog)),
            )?;
        }
        let deliveries = &self.service.metrics().deliveries;
        single(
            &mut encoder,
            "keygate_outbox_delivery_failures",
            "e-mail delivery attempts that failed (retried, given up, or abandoned mid-send)",
            &ConstCounter::new(deliveries.email_failures()),
        )?;
        single(
            &mut encoder,
            "keygate_outbox_sent",
            "e-mails the mail server accepted",
            &ConstCounter::new(deliveries.emails_sent()),
        )?;
        single(
            &mut encoder,
            "keygate_webhook_delivery_failures",
            "webhook delivery attempts that failed (retried or given up)",
            &ConstCounter::new(deliveries.webhook_failures()),
        )?;
        single(
            &mut encoder,
            "keygate_webhooks_delivered",
            "webhook deliveries their endpoint accepted (2xx)",
            &ConstCounter::new(deliveries.webhooks_delivered()),
        )?;

        // Last-used instants.
        let usage = self.service.key_usage();
        single(
            &mut encoder,
            "keygate_key_usage_flush_lag_seconds",
            "seconds since last-used instants were last written to the database",
            &ConstGauge::new(usage.since_last_flush().as_secs_f64()),
        )?;
        single(
            &mut encoder,
            "keygate_key_usage_pending",
            "keys whose last-used instant waits to be written",
            &ConstGauge::new(i64::try_from(usage.pending_count()).unwrap_or(i64::MAX)),
        )?;
        single(
            &mut encoder,
            "keygate_key_usage_flush_failures",
            "writes of last-used instants that failed (retried)",
            &ConstCounter::new(usage.failed_flushes()),
        )?;
        single(
            &mut encoder,
            "keygate_uptime_seconds",
            "seconds since these metrics started",
            &ConstGauge::new(self.metrics.started.elapsed().as_secs_f64()),
        )
    }
}

#[cfg(test)]
mod tests;
