//! Telling a pooled connection that died while idle from a failure of the work itself, so that
//! work which found its connection dead is run again on a live one instead of failing.
//!
//! **Key decision:** connections are not probed on checkout (a probe is a second round trip on
//! every database call). Instead every connection counts, per thread, the statements that
//! completed ([`StatementTally`], Diesel's connection instrumentation). When work fails because
//! the connection is gone (Postgres `ClosedConnection` or `UnableToSendCommand`) and not one of
//! its statements completed, the connection died before the work reached the server: nothing
//! ran, so [`crate::Database::with_connection`] runs the work once more on a connection that is
//! proven alive. Work that lost its connection after a statement completed is never repeated
//! (a write may have committed); its caller gets the error, as when the server dies mid-request.

use std::cell::Cell;

use diesel::connection::{Instrumentation, InstrumentationEvent};

use crate::error::StorageError;

thread_local! {
    /// Statements completed without error on this thread, over all connections.
    static COMPLETED_STATEMENTS: Cell<u64> = const { Cell::new(0) };
}

/// How many statements have completed on this thread so far: compared before and after a
/// piece of work, it tells whether any of the work's statements reached the database.
pub(crate) fn completed_statements() -> u64 {
    COMPLETED_STATEMENTS.with(Cell::get)
}

/// Errors that can say whether the database connection was lost under them (implemented by
/// [`StorageError`] and by the error types of the layers above, which wrap it).
pub trait ConnectionLoss {
    /// Whether this error means the connection to the database is gone (as opposed to a
    /// statement the database refused, or a decision of the work itself).
    fn is_connection_lost(&self) -> bool;
}

impl ConnectionLoss for StorageError {
    fn is_connection_lost(&self) -> bool {
        matches!(self, StorageError::ConnectionLost { .. })
    }
}

/// Diesel's instrumentation on every pooled connection: counts completed statements for
/// [`completed_statements`], and (tests only) reports each statement to the observer installed
/// with [`crate::testing::observe_statements`].
pub(crate) struct StatementTally {
    /// Where the connection points, as the observer is told it.
    #[cfg_attr(not(any(test, feature = "test-support")), allow(dead_code))]
    pub(crate) database: String,
}

impl Instrumentation for StatementTally {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::FinishQuery { error: None, .. } => {
                COMPLETED_STATEMENTS.with(|count| count.set(count.get() + 1));
            }
            #[cfg(any(test, feature = "test-support"))]
            InstrumentationEvent::StartQuery { query, .. } => {
                crate::testing::observed_statement(&self.database, &query.to_string());
            }
            _ => {}
        }
    }
}
