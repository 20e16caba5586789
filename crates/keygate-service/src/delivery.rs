//! Delivering what keygate owes: the outbox's e-mails over SMTP (`lettre`), webhook events
//! over HTTP (`reqwest`), and the expiry warnings that feed both.
//!
//! **Key decisions.**
//! * **Claimed, sent, recorded.** A pass ([`Service::deliver_due`]) claims due rows in a short
//!   transaction (`FOR UPDATE SKIP LOCKED` on Postgres, so nodes sharing a database never claim
//!   the same row), sends each with no transaction open, and records the outcome: sent, a retry
//!   after an exponential backoff (`retry_base × 2^(attempt−1)`, at most an hour), or failed
//!   after `max_attempts` or a permanent refusal (an SMTP 5xx). The outcome, the attempt count
//!   and the last error are on the row, and failures are counted for metrics.
//! * **E-mails at most once, webhooks at least once.** A claim whose lease ran out with no
//!   outcome (the node stopped mid-send) may or may not have been sent: an e-mail is then marked
//!   failed and never sent again (a recipient is never told twice), a webhook is sent again
//!   with the same `webhook-id`, which receivers deduplicate by (Standard Webhooks).
//! * **A thread of its own.** [`DeliveryWorker`] runs passes every `poll_interval` on a
//!   dedicated thread with blocking clients, so neither the HTTP workers nor the blocking pool
//!   wait on a slow mail server or receiver; every send has a timeout below the lease.
//! * **Expiry warnings** ([`Service::queue_expiry_warnings`]): keys that expire within the
//!   warning window get an e-mail to their owners and a `*.expiring` event, once each (dedupe
//!   keys), however many nodes scan.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keygate_domain::{ApiKey, EpochMillis};
use keygate_storage::repo::api_keys;
use keygate_storage::repo::notification_outbox::{self, NoticeOutcome, NotificationRecord};
use keygate_storage::repo::webhooks::{self, ClaimedDelivery, DeliveryOutcome};
use keygate_storage::StorageError;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport};

use crate::api_keys::key_change;
use crate::audit::KeyEvent;
use crate::error::ServiceError;
use crate::key_notices::{write_notices, KeyNotice};
use crate::webhooks::{enqueue, key_event_data, WebhookSecrets};
use crate::Service;

/// How deliveries are made; the binary reads them from `[notifications]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// The SMTP server (`smtp://host:port`, `smtps://user:password@host`, `…?tls=required`);
    /// `None` keeps e-mails in the outbox.
    pub smtp_url: Option<String>,
    /// The sender of e-mails, e.g. `keygate <keygate@example.com>`.
    pub from: String,
    /// Attempts per e-mail or webhook delivery before it is given up.
    pub max_attempts: u32,
    /// The wait before the second attempt; doubled for each further one, at most an hour.
    pub retry_base: Duration,
    /// How long one send may take (connect, TLS, SMTP dialogue or HTTP request and answer).
    pub send_timeout: Duration,
    /// How far ahead of its expiry a key's owners are warned; `None` warns nobody.
    pub expiry_warning: Option<Duration>,
    /// Rows claimed per pass and kind.
    pub batch: u32,
}

impl DeliverySettings {
    /// The longest backoff between two attempts.
    pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60 * 60);

    /// How long a claim holds a row: beyond every send's timeout, so no live send outlasts it.
    fn lease(&self) -> Duration {
        self.send_timeout * 2 + Duration::from_secs(30)
    }

    /// When the attempt after attempt `attempt` (1 for the first) is due, or `None` when that
    /// was the last one.
    pub fn retry_at(&self, attempt: u32, now: EpochMillis) -> Option<EpochMillis> {
        if attempt >= self.max_attempts {
            return None;
        }
        let factor = 1_u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let delay = self
            .retry_base
            .saturating_mul(factor)
            .min(Self::MAX_RETRY_DELAY);
        Some(now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)))
    }
}

/// Settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeliverySetupError {
    /// The SMTP URL is not one lettre understands.
    #[error("notifications.smtp_url is not a usable SMTP URL: {0}")]
    SmtpUrl(String),
    /// The sender is not an e-mail address.
    #[error(
        "notifications.from is not an e-mail address (e.g. `keygate <keygate@example.com>`): {0}"
    )]
    From(String),
    /// The HTTP client could not be built.
    #[error("could not set up the webhook HTTP client: {0}")]
    Http(String),
}

/// The clients one node delivers with. Build it on the thread that uses it (the blocking HTTP
/// client must not be dropped inside an async runtime).
pub struct Deliverer {
    mailer: Option<SmtpTransport>,
    from: Mailbox,
    http: reqwest::blocking::Client,
    settings: DeliverySettings,
}

impl fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The SMTP URL may hold a password: never shown.
        f.debug_struct("Deliverer")
            .field("smtp", &self.mailer.is_some())
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// Clients for `settings`.
    ///
    /// # Errors
    /// An SMTP URL or sender that cannot be used, or an HTTP client that cannot be built.
    pub fn new(settings: DeliverySettings) -> Result<Self, DeliverySetupError> {
        let from: Mailbox =
            settings
                .from
                .parse()
                .map_err(|error: lettre::address::AddressError| {
                    DeliverySetupError::From(error.to_string())
                })?;
        let mailer = match &settings.smtp_url {
            Some(url) => Some(
                SmtpTransport::from_url(url)
                    // Only the error kind: the URL may hold a password.
                    .map_err(|error| DeliverySetupError::SmtpUrl(error.to_string()))?
                    .timeout(Some(settings.send_timeout))
                    .build(),
            ),
            None => None,
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(settings.send_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keygate-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| DeliverySetupError::Http(error.to_string()))?;
        Ok(Deliverer {
            mailer,
            from,
            http,
            settings,
        })
    }

    /// The settings these clients deliver by.
    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }

    /// Sends one notice; `Err((permanent, reason))` when it was not accepted.
    fn send_email(
        &self,
        mailer: &SmtpTransport,
        notice: &NotificationRecord,
    ) -> Result<(), (bool, String)> {
        let to: Mailbox = notice
            .recipient_email
            .parse()
            .map_err(|error| (true, format!("not an e-mail address: {error}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(notice.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                notice.body_text.clone(),
                notice.body_html.clone(),
            ))
            .map_err(|error| (true, format!("could not build the message: {error}")))?;
        mailer
            .send(&message)
            .map(|_| ())
            .map_err(|error| (error.is_permanent(), error.to_string()))
    }

    /// POSTs one delivery, signed; `Ok(status)` for a 2xx, else the status (if one came) and why.
    fn post_webhook(
        &self,
        secrets: &WebhookSecrets,
        claimed: &ClaimedDelivery,
        now: EpochMillis,
    ) -> Result<u16, (Option<u16>, String)> {
        let delivery = &claimed.delivery;
        let timestamp = now.div_euclid(1000);
        let signature = secrets.signature(
            delivery.endpoint_id,
            &delivery.id,
            timestamp,
            &delivery.payload,
        );
        let response = self
            .http
            .post(&claimed.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            // Without the URL: it may carry a token of the receiver's.
            .map_err(|error| (None, error.without_url().to_string()))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            Err((Some(status), format!("the endpoint answered HTTP {status}")))
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// E-mails the mail server accepted.
    pub emails_sent: usize,
    /// E-mail attempts that failed (retried or given up).
    pub email_failures: usize,
    /// E-mails whose earlier claim ran out with no outcome, marked failed (never resent).
    pub emails_abandoned: usize,
    /// Webhook deliveries an endpoint accepted.
    pub webhooks_delivered: usize,
    /// Webhook attempts that failed (retried or given up).
    pub webhook_failures: usize,
}

impl Service {
    /// One delivery pass on the calling thread (it blocks): due e-mails (when an SMTP server is
    /// set), then due webhook deliveries, each claimed, sent and recorded.
    pub fn deliver_due(&self, deliverer: &Deliverer) -> Result<DeliveryReport, ServiceError> {
        let settings = deliverer.settings();
        let lease = i64::try_from(settings.lease().as_millis()).unwrap_or(i64::MAX);
        let mut report = DeliveryReport::default();
        let mut conn = self.database().get()?;
        if let Some(mailer) = &deliverer.mailer {
            let due = notification_outbox::claim_due(&mut conn, self.now(), lease, settings.batch)?;
            report.emails_abandoned = due.abandoned;
            for claimed in due.claimed {
                let outcome = match deliverer.send_email(mailer, &claimed.notice) {
                    Ok(()) => NoticeOutcome::Sent,
                    Err((permanent, error)) => {
                        match (permanent, settings.retry_at(claimed.attempt, self.now())) {
                            (false, Some(at)) => NoticeOutcome::RetryAt { at, error },
                            _ => NoticeOutcome::Failed { error },
                        }
                    }
                };
                match &outcome {
                    NoticeOutcome::Sent => report.emails_sent += 1,
                    NoticeOutcome::RetryAt { error, .. } | NoticeOutcome::Failed { error } => {
                        report.email_failures += 1;
                        tracing::warn!(
                            notice_id = %claimed.notice.id,
                            attempt = claimed.attempt,
                            given_up = matches!(outcome, NoticeOutcome::Failed { .. }),
                            %error,
                            "could not deliver a notice"
                        );
                    }
                }
                notification_outbox::record_outcome(
                    &mut conn,
                    claimed.notice.id,
                    &outcome,
                    self.now(),
                )?;
            }
        }
        let due = webhooks::claim_due_deliveries(&mut conn, self.now(), lease, settings.batch)?;
        for claimed in due {
            let attempt = claimed.delivery.attempts;
            let outcome = match deliverer.post_webhook(self.webhook_secrets(), &claimed, self.now())
            {
                Ok(status) => DeliveryOutcome::Delivered { status },
                Err((status, error)) => match settings.retry_at(attempt, self.now()) {
                    Some(at) => DeliveryOutcome::RetryAt { at, status, error },
                    None => DeliveryOutcome::Failed { status, error },
                },
            };
            match &outcome {
                DeliveryOutcome::Delivered { .. } => report.webhooks_delivered += 1,
                DeliveryOutcome::RetryAt { error, .. } | DeliveryOutcome::Failed { error, .. } => {
                    report.webhook_failures += 1;
                    tracing::warn!(
                        delivery_id = %claimed.delivery.id,
                        endpoint_id = %claimed.delivery.endpoint_id,
                        attempt,
                        given_up = matches!(outcome, DeliveryOutcome::Failed { .. }),
                        %error,
                        "could not deliver a webhook event"
                    );
                }
            }
            webhooks::record_delivery_outcome(
                &mut conn,
                &claimed.delivery.id,
                &outcome,
                self.now(),
            )?;
        }
        let stats = &self.metrics().deliveries;
        stats.record(&report);
        Ok(report)
    }

    /// Queues an e-mail to the owners of every key that expires within `within` (and is not
    /// revoked) and a `*.expiring` webhook event, once per key and recipient or endpoint, on the
    /// calling thread (it blocks). Returns how many keys were looked at.
    pub fn queue_expiry_warnings(&self, within: Duration) -> Result<usize, ServiceError> {
        const PAGE: u32 = 1_000;
        let now = self.now();
        let until = now.saturating_add(i64::try_from(within.as_millis()).unwrap_or(i64::MAX));
        let mut conn = self.database().get()?;
        let mut from = now;
        let mut seen = 0;
        loop {
            let keys = api_keys::list_expiring_between(&mut conn, from, until, PAGE)?;
            seen += keys.len();
            for key in keys.iter().filter(|key| !key.lifetime().is_revoked()) {
                conn.in_transaction(|conn| warn_expiring(conn, key, now))?;
            }
            match keys.last() {
                Some(last) if keys.len() == PAGE as usize => {
                    from = last.expires_at_millis.unwrap_or(until);
                }
                _ => return Ok(seen),
            }
        }
    }
}

/// Queues the expiry e-mails and webhook event of `key` (each deduplicated).
fn warn_expiring(
    conn: &mut keygate_storage::DbConnection,
    key: &ApiKey,
    now: EpochMillis,
) -> Result<(), StorageError> {
    write_notices(conn, key, KeyNotice::Expiring, now)?;
    let event_type = match key.key_type() {
        keygate_domain::KeyType::User => "user_api_key.expiring",
        keygate_domain::KeyType::Team => "team_api_key.expiring",
    };
    let change = key_change(key, KeyEvent::Created);
    let data = key_event_data(&key.id.to_string(), &change.metadata);
    enqueue(
        conn,
        key.project_id,
        event_type,
        &format!("expiring/{}", key.id),
        data,
        now,
    )?;
    Ok(())
}

/// How often the worker scans for keys about to expire.
const EXPIRY_SCAN_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Runs delivery passes on a thread of its own until stopped.
pub struct DeliveryWorker {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for DeliveryWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryWorker")
            .field(
                "running",
                &self.thread.as_ref().is_some_and(|t| !t.is_finished()),
            )
            .finish()
    }
}

impl DeliveryWorker {
    /// Starts a pass every `poll_interval` (and an expiry scan every five minutes) with the
    /// clients `make_deliverer` builds on the worker's thread.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(
        service: Service,
        deliverer: Deliverer,
        poll_interval: Duration,
    ) -> std::io::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let stopping = Arc::clone(&stopping);
            std::thread::Builder::new()
                .name("keygate-delivery".to_owned())
                .spawn(move || {
                    let mut last_scan: Option<Instant> = None;
                    while !stopping.load(Ordering::SeqCst) {
                        if let Some(within) = deliverer.settings().expiry_warning {
                            if last_scan.is_none_or(|at| at.elapsed() >= EXPIRY_SCAN_INTERVAL) {
                                last_scan = Some(Instant::now());
                                if let Err(error) = service.queue_expiry_warnings(within) {
                                    tracing::warn!(%error, "could not queue expiry warnings; retrying later");
                                }
                            }
                        }
                        if let Err(error) = service.deliver_due(&deliverer) {
                            tracing::warn!(%error, "a delivery pass failed; retrying");
                        }
                        sleep_unless_stopping(&stopping, poll_interval);
                    }
                })?
        };
        Ok(DeliveryWorker {
            stopping,
            thread: Some(thread),
        })
    }

    /// Stops the worker after its current pass.
    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sleeps up to `duration`, waking early when `stopping` is set.
fn sleep_unless_stopping(stopping: &AtomicBool, duration: Duration) {
    let deadline = Instant::now() + duration;
    while !stopping.load(Ordering::SeqCst) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeliverySettings {
        DeliverySettings {
            smtp_url: None,
            from: "keygate <keygate@example.com>".to_owned(),
            max_attempts: 4,
            retry_base: Duration::from_secs(30),
            send_timeout: Duration::from_secs(10),
            expiry_warning: None,
            batch: 10,
        }
    }

    #[test]
    fn retries_back_off_exponentially_and_stop_after_the_last_attempt() {
        let settings = settings();
        assert_eq!(settings.retry_at(1, 0), Some(30_000));
        assert_eq!(settings.retry_at(2, 0), Some(60_000));
        assert_eq!(settings.retry_at(3, 1_000), Some(121_000));
        assert_eq!(settings.retry_at(4, 0), None, "four attempts in all");
        let patient = DeliverySettings {
            max_attempts: 100,
            ..settings
        };
        assert_eq!(patient.retry_at(40, 0), Some(3_600_000), "at most an hour");
    }

    #[test]
    fn bad_settings_are_named_and_the_url_is_never_echoed() {
        let bad_from = DeliverySettings {
            from: "nobody".to_owned(),
            ..settings()
        };
        assert!(matches!(
            Deliverer::new(bad_from),
            Err(DeliverySetupError::From(_))
        ));
        let bad_url = DeliverySettings {
            smtp_url: Some("gopher://user:hunter2@mail".to_owned()),
            ..settings()
        };
        let error = Deliverer::new(bad_url).unwrap_err().to_string();
        assert!(error.contains("notifications.smtp_url"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
