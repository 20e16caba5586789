//! The guard both in-process caches use so that a database read older than an invalidation is
//! never stored: every invalidation advances a `Generation`, a reader takes a [`CacheTicket`]
//! before it reads, and stores what it read only while its ticket is still current.

use std::sync::atomic::{AtomicU64, Ordering};

/// Taken before a database read whose result may be cached; see `Generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTicket(u64);

/// Counts a cache's invalidations.
#[derive(Debug, Default)]
pub(crate) struct Generation(AtomicU64);

impl Generation {
    /// The ticket of a read that starts now.
    pub(crate) fn ticket(&self) -> CacheTicket {
        CacheTicket(self.0.load(Ordering::SeqCst))
    }

    /// Called before entries are removed: reads in flight may no longer be stored.
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether nothing was invalidated since `ticket` was taken.
    pub(crate) fn is_current(&self, ticket: CacheTicket) -> bool {
        self.ticket() == ticket
    }
}
