//! Webhooks: a project's endpoints, the events they receive, and how each is signed.
//!
//! **Key decisions.**
//! * **Queued with the change.** An event is queued for every enabled endpoint of the project
//!   that subscribes to it ([`enqueue`]), by the audit record of the change, in the change's own
//!   transaction: a committed change is always announced, a rolled-back one never. The delivery
//!   worker (`crate::delivery`) sends it later, at least once, with retries.
//! * **Signed as Standard Webhooks** (<https://www.standardwebhooks.com>): headers
//!   `webhook-id` (the delivery's id, the same on every attempt, for deduplication),
//!   `webhook-timestamp` (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//!   "id.timestamp.body">`; the secret is shown as `whsec_<base64>`, so every Standard Webhooks
//!   library verifies keygate's deliveries.
//! * **No secret is stored.** An endpoint's secret is HMAC-SHA-256(the node's signing root,
//!   label ‖ endpoint id); the binary derives the root from a stored server secret and, when
//!   set, the pepper (as the access-token signing key), so a copy of the database alone signs
//!   nothing under a pepper.
//!
//! Events: `user_api_key.created`, `.revoked`, `.leaked` (revoked because a credential scanner
//! found it in public), `.expiring` (it expires within `notifications.expiry_warning_days`),
//! and the same for `team_api_key`. The body is `{"type", "timestamp", "data"}`; `data` is the
//! key's non-secret facts (as in the audit log) with its `id`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use keygate_domain::{EpochMillis, ProjectId};
use keygate_storage::repo::webhooks::{
    self, DeliveryPosition, WebhookDeliveryRecord, WebhookEndpointRecord,
};
use keygate_storage::{DbConnection, StorageError};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::api_keys::split_page;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{NotFound, Refusal, ServiceError};
use crate::Service;

/// Every event type an endpoint can subscribe to.
pub const EVENT_TYPES: [&str; 10] = [
    "user_api_key.created",
    "user_api_key.revoked",
    "user_api_key.leaked",
    "user_api_key.expiring",
    "user_api_key.rotated",
    "team_api_key.created",
    "team_api_key.revoked",
    "team_api_key.leaked",
    "team_api_key.expiring",
    "team_api_key.rotated",
];

/// The webhook event of an audited change, if it has one: key creations, revocations (a
/// revocation reported by a credential scanner is `*.leaked`) and rotations.
pub(crate) fn event_type_of(change: &Change) -> Option<&'static str> {
    let leaked = change.metadata.get("reason") == Some(&Value::from("leaked"));
    Some(match change.action {
        AuditAction::UserApiKeyCreated => "user_api_key.created",
        AuditAction::UserApiKeyRevoked if leaked => "user_api_key.leaked",
        AuditAction::UserApiKeyRevoked => "user_api_key.revoked",
        AuditAction::UserApiKeyRotated => "user_api_key.rotated",
        AuditAction::TeamApiKeyCreated => "team_api_key.created",
        AuditAction::TeamApiKeyRevoked if leaked => "team_api_key.leaked",
        AuditAction::TeamApiKeyRevoked => "team_api_key.revoked",
        AuditAction::TeamApiKeyRotated => "team_api_key.rotated",
        _ => return None,
    })
}

/// The `data` of a key event: the key's id and its facts.
pub(crate) fn key_event_data(object_id: &str, metadata: &Map<String, Value>) -> Value {
    let mut data = metadata.clone();
    data.insert("id".to_owned(), Value::from(object_id));
    Value::Object(data)
}

/// Queues the event `event_type` with `data` for every enabled endpoint of `project` that
/// subscribes to it, deduplicated per endpoint by `dedupe_key`; call it in the transaction of
/// the change it reports. Returns how many deliveries were queued.
pub(crate) fn enqueue(
    conn: &mut DbConnection,
    project: ProjectId,
    event_type: &str,
    dedupe_key: &str,
    data: Value,
    now: EpochMillis,
) -> Result<usize, StorageError> {
    let endpoints = webhooks::list_endpoints(conn, project, u32::MAX)?;
    enqueue_to(conn, &endpoints, project, event_type, dedupe_key, data, now)
}

/// [`enqueue`] to `endpoints`, the endpoints of `project` as read in the same transaction (for
/// several events at once, which read them once).
pub(crate) fn enqueue_to(
    conn: &mut DbConnection,
    endpoints: &[WebhookEndpointRecord],
    project: ProjectId,
    event_type: &str,
    dedupe_key: &str,
    data: Value,
    now: EpochMillis,
) -> Result<usize, StorageError> {
    let subscribed = endpoints.iter().filter(|endpoint| {
        !endpoint.disabled
            && (endpoint.event_types.is_empty()
                || endpoint.event_types.iter().any(|t| t == event_type))
    });
    let timestamp = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let payload = json!({"type": event_type, "timestamp": timestamp, "data": data}).to_string();
    let mut queued = 0;
    for endpoint in subscribed {
        let delivery = WebhookDeliveryRecord {
            id: format!("msg_{}", Uuid::now_v7().simple()),
            project_id: project,
            endpoint_id: endpoint.id,
            dedupe_key: format!("{dedupe_key}/{}", endpoint.id),
            event_type: event_type.to_owned(),
            payload: payload.clone(),
            created_at_millis: now,
            attempts: 0,
            next_attempt_at_millis: now,
            claimed_at_millis: None,
            delivered_at_millis: None,
            failed_at_millis: None,
            last_status: None,
            last_error: None,
        };
        if webhooks::insert_delivery(conn, &delivery)? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Derives each endpoint's signing secret from the node's root; see the module docs.
#[derive(Clone)]
pub struct WebhookSecrets {
    root: [u8; 32],
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecrets(..)")
    }
}

/// What the derivation feeds HMAC before the endpoint id: names the purpose and its version.
const SECRET_LABEL: &[u8] = b"keygate webhook endpoint secret v1";

/// What prefixes a secret as shown (Standard Webhooks).
const SECRET_PREFIX: &str = "whsec_";

impl WebhookSecrets {
    /// Secrets derived from `root` (32 bytes the nodes of one deployment share).
    pub fn new(root: [u8; 32]) -> Self {
        WebhookSecrets { root }
    }

    /// A root of fresh random bytes (a node whose deployment set none: tests, commands).
    pub fn random() -> Self {
        let mut root = [0_u8; 32];
        root[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        root[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        WebhookSecrets { root }
    }

    /// The secret of the endpoint `endpoint`.
    fn secret(&self, endpoint: Uuid) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.root)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(SECRET_LABEL);
        mac.update(endpoint.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The secret of `endpoint` as its owner configures it: `whsec_<base64>`.
    pub fn secret_text(&self, endpoint: Uuid) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(self.secret(endpoint)))
    }

    /// The `webhook-signature` header of the message `id` sent at `timestamp` (seconds) with
    /// `body` to `endpoint`.
    pub fn signature(&self, endpoint: Uuid, id: &str, timestamp: i64, body: &str) -> String {
        sign(&self.secret(endpoint), id, timestamp, body)
    }
}

/// Standard Webhooks' `v1` signature: base64 of HMAC-SHA256(secret, `id.timestamp.body`).
fn sign(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// A new endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// Where events are POSTed (the HTTP layer checks it is an http(s) URL).
    pub url: String,
    /// What it is for.
    pub description: String,
    /// The event types it receives (each one of [`EVENT_TYPES`]); empty means all.
    pub event_types: Vec<String>,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookChanges {
    /// A new URL.
    pub url: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// Pause (`true`) or resume deliveries.
    pub disabled: Option<bool>,
}

/// The audit record of `action` on `endpoint` (its URL and subscriptions).
fn endpoint_change(action: AuditAction, endpoint: &WebhookEndpointRecord) -> Change {
    Change::new(action, endpoint.id)
        .fact("url", endpoint.url.clone())
        .fact("description", endpoint.description.clone())
        .fact("event_types", endpoint.event_types.clone())
        .fact("disabled", endpoint.disabled)
}

/// A page of an endpoint's deliveries and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    /// The deliveries, newest first.
    pub deliveries: Vec<WebhookDeliveryRecord>,
    /// For a page that is not the last: the position to continue after.
    pub next: Option<DeliveryPosition>,
}

impl Service {
    /// Creates an endpoint for `project` (at most `Limits::max_webhooks_per_project`); returns
    /// it with its signing secret.
    pub async fn create_webhook(
        &self,
        project: ProjectId,
        new: NewWebhook,
        by: AuditActor,
    ) -> Result<(WebhookEndpointRecord, String), ServiceError> {
        let now = self.now();
        let endpoint = WebhookEndpointRecord {
            id: Uuid::new_v4(),
            project_id: project,
            url: new.url,
            description: new.description,
            event_types: new.event_types,
            disabled: false,
            created_at_millis: now,
        };
        let endpoint = self
            .run(move |service, conn| {
                conn.in_transaction_with(|conn| {
                    let limit = service.limits().max_webhooks_per_project;
                    if webhooks::count_endpoints(conn, project)? >= limit {
                        return Err(Refusal::TooManyWebhooks { limit }.into());
                    }
                    webhooks::insert_endpoint(conn, &endpoint)?;
                    let change = endpoint_change(AuditAction::WebhookEndpointCreated, &endpoint);
                    audit::record(conn, project, &by, change, now)?;
                    Ok(endpoint.clone())
                })
            })
            .await?;
        let secret = self.webhook_secrets().secret_text(endpoint.id);
        Ok((endpoint, secret))
    }

    /// The endpoints of `project`, oldest first.
    pub async fn list_webhooks(
        &self,
        project: ProjectId,
    ) -> Result<Vec<WebhookEndpointRecord>, ServiceError> {
        self.run(move |service, conn| {
            let limit = service.limits().max_webhooks_per_project;
            Ok(webhooks::list_endpoints(
                conn,
                project,
                u32::try_from(limit).unwrap_or(u32::MAX),
            )?)
        })
        .await
    }

    /// The endpoint `id` of `project`.
    pub async fn webhook(
        &self,
        project: ProjectId,
        id: Uuid,
    ) -> Result<WebhookEndpointRecord, ServiceError> {
        self.run(move |_, conn| {
            webhooks::get_endpoint(conn, project, id)?.ok_or(NotFound::Webhook.into())
        })
        .await
    }

    /// Changes the endpoint `id` of `project` (recorded when anything changed).
    pub async fn update_webhook(
        &self,
        project: ProjectId,
        id: Uuid,
        changes: WebhookChanges,
        by: AuditActor,
    ) -> Result<WebhookEndpointRecord, ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            conn.in_transaction_with(|conn| {
                let before = webhooks::get_endpoint(conn, project, id)?.ok_or(NotFound::Webhook)?;
                let after = WebhookEndpointRecord {
                    url: changes.url.clone().unwrap_or_else(|| before.url.clone()),
                    description: changes
                        .description
                        .clone()
                        .unwrap_or_else(|| before.description.clone()),
                    event_types: changes
                        .event_types
                        .clone()
                        .unwrap_or_else(|| before.event_types.clone()),
                    disabled: changes.disabled.unwrap_or(before.disabled),
                    ..before.clone()
                };
                if after != before {
                    webhooks::update_endpoint(conn, &after)?;
                    let change = endpoint_change(AuditAction::WebhookEndpointUpdated, &after);
                    audit::record(conn, project, &by, change, now)?;
                }
                Ok(after)
            })
        })
        .await
    }

    /// Deletes the endpoint `id` of `project` with its deliveries.
    pub async fn delete_webhook(
        &self,
        project: ProjectId,
        id: Uuid,
        by: AuditActor,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            conn.in_transaction_with(|conn| {
                let endpoint =
                    webhooks::get_endpoint(conn, project, id)?.ok_or(NotFound::Webhook)?;
                webhooks::delete_endpoint(conn, project, id)?;
                let change = endpoint_change(AuditAction::WebhookEndpointDeleted, &endpoint);
                Ok(audit::record(conn, project, &by, change, now)?)
            })
        })
        .await
    }

    /// At most `limit` deliveries to the endpoint `id` of `project`, newest first, after
    /// `after`.
    pub async fn list_webhook_deliveries(
        &self,
        project: ProjectId,
        id: Uuid,
        limit: usize,
        after: Option<DeliveryPosition>,
    ) -> Result<DeliveryPage, ServiceError> {
        self.run(move |_, conn| {
            webhooks::get_endpoint(conn, project, id)?.ok_or(NotFound::Webhook)?;
            let deliveries = webhooks::list_deliveries(
                conn,
                project,
                id,
                after.as_ref(),
                limit.saturating_add(1),
            )?;
            let (deliveries, next) = split_page(deliveries, limit, |d| DeliveryPosition {
                created_at_millis: d.created_at_millis,
                id: d.id.clone(),
            });
            Ok(DeliveryPage { deliveries, next })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn each_endpoint_has_its_own_secret_and_none_is_the_root() {
        let secrets = WebhookSecrets::new([7; 32]);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_ne!(secrets.secret_text(a), secrets.secret_text(b));
        assert_eq!(
            secrets.secret_text(a),
            WebhookSecrets::new([7; 32]).secret_text(a)
        );
        assert_ne!(
            secrets.secret_text(a),
            WebhookSecrets::new([8; 32]).secret_text(a)
        );
        assert!(secrets.secret_text(a).starts_with("whsec_"));
        assert_eq!(
            STANDARD.decode(&secrets.secret_text(a)[6..]).unwrap().len(),
            32
        );
    }

    #[test]
    fn key_changes_map_to_events_and_a_scanners_revoke_is_a_leak() {
        let created = Change::new(AuditAction::TeamApiKeyCreated, "k");
        assert_eq!(event_type_of(&created), Some("team_api_key.created"));
        let revoked = Change::new(AuditAction::UserApiKeyRevoked, "k");
        assert_eq!(event_type_of(&revoked), Some("user_api_key.revoked"));
        let leaked = revoked.fact("reason", "leaked");
        assert_eq!(event_type_of(&leaked), Some("user_api_key.leaked"));
        assert_eq!(
            event_type_of(&Change::new(AuditAction::ProjectUpdated, "p")),
            None
        );
        for event in EVENT_TYPES {
            assert!(event.starts_with("user_api_key.") || event.starts_with("team_api_key."));
        }
    }
}
