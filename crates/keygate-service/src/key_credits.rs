//! Usage credits on the check path: a key with `remaining_uses` spends `cost` (1 by default) on
//! every successful check and is refused at 0 — **never overspent**, whatever the number of
//! nodes, and without a database write per check.
//!
//! **Leases.** A node spends from credits it leased: when its lease of a key cannot pay a
//! check, it takes a block ([`CreditSettings::lease_block`], or the check's cost if larger) out
//! of the stored count in one short transaction that locks the key's row
//! (`api_keys::lock_credits`), so two nodes never take the same credits, and no credit is ever
//! spent that was not taken out of the stored count first. A lease belongs to one refill period
//! ([`UsageCredits::period_start`]): when the period changes, what is left of it is void (the
//! refill sets the count back to the amount) and the next check leases from the new period.
//!
//! **Nothing is lost for long.** Credits leased and not spent are given back to the stored
//! count once the lease has been idle for [`CreditSettings::lease_idle`], and at graceful
//! shutdown ([`KeyCredits::return_idle`], called by the key-policy sync thread). A node that
//! dies holding a lease loses what was left of it (at most one block per key): never spending
//! a credit twice comes first. Until a lease comes back, other nodes see the key as having that
//! many fewer credits; the key object shows the stored count plus this node's unspent lease.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use keygate_domain::{ApiKeyId, EpochMillis, UsageCredits};
use keygate_storage::repo::api_keys;
use keygate_storage::{DbConnection, StorageError};

use crate::error::{Refusal, ServiceError};
use crate::Service;

/// How credits are leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditSettings {
    /// Credits a node takes at once (at least the check's cost).
    pub lease_block: i64,
    /// How long an unused lease stays before its credits are given back.
    pub lease_idle: Duration,
}

impl Default for CreditSettings {
    /// 10 credits at a time, given back after 2 seconds unused.
    fn default() -> Self {
        CreditSettings {
            lease_block: 10,
            lease_idle: Duration::from_secs(2),
        }
    }
}

/// What this node holds of one key's credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lease {
    /// The refill period the credits belong to.
    period: EpochMillis,
    /// Leased and not spent.
    left: i64,
    /// The stored count right after the last lease (for the check's answer).
    stored_after_lease: i64,
    /// When a check last spent from it.
    used_at: EpochMillis,
}

/// This node's leases; shared by every worker.
pub struct KeyCredits {
    settings: CreditSettings,
    leases: Mutex<HashMap<ApiKeyId, Lease>>,
    /// One lease transaction at a time per key on this node: the checks that find the lease
    /// empty wait for the one that is taking the next (a burst of checks is one round trip, and
    /// no check is refused while credits it could spend are on their way).
    leasing: Mutex<HashMap<ApiKeyId, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for KeyCredits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCredits")
            .field("settings", &self.settings)
            .field("leases", &self.lock().len())
            .finish()
    }
}

impl KeyCredits {
    /// No leases yet.
    pub fn new(settings: CreditSettings) -> Self {
        KeyCredits {
            settings,
            leases: Mutex::default(),
            leasing: Mutex::default(),
        }
    }

    /// The lock that one lease transaction of `id` at a time holds on this node.
    fn leasing_lock(&self, id: ApiKeyId) -> Arc<tokio::sync::Mutex<()>> {
        let mut leasing = crate::locks::lock(&self.leasing);
        // Locks nobody holds or waits for are dropped, so the map stays as small as the keys
        // being leased right now.
        leasing.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(leasing.entry(id).or_default())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ApiKeyId, Lease>> {
        crate::locks::lock(&self.leases)
    }

    /// Spends `cost` from this node's lease of `id` in `period`, if it can pay; returns the
    /// credits left as this node knows them.
    fn spend_leased(
        &self,
        id: ApiKeyId,
        period: EpochMillis,
        cost: i64,
        now: EpochMillis,
    ) -> Option<i64> {
        let mut leases = self.lock();
        let lease = leases.get_mut(&id).filter(|lease| lease.period == period)?;
        if lease.left < cost {
            return None;
        }
        lease.left -= cost;
        lease.used_at = now;
        Some(lease.left + lease.stored_after_lease)
    }

    /// What this node leased of `id` in `period` and has not spent.
    pub fn unspent(&self, id: ApiKeyId, period: EpochMillis) -> i64 {
        self.lock()
            .get(&id)
            .filter(|lease| lease.period == period)
            .map_or(0, |lease| lease.left)
    }

    /// `usage` as this node shows it at `now`: refreshed, plus what it leased and has not spent.
    pub fn shown(&self, id: ApiKeyId, usage: UsageCredits, now: EpochMillis) -> UsageCredits {
        let current = usage.refreshed(now);
        UsageCredits {
            remaining_uses: current.remaining_uses + self.unspent(id, current.refilled_at_millis),
            ..current
        }
    }

    /// Adds `granted` credits of `period` to the lease of `id` (what was left of another period
    /// is void).
    fn add_lease(
        &self,
        id: ApiKeyId,
        period: EpochMillis,
        granted: i64,
        stored_after: i64,
        now: EpochMillis,
    ) {
        let mut leases = self.lock();
        let lease = leases.entry(id).or_insert(Lease {
            period,
            left: 0,
            stored_after_lease: stored_after,
            used_at: now,
        });
        if lease.period != period {
            lease.period = period;
            lease.left = 0;
        }
        lease.left += granted;
        lease.stored_after_lease = stored_after;
        lease.used_at = now;
    }

    /// Gives back the credits of leases unused for `lease_idle` (every lease with `all`, at
    /// shutdown) to the stored counts; returns how many credits went back. A lease whose period
    /// is over is dropped (the refill replaced it). On failure the leases are kept.
    pub fn return_idle(
        &self,
        service: &Service,
        now: EpochMillis,
        all: bool,
    ) -> Result<i64, StorageError> {
        let idle_millis = i64::try_from(self.settings.lease_idle.as_millis()).unwrap_or(i64::MAX);
        self.give_back_where(service, now, |_, lease| {
            all || now.saturating_sub(lease.used_at) >= idle_millis
        })
    }

    /// Gives back this node's lease of `id` (before its credits move to a rotated key).
    pub fn give_back_key(
        &self,
        service: &Service,
        id: ApiKeyId,
        now: EpochMillis,
    ) -> Result<i64, StorageError> {
        self.give_back_where(service, now, |leased, _| *leased == id)
    }

    /// Gives back the leases `selected` picks; on failure they are kept.
    fn give_back_where(
        &self,
        service: &Service,
        now: EpochMillis,
        selected: impl Fn(&ApiKeyId, &Lease) -> bool,
    ) -> Result<i64, StorageError> {
        let idle: Vec<(ApiKeyId, Lease)> = {
            let mut leases = self.lock();
            let ids: Vec<ApiKeyId> = leases
                .iter()
                .filter(|(id, lease)| selected(id, lease))
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| Some((id, leases.remove(&id)?)))
                .collect()
        };
        let returning: Vec<&(ApiKeyId, Lease)> =
            idle.iter().filter(|(_, lease)| lease.left > 0).collect();
        if returning.is_empty() {
            return Ok(0);
        }
        let returned = service.database().get().and_then(|mut conn| {
            conn.in_transaction(|conn| {
                let mut returned = 0;
                for (id, lease) in &returning {
                    returned += give_back(conn, *id, lease, now)?;
                }
                Ok(returned)
            })
        });
        if returned.is_err() {
            // Not given back: still this node's to spend.
            for (id, lease) in returning {
                self.add_lease(*id, lease.period, lease.left, lease.stored_after_lease, now);
            }
        }
        returned
    }
}

/// Adds what is left of `lease` back to the stored count of `id`, if the count is still in the
/// lease's period; returns how many credits went back.
fn give_back(
    conn: &mut DbConnection,
    id: ApiKeyId,
    lease: &Lease,
    now: EpochMillis,
) -> Result<i64, StorageError> {
    let stored = match api_keys::lock_credits(conn, id) {
        Ok(Some(stored)) => stored.refreshed(now),
        // The key or its credits are gone: nothing to give back to.
        Ok(None) | Err(StorageError::NotFound { .. }) => return Ok(0),
        Err(other) => return Err(other),
    };
    if stored.refilled_at_millis != lease.period {
        return Ok(0);
    }
    let remaining = stored
        .remaining_uses
        .saturating_add(lease.left)
        .min(UsageCredits::MAX_REMAINING);
    api_keys::set_credits(conn, id, remaining, stored.refilled_at_millis)?;
    Ok(lease.left)
}

/// What a lease transaction found: the credits granted (0: not enough left), the period they
/// belong to, and the stored count afterwards.
struct Grant {
    granted: i64,
    period: EpochMillis,
    stored_after: i64,
}

/// Takes `want` credits of `id` out of the stored count (refilled first if a period started),
/// or as many as are left if at least `need` are; none if fewer than `need` are left.
fn lease(
    conn: &mut DbConnection,
    id: ApiKeyId,
    need: i64,
    want: i64,
    now: EpochMillis,
) -> Result<Option<Grant>, StorageError> {
    conn.in_transaction(|conn| {
        let Some(stored) = api_keys::lock_credits(conn, id)? else {
            return Ok(None);
        };
        let current = stored.refreshed(now);
        let granted = if current.remaining_uses >= need {
            want.min(current.remaining_uses)
        } else {
            0
        };
        let stored_after = current.remaining_uses - granted;
        if current != stored || granted > 0 {
            api_keys::set_credits(conn, id, stored_after, current.refilled_at_millis)?;
        }
        Ok(Some(Grant {
            granted,
            period: current.refilled_at_millis,
            stored_after,
        }))
    })
}

impl Service {
    /// Spends `cost` credits of the key `id` (whose stored credits, as cached, are `usage`) for a
    /// check at `now`: from this node's lease, else from a new one. Returns the credits left as
    /// this node knows them; refuses with `API_KEY_USAGE_EXCEEDED` when fewer than `cost` are
    /// left. A cost of 0 spends nothing and is never refused.
    pub(crate) async fn spend_credits(
        &self,
        id: ApiKeyId,
        usage: UsageCredits,
        cost: i64,
        now: EpochMillis,
    ) -> Result<i64, ServiceError> {
        let credits = self.key_credits();
        // The cached row's period anchor may be older than the stored one, but periods are
        // counted from the same origin, so both give the same period.
        let period = usage.period_start(now);
        if cost == 0 {
            // Nothing to spend: what this node knows (its lease, else the cached row).
            return Ok(credits
                .spend_leased(id, period, 0, now)
                .unwrap_or_else(|| credits.shown(id, usage, now).remaining_uses));
        }
        if let Some(left) = credits.spend_leased(id, period, cost, now) {
            return Ok(left);
        }
        let leasing = credits.leasing_lock(id);
        let _leasing = leasing.lock().await;
        // The check that held the lock before may have leased enough for this one too.
        if let Some(left) = credits.spend_leased(id, period, cost, now) {
            return Ok(left);
        }
        let need = cost - credits.unspent(id, period);
        let want = need.max(credits.settings.lease_block);
        let grant = self
            .run(move |_, conn| Ok(lease(conn, id, need, want, now)?))
            .await?;
        if let Some(grant) = grant.filter(|grant| grant.granted > 0) {
            credits.add_lease(id, grant.period, grant.granted, grant.stored_after, now);
        }
        credits
            .spend_leased(id, period, cost, now)
            .ok_or_else(|| Refusal::ApiKeyUsageExceeded.into())
    }
}
