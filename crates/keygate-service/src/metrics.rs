//! The counters this node keeps for its metrics: check outcomes, cache hits, misses and
//! evictions, the cross-node listener's state.
//!
//! Key decision: plain atomics, no metrics crate. The service stays free of any exposition
//! format (keygate-http's collector reads these at scrape time), and the check path pays one
//! relaxed atomic increment per counter it moves: no lock, no allocation, no label lookup (the
//! label sets are the array indices of [`CheckOutcomes`]).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use keygate_domain::{CheckRejection, KeyType};
use keygate_storage::key_changes::KeyChangeEvent;

/// How one check of an API key ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The key is valid.
    Valid,
    /// Well-formed, but unknown, another project's, or a wrong secret.
    NotFound,
    /// Revoked.
    Revoked,
    /// Expired.
    Expired,
    /// A user key on the team route or the reverse.
    WrongType,
    /// Not a well-formed key at all (refused before any lookup).
    Malformed,
    /// Valid, but without a scope the check required.
    ScopeMissing,
    /// Valid, but over its rate limit.
    RateLimited,
    /// Valid, but without usage credits left.
    UsageExceeded,
}

impl CheckOutcome {
    /// Every outcome, in label order.
    pub const ALL: [CheckOutcome; 9] = [
        CheckOutcome::Valid,
        CheckOutcome::NotFound,
        CheckOutcome::Revoked,
        CheckOutcome::Expired,
        CheckOutcome::WrongType,
        CheckOutcome::Malformed,
        CheckOutcome::ScopeMissing,
        CheckOutcome::RateLimited,
        CheckOutcome::UsageExceeded,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Valid => "valid",
            CheckOutcome::NotFound => "not_found",
            CheckOutcome::Revoked => "revoked",
            CheckOutcome::Expired => "expired",
            CheckOutcome::WrongType => "wrong_type",
            CheckOutcome::Malformed => "malformed",
            CheckOutcome::ScopeMissing => "scope_missing",
            CheckOutcome::RateLimited => "rate_limited",
            CheckOutcome::UsageExceeded => "usage_exceeded",
        }
    }

    /// The outcome of a key the domain refused.
    pub fn of_rejection(rejection: &CheckRejection) -> Self {
        match rejection {
            CheckRejection::WrongType { .. } => CheckOutcome::WrongType,
            CheckRejection::Revoked => CheckOutcome::Revoked,
            CheckRejection::Expired => CheckOutcome::Expired,
        }
    }
}

/// The label value of a key type.
pub fn key_type_label(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::User => "user",
        KeyType::Team => "team",
    }
}

/// Checks by the route's key type and outcome.
#[derive(Debug, Default)]
pub struct CheckOutcomes {
    counts: [[AtomicU64; CheckOutcome::ALL.len()]; 2],
}

fn key_type_index(key_type: KeyType) -> usize {
    match key_type {
        KeyType::User => 0,
        KeyType::Team => 1,
    }
}

impl CheckOutcomes {
    /// Counts one check.
    pub fn record(&self, key_type: KeyType, outcome: CheckOutcome) {
        self.counts[key_type_index(key_type)][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many checks of `key_type` ended with `outcome`.
    pub fn get(&self, key_type: KeyType, outcome: CheckOutcome) -> u64 {
        self.counts[key_type_index(key_type)][outcome as usize].load(Ordering::Relaxed)
    }
}

/// A cache's lookups and capacity evictions.
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// A snapshot of [`CacheStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheCounts {
    /// Lookups the cache answered.
    pub hits: u64,
    /// Lookups that had to read the database.
    pub misses: u64,
    /// Entries dropped to stay within the cache's size bound (not TTL expiries, not
    /// invalidations).
    pub evictions: u64,
}

impl CacheStats {
    /// Counts a lookup the cache answered.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a lookup that reads the database.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an entry dropped for size.
    pub fn evicted(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// The cross-node listener's state, as the key-change events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerState {
    /// No listener runs (SQLite: one node, nothing to hear).
    NotRunning,
    /// Subscribed: other nodes' changes arrive.
    Listening,
    /// Not subscribed (before the first subscription, or the connection was lost).
    Down,
}

/// The listener's state, shared between the listener thread and the scrape.
#[derive(Debug)]
pub struct ListenerStatus(AtomicU8);

impl Default for ListenerStatus {
    fn default() -> Self {
        ListenerStatus(AtomicU8::new(ListenerState::NotRunning as u8))
    }
}

impl ListenerStatus {
    /// Sets the state.
    pub fn set(&self, state: ListenerState) {
        self.0.store(state as u8, Ordering::Relaxed);
    }

    /// Follows what the listener reports (connection-state events only).
    pub fn on_key_change(&self, event: &KeyChangeEvent) {
        match event {
            KeyChangeEvent::Listening => self.set(ListenerState::Listening),
            KeyChangeEvent::Lost => self.set(ListenerState::Down),
            KeyChangeEvent::Changed(_) | KeyChangeEvent::CredentialsChanged(_) => {}
        }
    }

    /// The current state.
    pub fn get(&self) -> ListenerState {
        match self.0.load(Ordering::Relaxed) {
            x if x == ListenerState::Listening as u8 => ListenerState::Listening,
            x if x == ListenerState::Down as u8 => ListenerState::Down,
            _ => ListenerState::NotRunning,
        }
    }
}

/// What this node's delivery worker did, since it started.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    emails_sent: AtomicU64,
    email_failures: AtomicU64,
    webhooks_delivered: AtomicU64,
    webhook_failures: AtomicU64,
}

impl DeliveryStats {
    /// Adds one pass's counts.
    pub fn record(&self, report: &crate::delivery::DeliveryReport) {
        let add = |counter: &AtomicU64, n: usize| {
            counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
        };
        add(&self.emails_sent, report.emails_sent);
        add(
            &self.email_failures,
            report.email_failures + report.emails_abandoned,
        );
        add(&self.webhooks_delivered, report.webhooks_delivered);
        add(&self.webhook_failures, report.webhook_failures);
    }

    /// E-mails accepted by the mail server.
    pub fn emails_sent(&self) -> u64 {
        self.emails_sent.load(Ordering::Relaxed)
    }

    /// Failed e-mail attempts (retried, given up, or abandoned mid-send).
    pub fn email_failures(&self) -> u64 {
        self.email_failures.load(Ordering::Relaxed)
    }

    /// Webhook deliveries accepted by their endpoint.
    pub fn webhooks_delivered(&self) -> u64 {
        self.webhooks_delivered.load(Ordering::Relaxed)
    }

    /// Failed webhook attempts (retried or given up).
    pub fn webhook_failures(&self) -> u64 {
        self.webhook_failures.load(Ordering::Relaxed)
    }
}

/// What the node counts outside its caches (the caches keep their own [`CacheStats`]).
#[derive(Debug, Default)]
pub struct ServiceMetrics {
    /// Checks by key type and outcome.
    pub check_outcomes: CheckOutcomes,
    /// The cross-node listener's state.
    pub listener: ListenerStatus,
    /// The delivery worker's counts.
    pub deliveries: DeliveryStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_per_key_type() {
        let outcomes = CheckOutcomes::default();
        outcomes.record(KeyType::User, CheckOutcome::Valid);
        outcomes.record(KeyType::User, CheckOutcome::Valid);
        outcomes.record(KeyType::Team, CheckOutcome::Malformed);
        assert_eq!(outcomes.get(KeyType::User, CheckOutcome::Valid), 2);
        assert_eq!(outcomes.get(KeyType::Team, CheckOutcome::Valid), 0);
        assert_eq!(outcomes.get(KeyType::Team, CheckOutcome::Malformed), 1);
        for (index, outcome) in CheckOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome as usize, index);
        }
    }

    #[test]
    fn the_listener_state_follows_its_events() {
        let status = ListenerStatus::default();
        assert_eq!(status.get(), ListenerState::NotRunning);
        status.set(ListenerState::Down);
        status.on_key_change(&KeyChangeEvent::Listening);
        assert_eq!(status.get(), ListenerState::Listening);
        status.on_key_change(&KeyChangeEvent::Changed(vec![]));
        assert_eq!(status.get(), ListenerState::Listening);
        status.on_key_change(&KeyChangeEvent::Lost);
        assert_eq!(status.get(), ListenerState::Down);
    }
}
