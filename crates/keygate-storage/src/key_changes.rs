//! Every change to stored API keys, and telling every node that shares one Postgres database
//! which keys changed, so each can drop them from its in-process check cache.
//!
//! **Key writes are only reachable through [`write_keys`].** The functions that change or delete
//! keys (`api_keys::revoke`, `api_keys::update_description`, and `users::delete` /
//! `teams::delete`, which delete their owner's keys) take a [`KeyWrite`], not a connection, and
//! record the ids they touch themselves. A `KeyWrite` exists only inside [`write_keys`], which
//! runs the work in one transaction, announces the recorded ids, and hands them to the caller's
//! `invalidate` after the commit — so no caller can change a key and forget to invalidate it.
//!
//! A write announces the keys it changed — each as its id and its project's, a [`ChangedKey`], so
//! that a listener can pass a change on to the clients of that project alone — with `announce`
//! inside its own transaction (`pg_notify` on [`KEY_CHANGES_CHANNEL`]): Postgres delivers the notification at commit and
//! drops it on rollback, so no node hears of a change that did not happen, and every listening
//! node hears of every change that did. On SQLite (one node) `announce` does nothing.
//!
//! [`spawn_listener`] keeps a dedicated connection that `LISTEN`s on a background thread and
//! reports [`KeyChangeEvent`]s: `Listening` once subscribed (again after every reconnect),
//! `Changed` per notification, and `Lost` as soon as the connection fails — after which the node
//! must not trust its cache until the next `Listening`. The connection is probed every second
//! while idle, so a silently dead connection is noticed within about two seconds.
//!
//! Project credentials change rarely but must stop working everywhere at once when revoked:
//! `repo::project_credentials::update` announces the changed credential ids with
//! [`announce_credential_changes`] on the sibling channel [`CREDENTIAL_CHANGES_CHANNEL`], and the
//! same listener reports them as [`KeyChangeEvent::CredentialsChanged`], so each node clears its
//! project-authentication cache.
//!
//! The listening connection honours the URL's TLS options as libpq does
//! (`crate::listener_tls`): `sslmode=require` and `verify-*` never fall back to plain text.
//!
//! The listener uses the `postgres` crate (rust-postgres, synchronous) rather than Diesel:
//! Diesel's `PgConnection` can send `LISTEN` but offers no way to wait for notifications, and
//! pq-sys's notification functions would need `unsafe`, which the workspace forbids.

use std::fmt;
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::RunQueryDsl;
use keygate_domain::{ApiKeyId, ProjectId};
use postgres::fallible_iterator::FallibleIterator;
use postgres_openssl::MakeTlsConnector;
use uuid::Uuid;

use crate::backend::Backend;
use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::listener_tls::{listener_connection, ListenerConnection};

/// The Postgres notification channel for changed API keys; payloads are comma-separated
/// `key_id@project_id` pairs.
pub const KEY_CHANGES_CHANNEL: &str = "keygate_key_invalidation";

/// The Postgres notification channel for changed project credentials; payloads are
/// comma-separated credential ids.
pub const CREDENTIAL_CHANGES_CHANNEL: &str = "keygate_project_credential_invalidation";

/// At most this many changes go in one notification (Postgres limits payloads to 8000 bytes; a
/// change takes 74 with its comma, a credential id 37).
const IDS_PER_NOTIFICATION: usize = 100;

/// How long the listener waits for a notification before probing its connection.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long the listener waits before reconnecting after a dropped connection; doubled after
/// each failed attempt, up to [`MAX_RECONNECT_DELAY`].
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// The longest wait between two connection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// A key that changed or was deleted, and the project it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangedKey {
    /// The key's id.
    pub id: ApiKeyId,
    /// Its project.
    pub project: ProjectId,
}

impl fmt::Display for ChangedKey {
    /// `key_id@project_id`, as notifications carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.project)
    }
}

impl std::str::FromStr for ChangedKey {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (id, project) = text.split_once('@').ok_or(())?;
        Ok(ChangedKey {
            id: id.parse().map_err(|_| ())?,
            project: project.parse().map_err(|_| ())?,
        })
    }
}

/// A transaction that may change API keys; see [`write_keys`]. Reads and other writes of the
/// same transaction go through [`KeyWrite::conn`].
pub struct KeyWrite<'c> {
    conn: &'c mut DbConnection,
    changed: Vec<ChangedKey>,
}

impl fmt::Debug for KeyWrite<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyWrite")
            .field("changed", &self.changed)
            .finish_non_exhaustive()
    }
}

impl KeyWrite<'_> {
    /// The transaction's connection, for reads and for writes that change no key.
    pub fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// Notes that the keys `ids` of `project` changed or were deleted (called by the
    /// key-changing functions).
    pub(crate) fn changed(&mut self, project: ProjectId, ids: impl IntoIterator<Item = ApiKeyId>) {
        self.changed
            .extend(ids.into_iter().map(|id| ChangedKey { id, project }));
    }
}

/// Runs `work` — which changes stored keys through the [`KeyWrite`] it is given — in one
/// transaction that also announces the changed ids to the other nodes (`announce`: delivered
/// at commit), then calls `invalidate` with those ids after the commit and before returning.
///
/// A failed write changed nothing, but `invalidate` is still called (with no ids): a commit that
/// failed late may have landed, so a cache must not keep reads that started before it.
pub fn write_keys<T, E: From<StorageError>>(
    conn: &mut DbConnection,
    invalidate: impl FnOnce(&[ChangedKey]),
    work: impl FnOnce(&mut KeyWrite<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let written = conn.in_transaction_with(|conn| {
        let mut write = KeyWrite {
            conn,
            changed: Vec::new(),
        };
        let value = work(&mut write)?;
        let changed = write.changed;
        announce(conn, &changed)?;
        Ok((value, changed))
    });
    match written {
        Ok((value, changed)) => {
            invalidate(&changed);
            Ok(value)
        }
        Err(error) => {
            invalidate(&[]);
            Err(error)
        }
    }
}

/// Announces, within the caller's transaction, that the keys `changed` changed or were
/// deleted. Nothing happens on SQLite or for an empty list.
fn announce(conn: &mut DbConnection, changed: &[ChangedKey]) -> Result<(), StorageError> {
    notify(conn, KEY_CHANGES_CHANNEL, changed)
}

/// Announces, within the caller's transaction, that the project credentials `ids` changed
/// (delivered at commit, dropped on rollback). Nothing happens on SQLite or for an empty list.
pub(crate) fn announce_credential_changes(
    conn: &mut DbConnection,
    ids: &[Uuid],
) -> Result<(), StorageError> {
    notify(conn, CREDENTIAL_CHANGES_CHANNEL, ids)
}

/// `pg_notify`s `ids` on `channel`, at most [`IDS_PER_NOTIFICATION`] to a notification.
fn notify(
    conn: &mut DbConnection,
    channel: &str,
    ids: &[impl fmt::Display],
) -> Result<(), StorageError> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    for chunk in ids.chunks(IDS_PER_NOTIFICATION) {
        let payload = chunk
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(channel)
            .bind::<Text, _>(payload)
            .execute(conn)?;
    }
    Ok(())
}

/// What the listener reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChangeEvent {
    /// Subscribed (first time or after a reconnect): from now on every change is reported.
    /// Changes made while not subscribed were missed.
    Listening,
    /// These keys changed or were deleted.
    Changed(Vec<ChangedKey>),
    /// These project credentials changed (revoked, described anew).
    CredentialsChanged(Vec<Uuid>),
    /// The connection failed; changes may be missed until the next `Listening`.
    Lost,
}

/// Why one listening session ended.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ListenError(#[from] postgres::Error);

/// A handle to the listener thread; it runs for the life of the process.
pub struct KeyChangeListener {
    thread: JoinHandle<()>,
}

impl fmt::Debug for KeyChangeListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyChangeListener")
            .field("running", &!self.thread.is_finished())
            .finish()
    }
}

/// Starts listening for key changes on the Postgres database at `url`, on a thread of its own,
/// reporting each [`KeyChangeEvent`] to `on_event` (called on that thread). Failures are
/// retried forever; each one is reported as [`KeyChangeEvent::Lost`] and logged.
///
/// # Errors
/// If `url` is not a Postgres URL the listener understands (nothing is started then).
pub fn spawn_listener(
    url: &str,
    mut on_event: impl FnMut(KeyChangeEvent) + Send + 'static,
) -> Result<KeyChangeListener, StorageError> {
    let ListenerConnection { mut config, tls } = listener_connection(url)?;
    config.application_name("keygate-key-changes");
    config.connect_timeout(Duration::from_secs(5));
    let thread = std::thread::Builder::new()
        .name("keygate-key-changes".to_owned())
        .spawn(move || {
            let mut delay = RECONNECT_DELAY;
            loop {
                let mut subscribed = false;
                if let Err(error) = listen(&config, &tls, &mut on_event, &mut subscribed) {
                    tracing::warn!(
                        %error,
                        retry_in_millis = delay.as_millis() as u64,
                        "lost the key-change channel; the check cache is bypassed until it is back"
                    );
                }
                on_event(KeyChangeEvent::Lost);
                // Reconnect at once after a drop; back off while the server stays unreachable.
                delay = if subscribed {
                    RECONNECT_DELAY
                } else {
                    (delay * 2).min(MAX_RECONNECT_DELAY)
                };
                std::thread::sleep(delay);
            }
        })
        .map_err(|error| StorageError::InvalidUrl {
            reason: format!("could not start the key-change listener: {error}"),
        })?;
    Ok(KeyChangeListener { thread })
}

/// One listening session: connect (over TLS as the URL asks), subscribe to both channels,
/// report until the connection fails.
fn listen(
    config: &postgres::Config,
    tls: &MakeTlsConnector,
    on_event: &mut impl FnMut(KeyChangeEvent),
    subscribed: &mut bool,
) -> Result<(), ListenError> {
    let mut client = config.connect(tls.clone())?;
    client.batch_execute(&format!(
        "LISTEN {KEY_CHANGES_CHANNEL}; LISTEN {CREDENTIAL_CHANGES_CHANNEL}"
    ))?;
    *subscribed = true;
    tracing::debug!("listening for key and project-credential changes");
    on_event(KeyChangeEvent::Listening);
    loop {
        {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(PROBE_INTERVAL);
            while let Some(notification) = waiting.next()? {
                let event = if notification.channel() == CREDENTIAL_CHANGES_CHANNEL {
                    KeyChangeEvent::CredentialsChanged(parse_payload(notification.payload()))
                } else {
                    KeyChangeEvent::Changed(parse_payload(notification.payload()))
                };
                on_event(event);
            }
        }
        // Quiet for a second: make sure the connection is still there.
        client.is_valid(PROBE_INTERVAL)?;
    }
}

/// The ids in a payload; anything unreadable is skipped (only keygate writes on the channels).
fn parse_payload<Id: std::str::FromStr>(payload: &str) -> Vec<Id> {
    payload
        .split(',')
        .filter_map(|id| id.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::repo::project_credentials::{self, CredentialUpdate};

    /// A change of a random key in a random project.
    fn some_change() -> ChangedKey {
        ChangedKey {
            id: ApiKeyId::new_random(),
            project: ProjectId::new_random(),
        }
    }

    #[test]
    fn payloads_are_comma_separated_changes_or_ids() {
        let (a, b) = (some_change(), some_change());
        assert_eq!(parse_payload::<ChangedKey>(&format!("{a},{b}")), vec![a, b]);
        assert_eq!(
            parse_payload::<ChangedKey>(&format!("{a},junk,{}", b.id)),
            vec![a]
        );
        assert!(parse_payload::<ChangedKey>("").is_empty());
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        assert_eq!(
            parse_payload::<Uuid>(&format!("{},{}", ids[0], ids[1])),
            ids
        );
    }

    #[test]
    fn a_url_the_listener_cannot_read_is_refused() {
        assert!(matches!(
            spawn_listener("postgres://host/db?no_such_option=1", |_| {}),
            Err(StorageError::InvalidUrl { .. })
        ));
    }

    #[derive(diesel::QueryableByName)]
    struct ListenerTls {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }

    /// Whether each of this database's key-change listener connections uses TLS (per the
    /// server), in ascending order.
    fn listeners_tls(conn: &mut DbConnection) -> Vec<bool> {
        diesel::sql_query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.application_name = 'keygate-key-changes' AND a.datname = current_database() \
             ORDER BY s.ssl",
        )
        .load::<ListenerTls>(conn)
        .unwrap()
        .into_iter()
        .map(|row| row.ssl)
        .collect()
    }

    /// Waits for the next event that `accept` takes, up to `within`.
    fn wait_for(
        events: &mpsc::Receiver<KeyChangeEvent>,
        within: Duration,
        accept: impl Fn(&KeyChangeEvent) -> bool,
    ) -> KeyChangeEvent {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = events
                .recv_timeout(left)
                .expect("the expected event arrives in time");
            if accept(&event) {
                return event;
            }
        }
    }

    /// A listener on `url` whose events arrive on the returned channel, once it listens.
    fn listening(url: &str) -> (KeyChangeListener, mpsc::Receiver<KeyChangeEvent>) {
        let (sender, events) = mpsc::channel();
        let listener = spawn_listener(url, move |event| {
            let _ = sender.send(event);
        })
        .unwrap();
        wait_for(&events, Duration::from_secs(10), |e| {
            *e == KeyChangeEvent::Listening
        });
        (listener, events)
    }

    crate::backend_tests! {
        fn a_key_write_that_reads_first_waits_for_a_writer_that_commits_in_between(db) {
            use crate::repo::{api_keys, users};
            use keygate_domain::Owner;
            let mut conn = db.conn();
            let project = crate::testing::insert_project(&mut conn).id;
            let user = crate::testing::insert_user(&mut conn, project).id;
            let key = crate::testing::insert_api_key(&mut conn, project, Owner::User(user), 1_000);
            let (read, other_writer_may_go) = mpsc::channel::<()>();
            let (other_wrote, other_writer_done) = mpsc::channel::<()>();
            let database = db.database().clone();
            let other = std::thread::spawn(move || {
                other_writer_may_go.recv().unwrap();
                let mut conn = database.get().unwrap();
                // Another writer, e.g. the delivery worker claiming notices.
                let user = crate::testing::insert_user(&mut conn, project);
                other_wrote.send(()).unwrap();
                user
            });
            let revoked = write_keys(&mut conn, |_| {}, |write| {
                let found = api_keys::get_by_id(write.conn(), key.id)?.expect("stored");
                read.send(()).unwrap();
                // Time for the other writer to commit, unless it waits for this transaction.
                let _ = other_writer_done.recv_timeout(Duration::from_millis(300));
                api_keys::revoke(write, project, found.id, 2_000)
            });
            assert!(revoked.unwrap().by_this_call);
            let other_user = other.join().unwrap();
            assert!(users::exists(&mut conn, project, other_user.id).unwrap());
        }

        fn changes_reach_listeners_at_commit_and_never_on_rollback(db) {
            let mut conn = db.conn();
            let ids: Vec<ChangedKey> = (0..150).map(|_| some_change()).collect();
            let Some(url) = db.postgres_url() else {
                // SQLite: a single node, nothing to announce.
                announce(&mut conn, &ids).unwrap();
                return;
            };
            let (_listener, events) = listening(url);

            let rolled_back = some_change();
            let _ = conn.in_transaction(|conn| {
                announce(conn, &[rolled_back])?;
                Err::<(), _>(StorageError::NotFound { entity: "test" })
            });
            conn.in_transaction(|conn| announce(conn, &ids)).unwrap();
            let mut heard = Vec::new();
            while heard.len() < ids.len() {
                let KeyChangeEvent::Changed(changed) =
                    wait_for(&events, Duration::from_secs(1), |e| matches!(e, KeyChangeEvent::Changed(_)))
                else {
                    unreachable!()
                };
                heard.extend(changed);
            }
            assert_eq!(heard, ids, "every change, in order, in notifications of at most 100");
            assert!(!heard.contains(&rolled_back));
        }

        fn a_credential_change_reaches_listeners_on_its_own_channel(db) {
            let mut conn = db.conn();
            let project = crate::testing::insert_project(&mut conn).id;
            let credential = crate::testing::insert_credential(&mut conn, project);
            let revoke = CredentialUpdate { revoke_at_millis: Some(5_000), ..CredentialUpdate::default() };
            let Some(url) = db.postgres_url() else {
                // SQLite: a single node; the change is stored, nothing is announced.
                let revoked = project_credentials::update(&mut conn, project, credential, &revoke).unwrap();
                assert_eq!(revoked.revoked_at_millis, Some(5_000));
                return;
            };
            let (_listener, events) = listening(url);
            project_credentials::update(&mut conn, project, credential, &revoke).unwrap();
            assert_eq!(
                wait_for(&events, Duration::from_secs(1), |e| *e != KeyChangeEvent::Listening),
                KeyChangeEvent::CredentialsChanged(vec![credential])
            );
        }

        fn the_listener_uses_tls_when_the_url_requires_it(db) {
            let Some(url) = db.postgres_url() else { return };
            let mut conn = db.conn();
            let separator = if url.contains('?') { '&' } else { '?' };
            let mut expected = Vec::new();
            // `require` first: the plain `disable` listener shows the query tells them apart.
            for (sslmode, encrypted) in [("require", true), ("disable", false)] {
                let (_listener, events) = listening(&format!("{url}{separator}sslmode={sslmode}"));
                expected.push(encrypted);
                expected.sort_unstable();
                assert_eq!(listeners_tls(&mut conn), expected, "after the sslmode={sslmode} listener");
                // And it hears changes over that connection.
                let id = some_change();
                announce(&mut conn, &[id]).unwrap();
                assert_eq!(
                    wait_for(&events, Duration::from_secs(1), |e| matches!(e, KeyChangeEvent::Changed(_))),
                    KeyChangeEvent::Changed(vec![id])
                );
            }
        }

        fn a_dropped_connection_is_reported_and_listening_resumes(db) {
            let Some(url) = db.postgres_url() else { return };
            let (_listener, events) = listening(url);

            let mut conn = db.conn();
            diesel::sql_query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'keygate-key-changes' AND datname = current_database()",
            )
            .execute(&mut conn)
            .unwrap();
            wait_for(&events, Duration::from_secs(5), |e| *e == KeyChangeEvent::Lost);
            wait_for(&events, Duration::from_secs(10), |e| *e == KeyChangeEvent::Listening);
            let id = some_change();
            announce(&mut conn, &[id]).unwrap();
            assert_eq!(
                wait_for(&events, Duration::from_secs(1), |e| matches!(e, KeyChangeEvent::Changed(_))),
                KeyChangeEvent::Changed(vec![id])
            );
        }
    }
}
