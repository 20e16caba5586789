//! [`Backend`]: which database a connection talks to. Its own module, so that connections,
//! URLs and errors can all name it without depending on each other.

use std::fmt;

/// The two supported database backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (a file next to the server; the default).
    Sqlite,
    /// Postgres.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "Postgres",
        })
    }
}
