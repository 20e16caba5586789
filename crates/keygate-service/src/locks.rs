//! Locking the node's in-memory maps (key usage, rate-limit counts, credit leases).
//!
//! **Key decision:** a panic while a lock is held cannot leave any of these maps inconsistent
//! (each update is a single insert or arithmetic step), so a poisoned lock is taken as it is
//! instead of failing every later check.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, whether or not a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
