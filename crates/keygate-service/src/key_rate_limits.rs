//! Per-key rate limits on the check path: at most `limit` successful checks of a key in each
//! window of `window_millis` (the key's [`RateLimit`]), with no database write per check.
//!
//! **One node is exact.** Each node counts the checks it admitted per key in the current window
//! ([`KeyRateLimiter::admit`]); windows are aligned to the epoch ([`RateLimit::window_at`]), so a
//! count needs no start-up and every node agrees on which window a check falls in.
//!
//! **Several nodes share the limit.** A [`KeyPolicySync`] thread writes this node's counts every
//! `sync_interval` (one batched upsert of the keys whose count moved, `key_rate_counts`) and
//! reads, for every window it is counting, what the other nodes admitted and how many of them
//! did. Between two syncs a node admits at most its **fair share** of what was left at the last
//! one: `(limit − everyone's count) / (nodes counting this key)`, where the node count is the
//! larger of this window's and the previous window's (so a node knows its peers from the first
//! check of a new window). With steady load on every node the window admits exactly the limit;
//! a node alone on a key gets the whole limit (its share of what is left grows at every sync).
//! What a node reads at a sync is up to one interval old, so a node may take one more share of
//! a remainder the others already used: measured on two saturated nodes, a window admits 1.2 to
//! 1.25 × the limit (`docs/benchmarks.md`; the test asserts at most 1.5 ×). Nodes that did not
//! check the key in the previous window do not know of each other until their first sync, so
//! the hard bound is `n × limit`. Usage credits, which must never be overspent, are leased from
//! the database instead.
//!
//! A node's entries are dropped once their window is over; the stored counts are pruned a
//! minute after theirs.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keygate_domain::{ApiKeyId, EpochMillis, RateLimit};
use keygate_storage::repo::key_rate_counts::{self, WindowCount};
use keygate_storage::StorageError;
use uuid::Uuid;

use crate::Service;

/// How long the stored counts of a window are kept after it ended.
const KEEP_ENDED_MILLIS: EpochMillis = 60_000;

/// How often the sync thread prunes the stored counts.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// What a check of a rate-limited key was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateVerdict {
    /// Whether the check may pass.
    pub allowed: bool,
    /// The key's limit per window.
    pub limit: i64,
    /// Checks left in this window after this one (0 when refused).
    pub remaining: i64,
    /// When the window ends and the count starts over.
    pub reset_at_millis: EpochMillis,
    /// How long until then, from the check.
    pub reset_after_millis: i64,
    /// The window's length.
    pub window_millis: i64,
}

/// One key's current window on this node.
#[derive(Debug, Clone, Copy)]
struct KeyWindow {
    start: EpochMillis,
    end: EpochMillis,
    /// Checks this node admitted in the window.
    mine: i64,
    /// `mine` as last written to the database.
    written: i64,
    /// What the other nodes had admitted in the window, as of the last sync.
    others: i64,
    /// `mine` at the last sync: the share counts from there.
    mine_at_sync: i64,
    /// Other nodes that counted this key in this window, as of the last sync.
    peers: u32,
    /// Other nodes that counted it in the previous window.
    previous_peers: u32,
}

impl KeyWindow {
    fn new(start: EpochMillis, end: EpochMillis, previous_peers: u32) -> Self {
        KeyWindow {
            start,
            end,
            mine: 0,
            written: 0,
            others: 0,
            mine_at_sync: 0,
            peers: 0,
            previous_peers,
        }
    }

    /// Whether one more check fits: within the limit as far as this node knows, and within its
    /// share of what was left at the last sync.
    fn admits(&self, limit: i64) -> bool {
        let nodes = i64::from(self.peers.max(self.previous_peers)) + 1;
        let left_at_sync = limit - self.mine_at_sync - self.others;
        // Rounded up, so that a share is never 0 while something is left.
        let share = (left_at_sync + nodes - 1) / nodes;
        self.mine + self.others < limit && self.mine - self.mine_at_sync < share
    }
}

/// This node's counts; shared by every worker.
pub struct KeyRateLimiter {
    node_id: String,
    windows: Mutex<HashMap<ApiKeyId, KeyWindow>>,
}

impl fmt::Debug for KeyRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRateLimiter")
            .field("node_id", &self.node_id)
            .field("windows", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Default for KeyRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyRateLimiter {
    /// An empty limiter with a node id of its own.
    pub fn new() -> Self {
        KeyRateLimiter {
            node_id: Uuid::new_v4().to_string(),
            windows: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ApiKeyId, KeyWindow>> {
        crate::locks::lock(&self.windows)
    }

    /// Counts a check of key `id` under `rate` at `now`, unless the window is used up.
    pub fn admit(&self, id: ApiKeyId, rate: RateLimit, now: EpochMillis) -> RateVerdict {
        let (start, end) = rate.window_at(now);
        let mut windows = self.lock();
        let window = windows
            .entry(id)
            .or_insert_with(|| KeyWindow::new(start, end, 0));
        if window.start != start {
            // A new window (or a limit whose length changed): the count starts over; the peers
            // of the window before are expected again.
            let previous_peers = if start == window.end { window.peers } else { 0 };
            *window = KeyWindow::new(start, end, previous_peers);
        }
        let allowed = window.admits(rate.limit);
        if allowed {
            window.mine += 1;
        }
        RateVerdict {
            allowed,
            limit: rate.limit,
            // A refused check has nothing left to it until the window ends (its node's share is
            // spent, even if the others' may not be).
            remaining: if allowed {
                (rate.limit - window.mine - window.others).max(0)
            } else {
                0
            },
            reset_at_millis: end,
            reset_after_millis: end - now,
            window_millis: rate.window_millis,
        }
    }

    /// Takes back a check [`KeyRateLimiter::admit`] counted at `now` (one refused after the
    /// rate limit, for want of usage credits): it did not happen.
    pub fn refund(&self, id: ApiKeyId, rate: RateLimit, now: EpochMillis) {
        let (start, _) = rate.window_at(now);
        if let Some(window) = self.lock().get_mut(&id) {
            if window.start == start && window.mine > 0 {
                window.mine -= 1;
            }
        }
    }

    /// One exchange with the other nodes at `now`: forgets the windows that are over (keeping
    /// the peers a key had, for its next window), writes the counts that moved since the last
    /// sync and reads the others' counts of every window this node is counting. On failure
    /// nothing is lost: the counts are written next time.
    pub fn sync(&self, service: &Service, now: EpochMillis) -> Result<(), StorageError> {
        let (moved, counting) = {
            let mut windows = self.lock();
            // A window over long enough that its key's next one is over too is forgotten.
            windows.retain(|_, window| window.end.saturating_add(window.end - window.start) > now);
            let moved: Vec<WindowCount> = windows
                .iter()
                .filter(|(_, window)| window.mine != window.written && window.end > now)
                .map(|(id, window)| WindowCount {
                    api_key_id: *id,
                    window_start_millis: window.start,
                    window_end_millis: window.end,
                    checks: window.mine,
                })
                .collect();
            let counting: Vec<(ApiKeyId, EpochMillis)> = windows
                .iter()
                .filter(|(_, window)| window.end > now)
                .map(|(id, window)| (*id, window.start))
                .collect();
            (moved, counting)
        };
        if counting.is_empty() {
            return Ok(());
        }
        let exchanged = service.database().get().and_then(|mut conn| {
            key_rate_counts::record(&mut conn, &self.node_id, &moved)?;
            key_rate_counts::others(&mut conn, &self.node_id, &counting)
        });
        let others = exchanged?;
        let mut windows = self.lock();
        for count in &moved {
            if let Some(window) = windows.get_mut(&count.api_key_id) {
                if window.start == count.window_start_millis {
                    window.written = window.written.max(count.checks);
                }
            }
        }
        let mine_then: HashMap<ApiKeyId, i64> = moved
            .iter()
            .map(|count| (count.api_key_id, count.checks))
            .collect();
        for (id, start) in counting {
            if let Some(window) = windows.get_mut(&id) {
                if window.start == start {
                    let seen = others.get(&(id, start)).copied().unwrap_or_default();
                    window.others = seen.checks;
                    window.peers = seen.nodes;
                    // The share counts from what this node had when it asked (checks admitted
                    // while the sync ran come out of the new share).
                    window.mine_at_sync = mine_then.get(&id).copied().unwrap_or(window.written);
                }
            }
        }
        Ok(())
    }
}

/// The thread that keeps a node's key policies in step with the other nodes: every interval it
/// runs [`KeyRateLimiter::sync`] and gives back idle leases of usage credits
/// ([`KeyCredits::return_idle`](crate::key_credits::KeyCredits::return_idle)), and now and then
/// prunes the stored counts of windows long over. [`KeyPolicySync::stop`] writes the last counts
/// and gives back every lease.
pub struct KeyPolicySync {
    service: Service,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for KeyPolicySync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPolicySync").finish_non_exhaustive()
    }
}

impl KeyPolicySync {
    /// Starts syncing `service`'s rate limits and credit leases every `interval`.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub fn start(service: Service, interval: Duration) -> std::io::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (service, stopping) = (service.clone(), Arc::clone(&stopping));
            std::thread::Builder::new()
                .name("keygate-key-policies".to_owned())
                .spawn(move || {
                    let mut pruned = Instant::now();
                    while !stopping.load(Ordering::SeqCst) {
                        std::thread::sleep(interval);
                        let now = service.now();
                        if let Err(error) = service.key_rate_limiter().sync(&service, now) {
                            tracing::warn!(%error, "could not exchange rate-limit counts with the other nodes; will retry");
                        }
                        if let Err(error) = service.key_credits().return_idle(&service, now, false) {
                            tracing::warn!(%error, "could not give back idle leases of usage credits; will retry");
                        }
                        if pruned.elapsed() >= PRUNE_EVERY {
                            pruned = Instant::now();
                            let before = now.saturating_sub(KEEP_ENDED_MILLIS);
                            let deleted = service
                                .database()
                                .get()
                                .and_then(|mut conn| key_rate_counts::prune(&mut conn, before));
                            if let Err(error) = deleted {
                                tracing::warn!(%error, "could not prune the stored rate-limit counts; will retry");
                            }
                        }
                    }
                })?
        };
        Ok(KeyPolicySync {
            service,
            stopping,
            thread: Some(thread),
        })
    }

    /// Stops the thread, writes the counts that moved since the last sync and gives back every
    /// lease of usage credits (graceful shutdown).
    pub fn stop(mut self) -> Result<(), StorageError> {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let now = self.service.now();
        let synced = self.service.key_rate_limiter().sync(&self.service, now);
        self.service
            .key_credits()
            .return_idle(&self.service, now, true)?;
        synced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_admits_exactly_the_limit_per_window() {
        let limiter = KeyRateLimiter::new();
        let rate = RateLimit::new(3, 1_000).unwrap();
        let (key, other) = (ApiKeyId::new_random(), ApiKeyId::new_random());
        let verdicts: Vec<RateVerdict> = (0..5)
            .map(|n| limiter.admit(key, rate, 5_000 + n))
            .collect();
        let allowed: Vec<bool> = verdicts.iter().map(|v| v.allowed).collect();
        assert_eq!(allowed, [true, true, true, false, false]);
        let remaining: Vec<i64> = verdicts.iter().map(|v| v.remaining).collect();
        assert_eq!(remaining, [2, 1, 0, 0, 0]);
        assert!(verdicts
            .iter()
            .all(|v| v.reset_at_millis == 6_000 && v.limit == 3));
        // Another key has its own count; the next window starts over.
        assert!(limiter.admit(other, rate, 5_999).allowed);
        let next = limiter.admit(key, rate, 6_000);
        assert!(next.allowed);
        assert_eq!((next.remaining, next.reset_at_millis), (2, 7_000));
    }

    #[test]
    fn between_syncs_a_node_admits_its_share_of_what_was_left() {
        // 100 per window; at the last sync this node had 10, two other nodes 30 together.
        let mut window = KeyWindow::new(0, 1_000, 0);
        window.mine = 10;
        window.mine_at_sync = 10;
        window.others = 30;
        window.peers = 2;
        // 60 were left for three nodes: 20 each before the next sync.
        let mut admitted = 0;
        while window.admits(100) {
            window.mine += 1;
            admitted += 1;
        }
        assert_eq!(admitted, 20);
        // Peers of the previous window count from the first check of a new one.
        let mut fresh = KeyWindow::new(1_000, 2_000, 1);
        let mut first_share = 0;
        while fresh.admits(9) {
            fresh.mine += 1;
            first_share += 1;
        }
        assert_eq!(first_share, 5, "half of 9, rounded up");
        // Alone, a node's share is everything left.
        let mut alone = KeyWindow::new(0, 1_000, 0);
        alone.mine = 99;
        alone.mine_at_sync = 40;
        assert!(alone.admits(100));
        alone.mine = 100;
        assert!(!alone.admits(100));
    }
}
