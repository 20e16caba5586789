//! The audit log: who changed which key, credential, project, membership or team permission,
//! when, from where — recorded in the same transaction as the change.
//!
//! **Key decision: the record is part of the change.** Every use case that changes one of those
//! objects calls [`record`] with the connection of its own transaction, so a committed change
//! always has its event and a rolled-back one never does; nothing is written after the fact, and
//! a failure to write the event fails the change. Events are never updated; past
//! [`AuditSettings::retention_days`] they are deleted oldest first ([`Service::prune_audit_log`],
//! run by the binary).
//!
//! An event names its action with upstream's dotted names ([`AuditAction`]), the actor
//! ([`AuditActor`]: a user, a project credential by its last four characters, the operator, a
//! credential scanner), the request (`x-stack-request-id` and client address, [`RequestOrigin`])
//! and a JSON object of facts about the change. **Never a secret**: metadata holds descriptions,
//! expiries and last four characters only — the at-rest scan of the HTTP tests reads this table
//! too.

use std::fmt;
use std::net::IpAddr;

use keygate_domain::{EpochMillis, KeyType, ProjectId, UserId};
use keygate_permissions::AccessType;
use keygate_storage::repo::audit_events::{self, AuditEventRecord, AuditFilter, AuditPosition};
use keygate_storage::repo::webhooks as webhook_endpoints;
use keygate_storage::{DbConnection, StorageError};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::actor::Actor;
use crate::api_keys::split_page;
use crate::error::ServiceError;
use crate::webhooks;
use crate::Service;

/// What happened, with upstream's dotted names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A user API key was created.
    UserApiKeyCreated,
    /// A user API key's description changed.
    UserApiKeyUpdated,
    /// A user API key was revoked (by its owner, a server, the operator or a scanner).
    UserApiKeyRevoked,
    /// A user API key was rotated: a new key replaced it, and it expires after the grace period
    /// (or was revoked at once).
    UserApiKeyRotated,
    /// A team API key was created.
    TeamApiKeyCreated,
    /// A team API key's description changed.
    TeamApiKeyUpdated,
    /// A team API key was revoked.
    TeamApiKeyRevoked,
    /// A team API key was rotated.
    TeamApiKeyRotated,
    /// A project credential was issued.
    ProjectApiKeyCreated,
    /// A project credential's description changed.
    ProjectApiKeyUpdated,
    /// A project credential was revoked.
    ProjectApiKeyRevoked,
    /// A project was created.
    ProjectCreated,
    /// A project's name, switches or CORS settings changed.
    ProjectUpdated,
    /// A user was added to a team.
    TeamMembershipCreated,
    /// A user left a team (or was removed).
    TeamMembershipDeleted,
    /// A member changed their profile in a team (name or picture there).
    TeamMemberProfileUpdated,
    /// A team permission was granted to a member.
    TeamPermissionGranted,
    /// A team permission was taken from a member.
    TeamPermissionRevoked,
    /// A user was deleted, with their keys, sessions and memberships.
    UserDeleted,
    /// A session was signed out from the sessions list (not an ordinary sign-out).
    SessionRevoked,
    /// A team was deleted, with its keys, memberships and grants.
    TeamDeleted,
    /// A webhook endpoint was added.
    WebhookEndpointCreated,
    /// A webhook endpoint's URL, description, events or pause changed.
    WebhookEndpointUpdated,
    /// A webhook endpoint was deleted, with its deliveries.
    WebhookEndpointDeleted,
}

impl AuditAction {
    /// Every action, in the order of the docs.
    pub const ALL: [AuditAction; 24] = [
        AuditAction::UserApiKeyCreated,
        AuditAction::UserApiKeyUpdated,
        AuditAction::UserApiKeyRevoked,
        AuditAction::UserApiKeyRotated,
        AuditAction::TeamApiKeyCreated,
        AuditAction::TeamApiKeyUpdated,
        AuditAction::TeamApiKeyRevoked,
        AuditAction::TeamApiKeyRotated,
        AuditAction::ProjectApiKeyCreated,
        AuditAction::ProjectApiKeyUpdated,
        AuditAction::ProjectApiKeyRevoked,
        AuditAction::ProjectCreated,
        AuditAction::ProjectUpdated,
        AuditAction::TeamMembershipCreated,
        AuditAction::TeamMembershipDeleted,
        AuditAction::TeamMemberProfileUpdated,
        AuditAction::TeamPermissionGranted,
        AuditAction::TeamPermissionRevoked,
        AuditAction::UserDeleted,
        AuditAction::SessionRevoked,
        AuditAction::TeamDeleted,
        AuditAction::WebhookEndpointCreated,
        AuditAction::WebhookEndpointUpdated,
        AuditAction::WebhookEndpointDeleted,
    ];

    /// The dotted name, e.g. `user_api_key.revoked`.
    pub fn name(self) -> &'static str {
        match self {
            AuditAction::UserApiKeyCreated => "user_api_key.created",
            AuditAction::UserApiKeyUpdated => "user_api_key.updated",
            AuditAction::UserApiKeyRevoked => "user_api_key.revoked",
            AuditAction::UserApiKeyRotated => "user_api_key.rotated",
            AuditAction::TeamApiKeyCreated => "team_api_key.created",
            AuditAction::TeamApiKeyUpdated => "team_api_key.updated",
            AuditAction::TeamApiKeyRevoked => "team_api_key.revoked",
            AuditAction::TeamApiKeyRotated => "team_api_key.rotated",
            AuditAction::ProjectApiKeyCreated => "project_api_key.created",
            AuditAction::ProjectApiKeyUpdated => "project_api_key.updated",
            AuditAction::ProjectApiKeyRevoked => "project_api_key.revoked",
            AuditAction::ProjectCreated => "project.created",
            AuditAction::ProjectUpdated => "project.updated",
            AuditAction::TeamMembershipCreated => "team_membership.created",
            AuditAction::TeamMembershipDeleted => "team_membership.deleted",
            AuditAction::TeamMemberProfileUpdated => "team_member_profile.updated",
            AuditAction::TeamPermissionGranted => "team_permission.granted",
            AuditAction::TeamPermissionRevoked => "team_permission.revoked",
            AuditAction::UserDeleted => "user.deleted",
            AuditAction::SessionRevoked => "session.revoked",
            AuditAction::TeamDeleted => "team.deleted",
            AuditAction::WebhookEndpointCreated => "webhook_endpoint.created",
            AuditAction::WebhookEndpointUpdated => "webhook_endpoint.updated",
            AuditAction::WebhookEndpointDeleted => "webhook_endpoint.deleted",
        }
    }

    /// The kind of object the action changes: the part of the name before the dot.
    pub fn object_type(self) -> &'static str {
        let name = self.name();
        name.split_once('.').map_or(name, |(object, _)| object)
    }

    /// The action named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<AuditAction> {
        Self::ALL.into_iter().find(|action| action.name() == name)
    }

    /// The action of a user or team key's `event`.
    pub(crate) fn for_key(key_type: KeyType, event: KeyEvent) -> AuditAction {
        match (key_type, event) {
            (KeyType::User, KeyEvent::Created) => AuditAction::UserApiKeyCreated,
            (KeyType::User, KeyEvent::Updated) => AuditAction::UserApiKeyUpdated,
            (KeyType::User, KeyEvent::Revoked) => AuditAction::UserApiKeyRevoked,
            (KeyType::User, KeyEvent::Rotated) => AuditAction::UserApiKeyRotated,
            (KeyType::Team, KeyEvent::Created) => AuditAction::TeamApiKeyCreated,
            (KeyType::Team, KeyEvent::Updated) => AuditAction::TeamApiKeyUpdated,
            (KeyType::Team, KeyEvent::Revoked) => AuditAction::TeamApiKeyRevoked,
            (KeyType::Team, KeyEvent::Rotated) => AuditAction::TeamApiKeyRotated,
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to a key (with [`AuditAction::for_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyEvent {
    Created,
    Updated,
    Revoked,
    Rotated,
}

/// Who acts, as the audit log names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorType {
    /// A signed-in user (client access with a session).
    User,
    /// Client access without a session.
    Client,
    /// A backend with the project's secret server key.
    Server,
    /// The project's super secret admin key.
    Admin,
    /// keygate's operator: the operator token, or the `keygate` command line.
    Operator,
    /// A credential scanner reporting a leaked key.
    Scanner,
    /// keygate itself (the demo sign-in issuing its client key).
    System,
}

impl ActorType {
    /// Every actor type.
    pub const ALL: [ActorType; 7] = [
        ActorType::User,
        ActorType::Client,
        ActorType::Server,
        ActorType::Admin,
        ActorType::Operator,
        ActorType::Scanner,
        ActorType::System,
    ];

    /// The name in events: `user`, `client`, `server`, `admin`, `operator`, `scanner` or
    /// `system`.
    pub fn name(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::Client => "client",
            ActorType::Server => "server",
            ActorType::Admin => "admin",
            ActorType::Operator => "operator",
            ActorType::Scanner => "scanner",
            ActorType::System => "system",
        }
    }

    /// The actor type named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<ActorType> {
        Self::ALL.into_iter().find(|actor| actor.name() == name)
    }
}

/// Where a request came from: its id, the client's address, and the last four characters of
/// the project key it presented (never more of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    /// The request's `x-stack-request-id`.
    pub request_id: Option<Uuid>,
    /// The client's address (behind trusted proxies, the forwarded one).
    pub client_address: Option<IpAddr>,
    /// The last four characters of the project key the request presented.
    pub key_last_four: Option<[u8; 4]>,
}

impl RequestOrigin {
    /// The last four characters of `key` (ASCII keys only; `None` otherwise).
    pub fn last_four_of(key: &str) -> Option<[u8; 4]> {
        let bytes = key.as_bytes();
        let tail: [u8; 4] = bytes.get(bytes.len().checked_sub(4)?..)?.try_into().ok()?;
        tail.is_ascii().then_some(tail)
    }

    fn key_last_four(&self) -> Option<&str> {
        self.key_last_four
            .as_ref()
            .and_then(|tail| std::str::from_utf8(tail).ok())
    }
}

/// Who made a change, as an event records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor {
    /// The kind of actor.
    pub actor_type: ActorType,
    /// The acting user, when a user acted.
    pub user_id: Option<UserId>,
    /// A readable name: which credential, the operator's channel, the scanner.
    pub label: Option<String>,
    /// The request that made the change, if one did.
    pub origin: RequestOrigin,
}

impl AuditActor {
    /// The caller of a project request.
    pub fn of(actor: &Actor) -> AuditActor {
        let session_user = actor.session_user();
        let (actor_type, user_id, key_name) = match actor.caller.access_type {
            AccessType::Client if session_user.is_some() => {
                (ActorType::User, session_user, "publishable client key")
            }
            AccessType::Client => (ActorType::Client, None, "publishable client key"),
            AccessType::Server => (ActorType::Server, None, "secret server key"),
            AccessType::Admin => (ActorType::Admin, None, "super secret admin key"),
        };
        let label = actor
            .origin
            .key_last_four()
            .map(|tail| format!("{key_name} …{tail}"));
        AuditActor {
            actor_type,
            user_id,
            label,
            origin: actor.origin,
        }
    }

    /// The operator, through the operator token on the HTTP API.
    pub fn operator_token(origin: RequestOrigin) -> AuditActor {
        AuditActor {
            actor_type: ActorType::Operator,
            user_id: None,
            label: Some("operator token".to_owned()),
            origin,
        }
    }

    /// The operator at the `keygate` command line (`label` says which command, e.g. `keygate
    /// keys revoke` or `first start`).
    pub fn command_line(label: &str) -> AuditActor {
        AuditActor {
            actor_type: ActorType::Operator,
            user_id: None,
            label: Some(label.to_owned()),
            origin: RequestOrigin::default(),
        }
    }

    /// keygate itself, doing what `label` says.
    pub fn system(label: &str) -> AuditActor {
        AuditActor {
            actor_type: ActorType::System,
            user_id: None,
            label: Some(label.to_owned()),
            origin: RequestOrigin::default(),
        }
    }

    /// A credential scanner reporting a leaked key.
    pub fn scanner(origin: RequestOrigin) -> AuditActor {
        AuditActor {
            actor_type: ActorType::Scanner,
            user_id: None,
            label: Some("credential scanner".to_owned()),
            origin,
        }
    }
}

/// One change to record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    /// What happened.
    pub action: AuditAction,
    /// The changed object's id.
    pub object_id: String,
    /// The user the change affects, if one.
    pub target_user_id: Option<UserId>,
    /// Non-secret facts about the change.
    pub metadata: Map<String, Value>,
}

impl Change {
    /// A change of `action` to the object `object_id`, with no target user and no facts yet.
    pub fn new(action: AuditAction, object_id: impl ToString) -> Change {
        Change {
            action,
            object_id: object_id.to_string(),
            target_user_id: None,
            metadata: Map::new(),
        }
    }

    /// The same change, affecting `user`.
    pub fn target(mut self, user: Option<UserId>) -> Change {
        self.target_user_id = user;
        self
    }

    /// The same change with the fact `name` (left out when `value` is `null`).
    pub fn fact(mut self, name: &str, value: impl Into<Value>) -> Change {
        let value = value.into();
        if !value.is_null() {
            self.metadata.insert(name.to_owned(), value);
        }
        self
    }
}

/// Records `change` to `project` by `actor` at `now`; call it with the connection of the
/// change's own transaction.
pub(crate) fn record(
    conn: &mut DbConnection,
    project: ProjectId,
    actor: &AuditActor,
    change: Change,
    now: EpochMillis,
) -> Result<(), StorageError> {
    record_many(conn, project, [(actor, change, now)])
}

/// Records `changes` to `project`, each by its actor at its instant, as [`record`] records one:
/// the project's webhook endpoints are read at most once and the events are stored together.
pub(crate) fn record_many<'a>(
    conn: &mut DbConnection,
    project: ProjectId,
    changes: impl IntoIterator<Item = (&'a AuditActor, Change, EpochMillis)>,
) -> Result<(), StorageError> {
    let mut endpoints = None;
    let mut events = Vec::new();
    for (actor, change, now) in changes {
        // Time-ordered and monotonic within the process: events of one millisecond list in the
        // order they were made.
        let id = Uuid::now_v7();
        if let Some(event_type) = webhooks::event_type_of(&change) {
            if endpoints.is_none() {
                endpoints = Some(webhook_endpoints::list_endpoints(conn, project, u32::MAX)?);
            }
            let data = webhooks::key_event_data(&change.object_id, &change.metadata);
            webhooks::enqueue_to(
                conn,
                endpoints.as_deref().unwrap_or_default(),
                project,
                event_type,
                &format!("audit/{id}"),
                data,
                now,
            )?;
        }
        events.push(AuditEventRecord {
            id,
            project_id: project,
            created_at_millis: now,
            action: change.action.name().to_owned(),
            object_type: change.action.object_type().to_owned(),
            object_id: change.object_id,
            actor_type: actor.actor_type.name().to_owned(),
            actor_user_id: actor.user_id,
            actor_label: actor.label.clone(),
            target_user_id: change.target_user_id,
            request_id: actor.origin.request_id.map(|id| id.simple().to_string()),
            client_address: actor.origin.client_address.map(|ip| ip.to_string()),
            metadata: Value::Object(change.metadata).to_string(),
        });
    }
    audit_events::insert_many(conn, &events)
}

/// The audit log's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// Events older than this many days are deleted; `0` keeps them forever.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            retention_days: 365,
        }
    }
}

/// How many events one pruning statement deletes at most.
const PRUNE_BATCH: u32 = 1_000;

/// A page of events and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    /// The events, newest first.
    pub events: Vec<AuditEventRecord>,
    /// For a page that is not the last: the position to continue after.
    pub next: Option<AuditPosition>,
}

impl Service {
    /// At most `limit` events of `project` that pass `filter`, newest first, starting right
    /// after `after`.
    pub async fn list_audit_events(
        &self,
        project: ProjectId,
        filter: AuditFilter,
        limit: usize,
        after: Option<AuditPosition>,
    ) -> Result<AuditPage, ServiceError> {
        self.run(move |_, conn| {
            let events =
                audit_events::list_page(conn, project, &filter, after, limit.saturating_add(1))?;
            let (events, next) = split_page(events, limit, AuditPosition::of);
            Ok(AuditPage { events, next })
        })
        .await
    }

    /// Deletes the events older than `settings.retention_days` (of every project), a batch per
    /// statement; returns how many were deleted. Nothing with a retention of `0`.
    pub async fn prune_audit_log(&self, settings: AuditSettings) -> Result<usize, ServiceError> {
        if settings.retention_days == 0 {
            return Ok(0);
        }
        let before = self
            .now()
            .saturating_sub(i64::from(settings.retention_days) * 24 * 60 * 60 * 1000);
        self.run(move |_, conn| {
            let mut deleted = 0;
            loop {
                let batch = audit_events::delete_older_than(conn, before, PRUNE_BATCH)?;
                deleted += batch;
                if batch < PRUNE_BATCH as usize {
                    return Ok(deleted);
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_dotted_and_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::from_name(action.name()), Some(action));
            assert!(action.name().starts_with(action.object_type()));
            assert_eq!(action.name().matches('.').count(), 1, "{action}");
        }
        assert_eq!(
            AuditAction::ProjectApiKeyRevoked.name(),
            "project_api_key.revoked"
        );
        assert_eq!(
            AuditAction::TeamPermissionGranted.object_type(),
            "team_permission"
        );
        assert_eq!(AuditAction::from_name("user_api_key.deleted"), None);
    }

    #[test]
    fn only_four_ascii_characters_of_a_key_are_kept() {
        assert_eq!(
            RequestOrigin::last_four_of("ssk_abcdef1234"),
            Some(*b"1234")
        );
        assert_eq!(RequestOrigin::last_four_of("abc"), None);
        assert_eq!(RequestOrigin::last_four_of("ab\u{e9}cd"), None);
    }
}
