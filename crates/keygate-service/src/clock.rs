//! Where "now" comes from: one clock for the whole server.
//!
//! Every instant keygate stores or compares is epoch milliseconds read from Rust (never from
//! SQL), so SQLite and Postgres behave the same. Use cases read it through [`Clock`], which
//! tests replace to move time and check expiry at exact instants.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use keygate_domain::EpochMillis;

/// The clock a [`Service`](crate::Service) reads; the system clock in production.
pub type Clock = Arc<dyn Fn() -> EpochMillis + Send + Sync>;

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(now_millis)
}

/// The system's current time in epoch milliseconds (for code that runs outside a service, such
/// as the CLI and start-up).
pub fn now_millis() -> EpochMillis {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => EpochMillis::try_from(since.as_millis()).unwrap_or(EpochMillis::MAX),
        // A clock set before 1970: negative milliseconds.
        Err(before) => {
            -EpochMillis::try_from(before.duration().as_millis()).unwrap_or(EpochMillis::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_epoch_milliseconds() {
        let now = (system_clock())();
        // 2020-01-01 … 2200-01-01.
        assert!(
            (1_577_836_800_000..7_258_118_400_000).contains(&now),
            "{now}"
        );
    }
}
