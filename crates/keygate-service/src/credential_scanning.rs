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
use keygate_domain::{parse_api_key, ApiKey, EpochMillis, KeyHash, Owner};
use keygate_permissions::SystemPermission;
use keygate_storage::key_changes::KeyWrite;
use keygate_storage::repo::notification_outbox::{self, NotificationRecord};
use keygate_storage::repo::{api_keys, projects, users};
use keygate_storage::{DbConnection, StorageError};
use uuid::Uuid;

use crate::api_keys::key_change;
use crate::audit::{self, AuditActor, KeyEvent, RequestOrigin};
use crate::error::{NotFound, Refusal, ServiceError};
use crate::revocation_notice::compose;
use crate::team_standing::members_holding;
use crate::Service;

/// What a report of a leaked key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakedKeyRevocation {
    /// The key was revoked by this report; `notices` owners were told.
    Revoked {
        /// The key, as revoked.
        key: ApiKey,
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
    Revoked { key: ApiKey, notices: usize },
}

/// The primary e-mails to notify about `key`, without duplicates, in a stable order.
fn recipients(conn: &mut DbConnection, key: &ApiKey) -> Result<Vec<String>, StorageError> {
    let user_ids = match key.owner {
        Owner::User(user) => vec![user],
        Owner::Team(team) => {
            members_holding(conn, key.project_id, team, SystemPermission::ManageApiKeys)?
        }
    };
    let mut emails: Vec<String> = Vec::new();
    for user in user_ids {
        let email = users::get(conn, key.project_id, user)?.and_then(|u| u.primary_email);
        if let Some(email) = email.filter(|e| !emails.contains(e)) {
            emails.push(email);
        }
    }
    Ok(emails)
}

/// Writes one notice per recipient; returns how many were new.
fn write_notices(
    conn: &mut DbConnection,
    key: &ApiKey,
    now: EpochMillis,
) -> Result<usize, StorageError> {
    let project_name = projects::get(conn, key.project_id)?
        .map(|project| project.display_name)
        .unwrap_or_default();
    let notice = compose(&key.description, &project_name);
    let mut written = 0;
    for email in recipients(conn, key)? {
        let record = NotificationRecord {
            id: Uuid::new_v4(),
            project_id: key.project_id,
            dedupe_key: format!("api-key-revoked/{}/{email}", key.id),
            recipient_email: email,
            subject: notice.subject.clone(),
            body_text: notice.body_text.clone(),
            body_html: notice.body_html.clone(),
            created_at_millis: now,
            sent_at_millis: None,
        };
        if notification_outbox::insert(conn, &record)? {
            written += 1;
        }
    }
    Ok(written)
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
    let notices = write_notices(write.conn(), &revoked, now)?;
    Ok(Outcome::Revoked {
        key: revoked,
        notices,
    })
}
