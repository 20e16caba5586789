//! Local verification: a repeated key is verified in-process, without a request to keygate, and
//! a key keygate revokes stops being accepted here within a second.
//!
//! **What is kept is the key's row, never a verdict.** After keygate accepted a key, the client
//! keeps its hash (SHA-256 of the presented key, made here), type, owner, expiry, scopes and
//! description. A repeated check hashes the presented key and compares it with the kept hash in
//! constant time, evaluates expiry at this check's clock (`keygate-domain`'s one rule), and
//! compares the required scopes — so a kept row can never make an expired key valid, and a
//! forged key with a known id never matches. Anything other than a clean pass (another type, a
//! missing scope, a cost keygate would refuse) goes to keygate, which gives the exact answer.
//!
//! **Keys counted centrally are never kept.** A key with a rate limit or usage credits is checked
//! by keygate every time: only keygate can count its checks across every service.
//!
//! **Revocation never lingers.** The client follows keygate's stream of its project's key
//! changes (`GET /api/v1/api-key-changes`, see [`crate::change_stream`]), and drops each changed
//! key's row as the change arrives. Kept rows are trusted only while that stream is open and has
//! been heard from within three of its heartbeats (750 ms by default): while it is down, every
//! check goes to keygate and nothing is kept, and everything kept is dropped when it breaks. A
//! check that asked keygate before a change arrived never keeps its (stale) answer: the rows'
//! generation moves with every change, and a row is kept only if it did not move meanwhile.
//!
//! Rows are also dropped [`LocalVerification::row_ttl`] after keygate verified them (30 s by
//! default), so keygate sees every key in use — and records when it was last used — at least
//! that often.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keygate_domain::{ApiKeyId, KeyHash, KeyHasher, KeyType, Lifetime};
use moka::sync::Cache;

use crate::objects::{ApiKeyInfo, VerifiedKey};

/// How the client verifies repeated keys itself ([`ClientBuilder::verify_locally`]).
///
/// [`ClientBuilder::verify_locally`]: crate::ClientBuilder::verify_locally
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalVerification {
    /// How many verified keys are kept at most (least recently used go first).
    pub max_keys: u64,
    /// How long a kept key is used before keygate is asked again.
    pub row_ttl: Duration,
}

impl Default for LocalVerification {
    /// 10,000 keys for 30 seconds each.
    fn default() -> Self {
        LocalVerification {
            max_keys: 10_000,
            row_ttl: Duration::from_secs(30),
        }
    }
}

/// Counts of how checks were answered, since the client was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalVerificationStats {
    /// Checks answered in-process.
    pub verified_locally: u64,
    /// Checks sent to keygate (first sight, kept rows not trusted, keys counted centrally,
    /// anything but a clean pass).
    pub sent_to_keygate: u64,
    /// How many times the stream of key changes was opened (once, unless it broke).
    pub streams_opened: u64,
    /// Whether the stream of key changes is open and heard from now.
    pub following: bool,
}

/// A key keygate verified, as kept.
struct KeptKey {
    hash: KeyHash,
    key_type: KeyType,
    info: ApiKeyInfo,
}

/// The kept rows and whether they may be trusted; shared by the client and its stream follower.
pub(crate) struct KeptKeys {
    rows: Cache<ApiKeyId, Arc<KeptKey>>,
    hasher: KeyHasher,
    /// Moves before any row is dropped for a change (or the stream's loss): a check that asked
    /// keygate under an older generation keeps nothing.
    generation: AtomicU64,
    /// Whether the stream is open (its `ready` event arrived, it has not ended since).
    open: AtomicBool,
    /// When the stream was last heard from, in milliseconds since `epoch`.
    last_heard: AtomicU64,
    /// Silence longer than this (three heartbeats) makes the rows untrusted.
    max_silence_millis: AtomicU64,
    epoch: Instant,
    verified_locally: AtomicU64,
    sent_to_keygate: AtomicU64,
    streams_opened: AtomicU64,
    /// Whether a task follows the stream (started by a check, on that check's runtime).
    follower_running: AtomicBool,
}

impl fmt::Debug for KeptKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeptKeys")
            .field("rows", &self.rows.entry_count())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A check's snapshot of the rows' generation, taken before it asks keygate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl KeptKeys {
    pub(crate) fn new(settings: LocalVerification) -> Self {
        KeptKeys {
            rows: Cache::builder()
                .max_capacity(settings.max_keys)
                .time_to_live(settings.row_ttl)
                .build(),
            hasher: KeyHasher::sha256(),
            generation: AtomicU64::new(0),
            open: AtomicBool::new(false),
            last_heard: AtomicU64::new(0),
            max_silence_millis: AtomicU64::new(0),
            epoch: Instant::now(),
            verified_locally: AtomicU64::new(0),
            sent_to_keygate: AtomicU64::new(0),
            streams_opened: AtomicU64::new(0),
            follower_running: AtomicBool::new(false),
        }
    }

    /// The key `key` (whose id is `id`) verified in-process for a check of `key_type` requiring
    /// `required_scopes`, or `None` when keygate must answer (nothing trusted is kept, or
    /// anything but a clean pass).
    pub(crate) fn verify(
        &self,
        id: ApiKeyId,
        key: &str,
        key_type: KeyType,
        required_scopes: &[String],
    ) -> Option<VerifiedKey> {
        if !self.trusted() {
            return None;
        }
        let kept = self.rows.get(&id)?;
        if kept.key_type != key_type || !self.hasher.verify(key, &kept.hash) {
            return None;
        }
        let lifetime = Lifetime::new(kept.info.expires_at_millis, kept.info.revoked_at_millis);
        if lifetime.check(now_millis()).is_err() {
            // Expired since: keygate gives the answer, and the row is of no more use.
            self.rows.invalidate(&id);
            return None;
        }
        let scopes = &kept.info.scopes;
        if !required_scopes.iter().all(|scope| scopes.contains(scope)) {
            return None;
        }
        self.verified_locally.fetch_add(1, Ordering::Relaxed);
        Some(VerifiedKey {
            owner: kept.info.owner,
            key: kept.info.clone(),
            rate_limit: None,
        })
    }

    /// Whether the caller must start the stream's follower (none runs: never started yet, or its
    /// runtime went away — a stopped actix worker, say — and took it along).
    pub(crate) fn start_following(&self) -> bool {
        !self.follower_running.swap(true, Ordering::SeqCst)
    }

    /// The follower ended (its task dropped): trust nothing, and let the next check start one.
    pub(crate) fn follower_stopped(&self) {
        self.closed();
        self.follower_running.store(false, Ordering::SeqCst);
    }

    /// Taken before a check asks keygate (and counts it).
    pub(crate) fn ticket(&self) -> Ticket {
        self.sent_to_keygate.fetch_add(1, Ordering::Relaxed);
        Ticket(self.generation.load(Ordering::SeqCst))
    }

    /// Keeps what keygate answered for `key`, unless the key is counted centrally, the rows are
    /// not trusted, or a change arrived since `ticket` was taken.
    pub(crate) fn keep(&self, ticket: Ticket, id: ApiKeyId, key: &str, verified: &VerifiedKey) {
        let info = &verified.key;
        // The key object names its rate limit (the `ratelimit-*` headers follow from it).
        let counted_centrally = info.rate_limit.is_some() || info.remaining_uses.is_some();
        if counted_centrally || info.id != id || !self.current(ticket) {
            return;
        }
        let kept = KeptKey {
            hash: self.hasher.hash(key),
            key_type: info.owner.key_type(),
            info: info.clone(),
        };
        self.rows.insert(id, Arc::new(kept));
        // A change between the test above and the insert moved the generation before it
        // dropped rows; if it dropped them before the insert, drop the insert here.
        if !self.current(ticket) {
            self.rows.invalidate(&id);
        }
    }

    fn current(&self, ticket: Ticket) -> bool {
        self.trusted() && self.generation.load(Ordering::SeqCst) == ticket.0
    }

    /// Whether the kept rows may be used: the stream is open and was heard from lately.
    pub(crate) fn trusted(&self) -> bool {
        if !self.open.load(Ordering::SeqCst) {
            return false;
        }
        let silence = self
            .millis_since_epoch()
            .saturating_sub(self.last_heard.load(Ordering::SeqCst));
        silence <= self.max_silence_millis.load(Ordering::SeqCst)
    }

    /// The stream said something (any event, a heartbeat included).
    pub(crate) fn heard(&self) {
        self.last_heard
            .store(self.millis_since_epoch(), Ordering::SeqCst);
    }

    /// The stream opened (its `ready` event): from now on every change arrives, so rows may be
    /// kept and trusted while it is heard from every `heartbeat`.
    pub(crate) fn opened(&self, heartbeat: Duration) {
        // Changes made while it was closed were missed: start empty.
        self.drop_all();
        let max_silence =
            u64::try_from(heartbeat.as_millis().saturating_mul(3)).unwrap_or(u64::MAX);
        self.max_silence_millis.store(max_silence, Ordering::SeqCst);
        self.heard();
        self.open.store(true, Ordering::SeqCst);
        self.streams_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// The stream ended or went silent: trust nothing until it opens again.
    pub(crate) fn closed(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.drop_all();
    }

    /// These keys changed or were deleted at keygate.
    pub(crate) fn changed(&self, ids: impl IntoIterator<Item = ApiKeyId>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for id in ids {
            self.rows.invalidate(&id);
        }
    }

    fn drop_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.rows.invalidate_all();
    }

    pub(crate) fn stats(&self) -> LocalVerificationStats {
        LocalVerificationStats {
            verified_locally: self.verified_locally.load(Ordering::Relaxed),
            sent_to_keygate: self.sent_to_keygate.load(Ordering::Relaxed),
            streams_opened: self.streams_opened.load(Ordering::Relaxed),
            following: self.trusted(),
        }
    }

    fn millis_since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Now, in epoch milliseconds (a key's expiry is an epoch instant).
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use keygate_domain::{Owner, UserId};

    use super::*;

    const KEY: &str = "sk_user_…a key as presented";

    fn verified(id: ApiKeyId, expires_at_millis: Option<i64>) -> VerifiedKey {
        let owner = Owner::User(UserId::new_random());
        VerifiedKey {
            owner,
            key: ApiKeyInfo {
                id,
                owner,
                description: "ci".to_owned(),
                last_four: "abcd".to_owned(),
                created_at_millis: 0,
                expires_at_millis,
                revoked_at_millis: None,
                last_used_at_millis: None,
                is_public: false,
                scopes: vec!["invoices:read".to_owned()],
                metadata: None,
                rate_limit: None,
                remaining_uses: None,
            },
            rate_limit: None,
        }
    }

    fn open_rows() -> KeptKeys {
        let rows = KeptKeys::new(LocalVerification::default());
        rows.opened(Duration::from_millis(250));
        rows
    }

    #[test]
    fn a_kept_key_passes_only_with_the_same_secret_type_and_scopes() {
        let rows = open_rows();
        let id = ApiKeyId::new_random();
        rows.keep(rows.ticket(), id, KEY, &verified(id, None));
        let scope = |scope: &str| vec![scope.to_owned()];
        assert!(rows
            .verify(id, KEY, KeyType::User, &scope("invoices:read"))
            .is_some());
        assert!(rows
            .verify(id, "sk_user_…a forged key", KeyType::User, &[])
            .is_none());
        assert!(rows.verify(id, KEY, KeyType::Team, &[]).is_none());
        assert!(rows
            .verify(id, KEY, KeyType::User, &scope("invoices:write"))
            .is_none());
        assert_eq!(rows.stats().verified_locally, 1);
    }

    #[test]
    fn an_expired_key_is_never_verified_locally() {
        let rows = open_rows();
        let id = ApiKeyId::new_random();
        rows.keep(
            rows.ticket(),
            id,
            KEY,
            &verified(id, Some(now_millis() - 1)),
        );
        assert!(rows.verify(id, KEY, KeyType::User, &[]).is_none());
    }

    #[test]
    fn keys_counted_centrally_are_never_kept() {
        let rows = open_rows();
        let id = ApiKeyId::new_random();
        let mut metered = verified(id, None);
        metered.key.remaining_uses = Some(5);
        rows.keep(rows.ticket(), id, KEY, &metered);
        let mut limited = verified(id, None);
        limited.key.rate_limit = keygate_domain::RateLimit::new(10, 1_000);
        rows.keep(rows.ticket(), id, KEY, &limited);
        assert!(rows.verify(id, KEY, KeyType::User, &[]).is_none());
    }

    #[test]
    fn a_change_drops_the_row_and_an_answer_older_than_it_is_not_kept() {
        let rows = open_rows();
        let id = ApiKeyId::new_random();
        rows.keep(rows.ticket(), id, KEY, &verified(id, None));
        rows.changed([id]);
        assert!(rows.verify(id, KEY, KeyType::User, &[]).is_none());
        // A check that asked keygate before the change arrived keeps nothing.
        let before = rows.ticket();
        rows.changed([ApiKeyId::new_random()]);
        rows.keep(before, id, KEY, &verified(id, None));
        assert!(rows.verify(id, KEY, KeyType::User, &[]).is_none());
    }

    #[test]
    fn nothing_is_kept_or_trusted_while_the_stream_is_closed_or_silent() {
        let rows = KeptKeys::new(LocalVerification::default());
        let id = ApiKeyId::new_random();
        rows.keep(rows.ticket(), id, KEY, &verified(id, None));
        rows.opened(Duration::from_millis(250));
        assert!(
            rows.verify(id, KEY, KeyType::User, &[]).is_none(),
            "nothing was kept while closed"
        );
        rows.keep(rows.ticket(), id, KEY, &verified(id, None));
        assert!(rows.verify(id, KEY, KeyType::User, &[]).is_some());

        // Silent for longer than three heartbeats: not trusted, though still open.
        rows.opened(Duration::from_millis(1));
        rows.keep(rows.ticket(), id, KEY, &verified(id, None));
        std::thread::sleep(Duration::from_millis(10));
        assert!(!rows.trusted());
        assert!(rows.verify(id, KEY, KeyType::User, &[]).is_none());
        rows.heard();
        assert!(
            rows.verify(id, KEY, KeyType::User, &[]).is_some(),
            "heard again: no change was missed"
        );

        rows.closed();
        rows.opened(Duration::from_millis(250));
        assert!(
            rows.verify(id, KEY, KeyType::User, &[]).is_none(),
            "a broken stream drops everything"
        );
    }
}
