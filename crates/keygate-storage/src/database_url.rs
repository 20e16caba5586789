//! Choosing the backend from the database URL.
//!
//! keygate decides itself instead of letting Diesel try each backend in turn: Diesel's
//! multi-connection `establish` falls through to SQLite for any string it cannot open otherwise,
//! so a typo such as `postgress://db/keygate` would silently create a file of that name. Here an
//! unknown scheme is an error naming the scheme, before anything touches the file system.

use std::path::PathBuf;

use crate::backend::Backend;
use crate::error::StorageError;

/// Where the database lives, once the URL has been understood.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DatabaseTarget {
    /// A SQLite database file (created on first connection if missing).
    Sqlite(PathBuf),
    /// A Postgres connection URL, passed to libpq unchanged.
    Postgres(String),
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseTarget::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            // The URL may carry a password.
            DatabaseTarget::Postgres(_) => f.write_str("Postgres(<url>)"),
        }
    }
}

impl DatabaseTarget {
    /// Understands `sqlite://path`, `sqlite:path`, a plain path (SQLite), and `postgres://…` /
    /// `postgresql://…` (Postgres). Schemes are case-insensitive. Anything else that starts like
    /// a URL scheme is [`StorageError::UnsupportedScheme`].
    pub(crate) fn parse(url: &str) -> Result<Self, StorageError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StorageError::InvalidUrl {
                reason: "the database URL is empty".to_owned(),
            });
        }
        let Some(scheme) = scheme_of(url) else {
            return Self::sqlite_path(url);
        };
        let rest = &url[scheme.len() + 1..];
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Self::sqlite_path(rest.strip_prefix("//").unwrap_or(rest)),
            "postgres" | "postgresql" if rest.starts_with("//") => {
                Ok(DatabaseTarget::Postgres(url.to_owned()))
            }
            "postgres" | "postgresql" => Err(StorageError::InvalidUrl {
                reason: format!("a Postgres URL must start with `{scheme}://`"),
            }),
            _ => Err(StorageError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            }),
        }
    }

    /// The backend this target is served by.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            DatabaseTarget::Sqlite(_) => Backend::Sqlite,
            DatabaseTarget::Postgres(_) => Backend::Postgres,
        }
    }

    fn sqlite_path(path: &str) -> Result<Self, StorageError> {
        if path.is_empty() {
            return Err(StorageError::InvalidUrl {
                reason: "the SQLite URL names no file".to_owned(),
            });
        }
        if path == ":memory:" || path.starts_with("file:") {
            // An in-memory database would be a different, empty database on every pooled
            // connection; URI file names would bypass the scheme check above.
            return Err(StorageError::InvalidUrl {
                reason: "SQLite needs a file path (in-memory and `file:` URIs are not supported)"
                    .to_owned(),
            });
        }
        Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
    }
}

/// The URL scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`) before the first
/// colon, if the string starts with one. One-letter "schemes" are Windows drive letters
/// (`C:\data\keygate.db`) and count as paths.
fn scheme_of(url: &str) -> Option<&str> {
    let colon = url.find(':')?;
    let candidate = &url[..colon];
    let mut chars = candidate.chars();
    let first = chars.next()?;
    let is_scheme = candidate.len() > 1
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    is_scheme.then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(path: &str) -> DatabaseTarget {
        DatabaseTarget::Sqlite(PathBuf::from(path))
    }

    #[test]
    fn sqlite_forms_select_sqlite() {
        assert_eq!(
            DatabaseTarget::parse("sqlite://keygate.db").unwrap(),
            sqlite("keygate.db")
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:///var/lib/keygate.db").unwrap(),
            sqlite("/var/lib/keygate.db")
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:data/k.db").unwrap(),
            sqlite("data/k.db")
        );
        assert_eq!(
            DatabaseTarget::parse("SQLite://k.db").unwrap(),
            sqlite("k.db")
        );
        assert_eq!(
            DatabaseTarget::parse("keygate.db").unwrap(),
            sqlite("keygate.db")
        );
        assert_eq!(
            DatabaseTarget::parse("./dir/k.db").unwrap(),
            sqlite("./dir/k.db")
        );
        assert_eq!(
            DatabaseTarget::parse("/abs/k.db").unwrap(),
            sqlite("/abs/k.db")
        );
        assert_eq!(
            DatabaseTarget::parse(r"C:\data\k.db").unwrap(),
            sqlite(r"C:\data\k.db")
        );
        assert_eq!(DatabaseTarget::parse("  k.db ").unwrap(), sqlite("k.db"));
    }

    #[test]
    fn postgres_forms_select_postgres() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/keygate",
            "postgresql://u:p@db/keygate?sslmode=disable",
            "POSTGRES://db/keygate",
        ] {
            let target = DatabaseTarget::parse(url).unwrap();
            assert_eq!(target, DatabaseTarget::Postgres(url.to_owned()));
            assert_eq!(target.backend(), Backend::Postgres);
        }
    }

    #[test]
    fn unknown_schemes_are_named_in_the_error() {
        for (url, scheme) in [
            ("postgress://db/keygate", "postgress"),
            ("sqlit://keygate.db", "sqlit"),
            ("sqlit:keygate.db", "sqlit"),
            ("mysql://db/keygate", "mysql"),
            ("https://example.com/db", "https"),
        ] {
            let error = DatabaseTarget::parse(url).unwrap_err();
            match &error {
                StorageError::UnsupportedScheme { scheme: named } => assert_eq!(named, scheme),
                other => panic!("{url}: expected UnsupportedScheme, got {other:?}"),
            }
            assert!(
                error.to_string().contains(&format!("`{scheme}:`")),
                "{error}"
            );
        }
    }

    #[test]
    fn unusable_urls_are_invalid() {
        for url in [
            "",
            "   ",
            "sqlite://",
            "sqlite:",
            "sqlite::memory:",
            ":memory:",
            "sqlite:file:k.db?mode=memory",
            "postgres:db",
        ] {
            assert!(
                matches!(
                    DatabaseTarget::parse(url),
                    Err(StorageError::InvalidUrl { .. })
                ),
                "{url:?} should be invalid"
            );
        }
    }

    #[test]
    fn debug_hides_postgres_credentials() {
        let target = DatabaseTarget::parse("postgres://user:hunter2@db/keygate").unwrap();
        assert!(!format!("{target:?}").contains("hunter2"));
    }
}
