//! Revoking a leaked key: a secret scanner (e.g. GitHub's partner program) reports a key found
//! in public; keygate revokes it and tells its owner.
//!
//! No project authentication: the lookup is global (by the key's hash) and ignores the
//! projects' switches. Order, as upstream: a string that is not a well-formed key is not found
//! without a database query; then not found → public keys refused → expired → already revoked
//! (success, no second notice) → revoke.
//!
//! The revocation and its notices are written in one transaction: each notice goes to the
//! durable outbox (`notification_outbox`), to be delivered by a later worker. Recipients are the
//! owning user's primary e-mail, or for a team key every member who holds `$manage_api_keys`
//! (recursively) — each with a primary e-mail; users without one cannot be written to and are
//! left out, as upstream does. Each notice carries a dedupe key (`api-key-revoked/<key
//! id>/<email>`), so two reports racing for the same key notify each recipient once.

use keygate_domain::api_key::CheckRejection;
use keygate_domain::{parse_api_key, ApiKey, EpochMillis, KeyHash};
use keygate_storage::key_changes::KeyWrite;
use keygate_storage::repo::api_keys;
use keygate_storage::StorageError;

use crate::api_keys::key_change;
use crate::audit::{self, AuditActor, KeyEvent, RequestOrigin};
use crate::error::{NotFound, Refusal, ServiceError};
use crate::key_notices::{write_notices, KeyNotice};
use crate::Service;

/// What a report of a leaked key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakedKeyRevocation {
    /// The key was revoked by this report; `notices` owners were told.
    Revoked {
        /// The key, as revoked.
        key: Box<ApiKey>,
        /// How many notices were written to the outbox.
        notices: usize,
    },
    /// The key was revoked before (no second notice).
    AlreadyRevoked,
}

impl Service {
    /// Revokes the key `presented` that a credential scanner found in public, and writes a
    /// notice to each of its owners and the audit event, in one transaction; the key leaves the
    /// check cache before this returns.
    pub async fn revoke_leaked_api_key(
        &self,
        presented: &str,
        origin: RequestOrigin,
    ) -> Result<LeakedKeyRevocation, ServiceError> {
        if parse_api_key(presented).is_err() {
            return Err(NotFound::ApiKey.into());
        }
        let hash = self.hasher().hash(presented);
        let now = self.now();
        let outcome = self
            .run(move |service, conn| {
                let scanner = AuditActor::scanner(origin);
                service.write_keys(conn, |write| {
                    Ok(find_and_revoke(write, &hash, &scanner, now)?)
                })
            })
            .await?;
        match outcome {
            Outcome::NotFound => Err(NotFound::ApiKey.into()),
            Outcome::Public => Err(Refusal::PublicApiKeyCannotBeRevoked.into()),
            Outcome::Expired => Err(CheckRejection::Expired.into()),
            Outcome::AlreadyRevoked => Ok(LeakedKeyRevocation::AlreadyRevoked),
            Outcome::Revoked { key, notices } => {
                tracing::info!(
                    api_key_id = %key.id,
                    project_id = %key.project_id,
                    notices,
                    "revoked an API key reported by a credential scanner"
                );
                Ok(LeakedKeyRevocation::Revoked { key, notices })
            }
        }
    }
}

/// What the transaction found and did.
enum Outcome {
    NotFound,
    Public,
    Expired,
    AlreadyRevoked,
    Revoked { key: Box<ApiKey>, notices: usize },
}

/// The steps of [`Service::revoke_leaked_api_key`] inside its transaction.
fn find_and_revoke(
    write: &mut KeyWrite<'_>,
    hash: &KeyHash,
    scanner: &AuditActor,
    now: EpochMillis,
) -> Result<Outcome, StorageError> {
    let Some(key) = api_keys::find_by_hash(write.conn(), hash)? else {
        return Ok(Outcome::NotFound);
    };
    if key.is_public {
        return Ok(Outcome::Public);
    }
    // Upstream checks expiry before revocation here (the check route does the reverse); the
    // rule itself is the domain's: a key is still valid at its expiry instant.
    let lifetime = key.lifetime();
    if lifetime.is_expired(now) {
        return Ok(Outcome::Expired);
    }
    if lifetime.is_revoked() {
        return Ok(Outcome::AlreadyRevoked);
    }
    let revoked = api_keys::revoke(write, key.project_id, key.id, now)?;
    if !revoked.by_this_call {
        // Another request revoked it between the read and the write; it notifies.
        return Ok(Outcome::AlreadyRevoked);
    }
    let revoked = revoked.key;
    let change = key_change(&revoked, KeyEvent::Revoked).fact("reason", "leaked");
    audit::record(write.conn(), revoked.project_id, scanner, change, now)?;
    let notices = write_notices(write.conn(), &revoked, KeyNotice::Revoked, now)?;
    Ok(Outcome::Revoked {
        key: Box::new(revoked),
        notices,
    })
}
