//! `POST /api/v1/integrations/credential-scanning/revoke`: a secret scanner (e.g. GitHub's
//! partner program) reports a key found in public; keygate revokes it and tells its owner.
//!
//! No project authentication: any `x-stack-*` headers are ignored, and the lookup is global (by
//! the key's hash) and ignores the projects' switches. Order, as upstream: a string that is not
//! a well-formed key is `API_KEY_NOT_FOUND` without a database query; then not found → public
//! keys refused (`PUBLIC_API_KEY_CANNOT_BE_REVOKED`) → expired (`API_KEY_EXPIRED`) → already
//! revoked (200, no second notice) → revoke.
//!
//! The revocation and its notices are written in one transaction: each notice goes to the
//! durable outbox (`notification_outbox`), to be delivered by a later worker. Recipients are the
//! owning user's primary e-mail, or for a team key every member who holds `$manage_api_keys`
//! (recursively) — each with a primary e-mail; users without one cannot be written to and are
//! left out, as upstream does. Each notice carries a dedupe key (`api-key-revoked/<key
//! id>/<email>`), so two reports racing for the same key notify each recipient once.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{parse_api_key, ApiKey, EpochMillis, Owner};
use keygate_permissions::SystemPermission;
use keygate_storage::repo::notification_outbox::{self, NotificationRecord};
use keygate_storage::repo::{api_keys, projects, users};
use keygate_storage::{DbConnection, StorageError};
use serde_json::json;
use uuid::Uuid;

use super::input::read_api_key_body;
use super::revocation_notice::compose;
use crate::check_cache::{write_keys, CheckCache};
use crate::conventions::json_response;
use crate::request_body::RequestBody;
use crate::routes::team_standing::members_holding;
use crate::state::AppState;
use crate::validation::RequestCheck;
use crate::wire_error::{ApiError, KnownError};

/// The endpoint's path.
pub(super) const REVOKE_PATH: &str = "/api/v1/integrations/credential-scanning/revoke";

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

/// Finds, checks and revokes the key with `hash`, with its notices, in one transaction; the
/// revoked key leaves the check cache before this returns.
fn revoke_and_notify(
    conn: &mut DbConnection,
    cache: &CheckCache,
    hash: &keygate_domain::KeyHash,
    now: EpochMillis,
) -> Result<Outcome, StorageError> {
    write_keys(conn, cache, |conn| {
        let outcome = find_and_revoke(conn, hash, now)?;
        let changed = match &outcome {
            Outcome::Revoked { key, .. } => vec![key.id],
            _ => Vec::new(),
        };
        Ok((outcome, changed))
    })
}

/// The steps of [`revoke_and_notify`] inside its transaction.
fn find_and_revoke(
    conn: &mut DbConnection,
    hash: &keygate_domain::KeyHash,
    now: EpochMillis,
) -> Result<Outcome, StorageError> {
    let Some(key) = api_keys::find_by_hash(conn, hash)? else {
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
    let revoked = api_keys::revoke(conn, key.project_id, key.id, now)?;
    if revoked.manually_revoked_at_millis != Some(now) {
        // Another request revoked it between the read and the write; it notifies.
        return Ok(Outcome::AlreadyRevoked);
    }
    let notices = write_notices(conn, &revoked, now)?;
    Ok(Outcome::Revoked {
        key: revoked,
        notices,
    })
}

/// The handler.
pub(super) async fn revoke(
    body: RequestBody,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request);
    let presented = check.body(&body, read_api_key_body);
    let query = check.query(|_| ());
    let (presented, ()) = check.finish((presented, query))?;
    if parse_api_key(&presented).is_err() {
        return Err(KnownError::ApiKeyNotFound.into());
    }
    let hash = state.hasher().hash(&presented);
    drop(presented);
    let now = state.now();
    let cache = Arc::clone(state.check_cache());
    let outcome = state
        .with_conn(move |conn| Ok(revoke_and_notify(conn, &cache, &hash, now)?))
        .await?;
    match outcome {
        Outcome::NotFound => Err(KnownError::ApiKeyNotFound.into()),
        Outcome::Public => Err(KnownError::PublicApiKeyCannotBeRevoked.into()),
        Outcome::Expired => Err(KnownError::ApiKeyExpired.into()),
        Outcome::AlreadyRevoked => json_response(StatusCode::OK, &json!({"success": true})),
        Outcome::Revoked { key, notices } => {
            tracing::info!(
                api_key_id = %key.id,
                project_id = %key.project_id,
                notices,
                "revoked an API key reported by a credential scanner"
            );
            json_response(StatusCode::OK, &json!({"success": true}))
        }
    }
}
