//! Observing the SQL statements the routes run on a test database: every pooled connection
//! reports its statements (`keygate_storage::testing::observe_statements`), and a [`Watch`]
//! collects those of one database. For the tests that prove how much database work a request
//! causes.

use std::sync::Mutex;

use super::*;

/// The databases being watched (by a fragment of their URL) and what ran on them.
static WATCHED: Mutex<Vec<(String, Vec<String>)>> = Mutex::new(Vec::new());

fn record(url: &str, statement: String) {
    let mut watched = WATCHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, statements)) = watched
        .iter_mut()
        .find(|(fragment, _)| url.contains(fragment.as_str()))
    {
        statements.push(statement);
    }
}

/// Makes every pooled connection report its statements (once per process).
pub(super) fn install_recorder() {
    keygate_storage::testing::observe_statements(|database, statement| {
        record(database, statement.to_owned());
    });
}

/// The statements run on one test database.
pub(super) struct Watch {
    fragment: String,
}

impl Watch {
    pub(super) fn start(app: &TestApp) -> Self {
        let location = app.database().location();
        let fragment = location
            .strip_prefix("SQLite file ")
            .or_else(|| location.strip_prefix("Postgres database "))
            .expect("a known location")
            .to_owned();
        WATCHED.lock().unwrap().push((fragment.clone(), Vec::new()));
        Watch { fragment }
    }

    /// The statements that touched data since the last call (without their bind values), leaving
    /// out each new connection's settings. Pooled connections are not probed on checkout, so
    /// no `SELECT 1` is left out: a probe would show up here.
    pub(super) fn take(&self) -> Vec<String> {
        let mut watched = WATCHED.lock().unwrap();
        let (_, statements) = watched
            .iter_mut()
            .find(|(f, _)| *f == self.fragment)
            .expect("watched");
        std::mem::take(statements)
            .into_iter()
            .map(|s| {
                s.split(" -- binds")
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            })
            .filter(|s| !s.starts_with("PRAGMA") && !s.starts_with("SET "))
            .collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        WATCHED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(f, _)| *f != self.fragment);
    }
}

/// Whether a statement reads or writes the `api_keys` table (quoted as each backend quotes it).
pub(super) fn touches_api_keys(statement: &str) -> bool {
    statement.contains("`api_keys`") || statement.contains("\"api_keys\"")
}

/// Locks `api_keys` from a connection of its own for half a second (returned once it holds the
/// lock): lookups and creates started meanwhile wait for it, so that others queue behind them.
pub(super) fn hold_back_key_lookups(url: &str) -> std::thread::JoinHandle<()> {
    use diesel::{Connection, RunQueryDsl};
    let url = url.to_owned();
    let (locked, lock_held) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
        conn.transaction(|conn| {
            diesel::sql_query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE").execute(conn)?;
            locked.send(()).expect("the test waits");
            std::thread::sleep(std::time::Duration::from_millis(500));
            Ok::<_, diesel::result::Error>(())
        })
        .expect("lock api_keys");
    });
    lock_held.recv().expect("the lock is taken");
    holder
}
