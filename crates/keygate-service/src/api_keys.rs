//! The API-key use cases: create, list, read, update (revoke) and check user and team keys.
//!
//! Each asks `keygate_permissions::authorize_api_key` for its decision, loading the session
//! user's standing in the owning team first when the decision needs it, and runs its database
//! work in one blocking task. Keys are generated, parsed and checked by `keygate-domain`; only
//! their hash and last four characters are stored, and the full key exists only in what
//! [`Service::create_api_key`] returns. Every change goes through `Service::write_keys`.
//!
//! An owner has at most `Limits::max_keys_per_owner` keys, revoked ones included (keys are never
//! deleted, so only that bounds a list); the create reads their number from the owner's row,
//! which it locks, in its insert's transaction (the database adds every inserted key to its
//! owner's count, so the read costs the same however many keys the owner has). A list is every
//! key (upstream) or, when asked, a keyset page ([`ListWindow`]) that says where the next one
//! starts.
//!
//! The check ([`Service::check_api_key`]) is the hot path: a string that is not a well-formed key
//! is not found before any database work; a well-formed key is found by the id embedded in it —
//! in the node's [`CheckCache`](crate::check_cache::CheckCache), else in the database — and its
//! hash is compared in constant time, so a forged key with a real id is not found either; a key
//! of another project is not found. The cache holds rows, not verdicts: revocation and expiry
//! are evaluated on every check, and a valid check is noted in memory as a use
//! ([`KeyUsage`]), never written on the check path.

use std::collections::HashMap;
use std::sync::Arc;

use keygate_domain::{
    parse_api_key, ApiKey, ApiKeyId, EpochMillis, KeyPolicy, KeyType, NewApiKey, Owner,
    PlainApiKey, ProjectId,
};
use keygate_permissions::{authorize_api_key, AccessType, ApiKeyAction};
use keygate_storage::repo::api_keys;
pub use keygate_storage::repo::api_keys::KeyPosition;
use keygate_storage::repo::{projects, teams, users};
use keygate_storage::{DbConnection, StorageError};

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change, KeyEvent};
use crate::check_cache::CachedLookup;
use crate::error::{NotFound, Refusal, ServiceError};
use crate::key_rate_limits::RateVerdict;
use crate::key_usage::KeyUsage;
use crate::metrics::CheckOutcome;
use crate::scopes::{parse_catalogue, unknown_scopes};
use crate::team_standing::load_standing;
use crate::Service;

/// A key to create (the owner already resolved from `me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeyRequest {
    /// The user or team the key is for.
    pub owner: Owner,
    /// What the key is for.
    pub description: String,
    /// Whether the key is meant to be seen (a scanner may not revoke it).
    pub is_public: bool,
    /// When it stops being valid; `None` never.
    pub expires_at_millis: Option<EpochMillis>,
    /// Its scopes (each in the project's catalogue) and metadata (server and admin only).
    pub policy: KeyPolicy,
}

/// Changes to a key: a new description and/or revocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyChanges {
    /// A new description.
    pub description: Option<String>,
    /// Revoke the key (set once, never undone).
    pub revoke: bool,
}

impl KeyChanges {
    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && !self.revoke
    }
}

/// A key with the last time it was used (stored or pending on this node), if ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWithUsage {
    /// The key as stored.
    pub key: ApiKey,
    /// When it was last used, if ever.
    pub last_used_at_millis: Option<EpochMillis>,
}

/// Which part of an owner's keys a list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListWindow {
    /// Every key (upstream's unpaginated list; the per-owner cap bounds it).
    #[default]
    All,
    /// At most `limit` keys, starting right after `after` (from the newest when `None`).
    Page {
        /// How many keys at most (the HTTP layer keeps it within `Limits::max_page_size`).
        limit: usize,
        /// The last key of the previous page.
        after: Option<KeyPosition>,
    },
}

/// A list of keys with when each was last used, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyList {
    /// The keys, newest first.
    pub keys: Vec<ApiKey>,
    /// When each listed key was last used (keys never used are left out).
    pub last_used: HashMap<ApiKeyId, EpochMillis>,
    /// For a page that is not the last: the position to continue after.
    pub next: Option<KeyPosition>,
}

/// A key that passed the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedKey {
    /// The key as stored (shared with the check cache).
    pub key: Arc<ApiKey>,
    /// This use, or a later one already noted on this node.
    pub last_used_at_millis: EpochMillis,
    /// Where the key stands against its rate limit, if it has one.
    pub rate: Option<RateVerdict>,
    /// The usage credits left after this check, as this node knows them, if the key has any.
    pub remaining_uses: Option<i64>,
}

/// Asks for the decision on `action`, loading the session user's standing in the owning team
/// first when the decision needs it.
fn authorize(
    conn: &mut DbConnection,
    actor: &Actor,
    route: KeyType,
    action: &ApiKeyAction,
) -> Result<(), ServiceError> {
    let standing = action
        .team_standing_needed(&actor.caller)
        .map(|(team, user)| load_standing(conn, actor.project, team, user))
        .transpose()?;
    authorize_api_key(
        &actor.caller,
        &actor.switches,
        route,
        action,
        standing.as_ref(),
    )?;
    Ok(())
}

/// The key `id` of the project, if the actor may read (or, with `for_update`, change) it through
/// the `route` type's endpoint. A missing key, a key of the other type, and a team key the
/// client may not manage are all not found.
fn load_authorized(
    conn: &mut DbConnection,
    actor: &Actor,
    route: KeyType,
    id: ApiKeyId,
    for_update: bool,
) -> Result<ApiKey, ServiceError> {
    let stored = api_keys::get(conn, actor.project, id)?;
    let stored_owner = stored.as_ref().map(|key| key.owner);
    let action = if for_update {
        ApiKeyAction::Update { stored_owner }
    } else {
        ApiKeyAction::Read { stored_owner }
    };
    authorize(conn, actor, route, &action)?;
    // The decision already refused a missing key; this only unwraps.
    stored.ok_or_else(|| NotFound::ApiKey.into())
}

/// When each of `keys` was last used: the stored instant or this node's pending one, whichever
/// is later; keys never used are left out.
pub(crate) fn last_used_of(
    conn: &mut DbConnection,
    usage: &KeyUsage,
    keys: &[ApiKey],
) -> Result<HashMap<ApiKeyId, EpochMillis>, StorageError> {
    let ids: Vec<ApiKeyId> = keys.iter().map(|key| key.id).collect();
    let stored = api_keys::last_used(conn, &ids)?;
    Ok(ids
        .into_iter()
        .filter_map(|id| Some((id, usage.merged(id, stored.get(&id).copied())?)))
        .collect())
}

/// `key` with when it was last used, and its usage credits as this node shows them.
pub(crate) fn with_usage(
    conn: &mut DbConnection,
    service: &Service,
    mut key: ApiKey,
) -> Result<KeyWithUsage, StorageError> {
    let last_used = last_used_of(conn, service.key_usage(), std::slice::from_ref(&key))?;
    show_credits(service, std::slice::from_mut(&mut key));
    Ok(KeyWithUsage {
        last_used_at_millis: last_used.get(&key.id).copied(),
        key,
    })
}

/// Replaces the stored credits of `keys` with what this node shows at this instant: refilled
/// if a period started, plus the credits it leased and has not spent (`key_credits`).
pub(crate) fn show_credits(service: &Service, keys: &mut [ApiKey]) {
    let now = service.now();
    for key in keys {
        if let Some(usage) = key.policy.usage {
            key.policy.usage = Some(service.key_credits().shown(key.id, usage, now));
        }
    }
}

/// A page of at most `limit` of `items`, fetched with one more than `limit` to tell whether
/// another page follows, and the `position` of the last item the next page continues after (if
/// one does). Every keyset list (keys, audit events, webhook deliveries) pages this way.
pub(crate) fn split_page<T, P>(
    mut items: Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> P,
) -> (Vec<T>, Option<P>) {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(position)
    } else {
        None
    };
    (items, next)
}

/// A new key's policy as it will be stored: refused unless its scopes are in the project's
/// catalogue (read by [`check_scopes`], the only part that needs the database) and its metadata,
/// rate limit and usage credits, if any, come from the project's server or admin; without a
/// rate limit of its own, the key gets the project's default (if any, as read when the caller
/// authenticated: no database work). Credits count their refill periods from the key's creation
/// (set by the caller).
fn checked_policy(actor: &Actor, mut policy: KeyPolicy) -> Result<KeyPolicy, ServiceError> {
    if actor.caller.access_type == AccessType::Client {
        let field = if policy.metadata.is_some() {
            Some("metadata")
        } else if policy.rate_limit.is_some() {
            Some("rate limit")
        } else if policy.usage.is_some() {
            Some("usage credits")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(Refusal::ServerOnlyPolicy { field }.into());
        }
    }
    policy.rate_limit = policy.rate_limit.or(actor.default_rate_limit);
    Ok(policy)
}

/// Refuses `scopes` unless each is in the project's catalogue, read fresh: a scope just removed
/// is refused at once.
fn check_scopes(
    conn: &mut DbConnection,
    actor: &Actor,
    scopes: &[String],
) -> Result<(), ServiceError> {
    if scopes.is_empty() {
        return Ok(());
    }
    let catalogue = projects::get(conn, actor.project)?
        .map(|project| parse_catalogue(&project.api_key_scopes))
        .unwrap_or_default();
    let unknown = unknown_scopes(&catalogue, scopes);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Refusal::UnknownScopes { scopes: unknown }.into())
    }
}

/// The answer for a create whose owner is not in the project (the insert's foreign key).
pub(crate) fn owner_not_found(owner: Owner) -> ServiceError {
    match owner {
        Owner::User(_) => NotFound::User.into(),
        Owner::Team(team_id) => NotFound::Team { team_id }.into(),
    }
}

/// Whether an owner holding `count` keys may have one more under the cap `limit`.
pub(crate) fn within_cap(count: u64, limit: u64) -> Result<(), ServiceError> {
    if count >= limit {
        Err(Refusal::ApiKeyLimitReached { limit }.into())
    } else {
        Ok(())
    }
}

/// Stores `key` unless its owner already has `limit` keys: one transaction that locks the
/// owner's row and reads its key count, inserts the key and records its creation by `actor` in
/// the audit log, so concurrent creates for one owner never overshoot the cap. Creates go through
/// [`Service::store_new_key`], which calls this for a create that arrives alone.
pub(crate) fn insert_within_cap(
    conn: &mut DbConnection,
    key: &ApiKey,
    limit: u64,
    actor: &AuditActor,
) -> Result<(), ServiceError> {
    conn.in_transaction_with(|conn| {
        let count = lock_key_counts(conn, key.project_id, std::iter::once(key.owner))?
            .get(&key.owner)
            .copied()
            .ok_or_else(|| owner_not_found(key.owner))?;
        within_cap(count, limit)?;
        match api_keys::insert(conn, key) {
            Ok(()) => Ok(audit::record(
                conn,
                key.project_id,
                actor,
                key_change(key, KeyEvent::Created),
                key.created_at_millis,
            )?),
            // Deleted between the lock and the insert is impossible; kept for safety.
            Err(StorageError::ForeignKeyViolation { .. }) => Err(owner_not_found(key.owner)),
            Err(other) => Err(other.into()),
        }
    })
}

/// Locks the rows of those of `owners` that are in `project` (users, then teams, each in id
/// order, so two transactions never deadlock) and returns each one's number of keys, as the cap
/// counts them. An owner that is not in the project is absent.
pub(crate) fn lock_key_counts(
    conn: &mut DbConnection,
    project: ProjectId,
    owners: impl Iterator<Item = Owner>,
) -> Result<HashMap<Owner, u64>, StorageError> {
    let (mut user_ids, mut team_ids) = (Vec::new(), Vec::new());
    for owner in owners {
        match owner {
            Owner::User(user) => user_ids.push(user),
            Owner::Team(team) => team_ids.push(team),
        }
    }
    let mut counts = HashMap::new();
    if !user_ids.is_empty() {
        let locked = users::lock_key_counts(conn, project, &user_ids)?;
        counts.extend(
            locked
                .into_iter()
                .map(|(user, count)| (Owner::User(user), count)),
        );
    }
    if !team_ids.is_empty() {
        let locked = teams::lock_key_counts(conn, project, &team_ids)?;
        counts.extend(
            locked
                .into_iter()
                .map(|(team, count)| (Owner::Team(team), count)),
        );
    }
    Ok(counts)
}

/// The audit record of `event` to `key`: its owner and non-secret facts.
pub(crate) fn key_change(key: &ApiKey, event: KeyEvent) -> Change {
    let (owner_field, owner_id, target) = match key.owner {
        Owner::User(user) => ("user_id", user.to_string(), Some(user)),
        Owner::Team(team) => ("team_id", team.to_string(), None),
    };
    let change = Change::new(AuditAction::for_key(key.key_type(), event), key.id)
        .target(target)
        .fact(owner_field, owner_id)
        .fact("description", key.description.clone())
        .fact("last_four", key.last_four.to_string())
        .fact("is_public", key.is_public);
    match event {
        KeyEvent::Created => change
            .fact("expires_at_millis", key.expires_at_millis)
            .fact("scopes", key.policy.scopes.clone())
            .fact(
                "rate_limit",
                key.policy.rate_limit.map(|rate| {
                    serde_json::json!({"limit": rate.limit, "window_millis": rate.window_millis})
                }),
            )
            .fact(
                "remaining_uses",
                key.policy.usage.map(|usage| usage.remaining_uses),
            ),
        KeyEvent::Updated => change,
        KeyEvent::Revoked => change.fact("revoked_at_millis", key.manually_revoked_at_millis),
        KeyEvent::Rotated => change.fact("expires_at_millis", key.expires_at_millis),
    }
}

/// A key replaced by [`Service::rotate_api_key`].
#[derive(Debug)]
pub struct RotatedKey {
    /// The new key as stored.
    pub key: ApiKey,
    /// The new key itself: shown once, in the answer.
    pub plain: PlainApiKey,
    /// The replaced key afterwards: expiring at the end of the grace period, or revoked.
    pub previous: ApiKey,
}

impl Service {
    /// Creates a key of the `route` type; returns it with the full key, which is never stored
    /// and never shown again.
    pub async fn create_api_key(
        &self,
        actor: Actor,
        route: KeyType,
        request: NewKeyRequest,
    ) -> Result<(ApiKey, PlainApiKey), ServiceError> {
        let now = self.now();
        let by = AuditActor::of(&actor);
        let action = ApiKeyAction::Create {
            owner: request.owner,
        };
        let project = actor.project;
        // The database is read before the store only for a decision that needs the caller's
        // standing in the owning team, or for scopes to find in the catalogue: a server's create
        // of a key without scopes waits for no blocking task and holds no connection until then.
        let needs_database = action.team_standing_needed(&actor.caller).is_some()
            || !request.policy.scopes.is_empty();
        let policy = if needs_database {
            let policy = request.policy;
            self.run(move |_, conn| {
                authorize(conn, &actor, route, &action)?;
                let policy = checked_policy(&actor, policy.clone())?;
                check_scopes(conn, &actor, &policy.scopes)?;
                Ok(policy)
            })
            .await?
        } else {
            authorize_api_key(&actor.caller, &actor.switches, route, &action, None)?;
            checked_policy(&actor, request.policy)?
        };
        let (key, plain) = NewApiKey {
            project_id: project,
            owner: request.owner,
            description: request.description,
            is_public: request.is_public,
            expires_at_millis: request.expires_at_millis,
            policy,
        }
        .generate(now, self.hasher());
        let limit = self.limits().max_keys_per_owner;
        self.store_new_key(key.clone(), limit, by).await?;
        tracing::debug!(
            api_key_id = %key.id,
            owner = ?key.owner,
            last_four = %key.last_four,
            "created API key"
        );
        Ok((key, plain))
    }

    /// The keys of `owner` in `window`, newest first, revoked and expired ones included, with
    /// when each was last used. `owner` is `None` when the request named none (the decision
    /// refuses that).
    pub async fn list_api_keys(
        &self,
        actor: Actor,
        route: KeyType,
        owner: Option<Owner>,
        window: ListWindow,
    ) -> Result<KeyList, ServiceError> {
        self.run(move |service, conn| {
            authorize(conn, &actor, route, &ApiKeyAction::List { owner })?;
            // The decision refuses a list without an owner, so `None` never gets here.
            let Some(owner) = owner else {
                return Ok(KeyList {
                    keys: Vec::new(),
                    last_used: HashMap::new(),
                    next: None,
                });
            };
            let (mut keys, next) = match window {
                ListWindow::All => (api_keys::list_for_owner(conn, actor.project, owner)?, None),
                ListWindow::Page { limit, after } => {
                    // One more than asked tells whether another page follows.
                    let keys = api_keys::list_page_for_owner(
                        conn,
                        actor.project,
                        owner,
                        after,
                        limit.saturating_add(1),
                    )?;
                    split_page(keys, limit, KeyPosition::of)
                }
            };
            let last_used = last_used_of(conn, service.key_usage(), &keys)?;
            show_credits(service, &mut keys);
            Ok(KeyList {
                keys,
                last_used,
                next,
            })
        })
        .await
    }

    /// The key `id`, if the actor may read it through the `route` type's endpoint.
    pub async fn read_api_key(
        &self,
        actor: Actor,
        route: KeyType,
        id: ApiKeyId,
    ) -> Result<KeyWithUsage, ServiceError> {
        self.run(move |service, conn| {
            let key = load_authorized(conn, &actor, route, id, false)?;
            Ok(with_usage(conn, service, key)?)
        })
        .await
    }

    /// Rotates the key `id`: a new key with the same owner, description, visibility, expiry,
    /// scopes and metadata is stored and returned (the full key only here), and the old key
    /// stops working — after `grace_period_millis` if that is positive (its expiry moves to the
    /// end of the grace period unless it comes sooner), at once (revoked) otherwise. One
    /// transaction does both and records them in the audit log; the new key counts towards the
    /// owner's cap. Allowed to whoever may update the key; a revoked or expired key is refused
    /// as the check refuses it.
    pub async fn rotate_api_key(
        &self,
        actor: Actor,
        route: KeyType,
        id: ApiKeyId,
        grace_period_millis: Option<i64>,
    ) -> Result<RotatedKey, ServiceError> {
        let now = self.now();
        let rotated = self
            .run(move |service, conn| {
                let old = load_authorized(conn, &actor, route, id, true)?;
                // This node's unspent lease goes back first, so that it moves too.
                if old.policy.usage.is_some() {
                    service.key_credits().give_back_key(service, id, now)?;
                }
                old.lifetime()
                    .check(now)
                    .map_err(|invalid| ServiceError::Rejected(invalid.into()))?;
                let (mut key, plain) = NewApiKey {
                    project_id: actor.project,
                    owner: old.owner,
                    description: old.description.clone(),
                    is_public: old.is_public,
                    expires_at_millis: old.expires_at_millis,
                    policy: old.policy.clone(),
                }
                .generate(now, service.hasher());
                let by = AuditActor::of(&actor);
                let limit = service.limits().max_keys_per_owner;
                let grace = grace_period_millis.filter(|grace| *grace > 0);
                let written = service
                    .write_keys(conn, |write| {
                        // The credits left move to the new key, in their refill period; what
                        // nodes leased of the old key stays spendable there.
                        if let Some(stored) = api_keys::lock_credits(write.conn(), id)? {
                            let current = stored.refreshed(now);
                            key.policy.usage = Some(current);
                            api_keys::set_credits(write.conn(), id, 0, current.refilled_at_millis)?;
                        }
                        insert_within_cap(write.conn(), &key, limit, &by)?;
                        let previous = match grace {
                            Some(grace) => api_keys::expire_by(
                                write,
                                actor.project,
                                id,
                                now.saturating_add(grace),
                            )?,
                            None => {
                                let revoked = api_keys::revoke(write, actor.project, id, now)?;
                                let change = key_change(&revoked.key, KeyEvent::Revoked)
                                    .fact("reason", "rotated");
                                audit::record(write.conn(), actor.project, &by, change, now)?;
                                revoked.key
                            }
                        };
                        let change = key_change(&previous, KeyEvent::Rotated)
                            .fact("rotated_to", key.id.to_string())
                            .fact("grace_period_millis", grace.unwrap_or(0));
                        audit::record(write.conn(), actor.project, &by, change, now)?;
                        Ok(previous)
                    })
                    .map_err(|error: ServiceError| error.missing_as(NotFound::ApiKey));
                // A check may have guessed the new id just before and cached it as unknown.
                service.check_cache().created(key.id);
                let previous = written?;
                Ok(RotatedKey {
                    key,
                    plain,
                    previous,
                })
            })
            .await?;
        tracing::debug!(
            api_key_id = %rotated.previous.id,
            new_api_key_id = %rotated.key.id,
            "rotated API key"
        );
        Ok(rotated)
    }

    /// Replaces the description and/or revokes the key `id`. Revocation is set once and never
    /// undone; revoking again keeps the first instant. The key leaves the check cache (on this
    /// node and, through the database, on every other) before this returns.
    pub async fn update_api_key(
        &self,
        actor: Actor,
        route: KeyType,
        id: ApiKeyId,
        changes: KeyChanges,
    ) -> Result<KeyWithUsage, ServiceError> {
        let now = self.now();
        let revoke = changes.revoke;
        let updated = self
            .run(move |service, conn| {
                let stored = load_authorized(conn, &actor, route, id, true)?;
                let stored = with_usage(conn, service, stored)?;
                if changes.is_empty() {
                    return Ok(stored);
                }
                let KeyWithUsage {
                    key: mut changed,
                    last_used_at_millis,
                } = stored;
                let by = AuditActor::of(&actor);
                service
                    .write_keys(conn, |write| {
                        if let Some(description) = &changes.description {
                            let before = std::mem::take(&mut changed.description);
                            changed = api_keys::update_description(
                                write,
                                actor.project,
                                id,
                                description,
                            )?;
                            if before != changed.description {
                                let change = key_change(&changed, KeyEvent::Updated)
                                    .fact("previous_description", before);
                                audit::record(write.conn(), actor.project, &by, change, now)?;
                            }
                        }
                        if changes.revoke {
                            let revoked = api_keys::revoke(write, actor.project, id, now)?;
                            changed = revoked.key;
                            if revoked.by_this_call {
                                let change = key_change(&changed, KeyEvent::Revoked);
                                audit::record(write.conn(), actor.project, &by, change, now)?;
                            }
                        }
                        Ok(KeyWithUsage {
                            key: changed,
                            last_used_at_millis,
                        })
                    })
                    // Deleted (with its owner) between the read and the write.
                    .map_err(|error| error.missing_as(NotFound::ApiKey))
            })
            .await?;
        if revoke {
            tracing::debug!(api_key_id = %updated.key.id, "revoked API key");
        }
        Ok(updated)
    }

    /// Turns `presented` into the key it is, if it is a valid key of the `route` type in the
    /// actor's project: not well-formed, unknown, another project's or a forged one is not
    /// found; then wrong type → revoked → expired; then keygate's policies: the
    /// `required_scopes`, the rate limit, and `cost` usage credits. A valid check is noted as a
    /// use.
    pub async fn check_api_key(
        &self,
        actor: Actor,
        route: KeyType,
        presented: &str,
        required_scopes: &[String],
        cost: i64,
    ) -> Result<CheckedKey, ServiceError> {
        authorize_api_key(
            &actor.caller,
            &actor.switches,
            route,
            &ApiKeyAction::Check,
            None,
        )?;
        let outcomes = &self.metrics().check_outcomes;
        let Ok(parsed) = parse_api_key(presented) else {
            outcomes.record(route, CheckOutcome::Malformed);
            return Err(NotFound::ApiKey.into());
        };
        let stored = match self.check_cache().lookup(parsed.id) {
            CachedLookup::Found(key) => Some(key),
            CachedLookup::Unknown => None,
            CachedLookup::Miss => self.look_up_key(parsed.id).await?,
        };
        // Verified on every check, cached row or not: the digest (constant time), the project,
        // then type, revocation and expiry at this check's clock.
        let key = stored
            .filter(|stored| self.hasher().verify(presented, &stored.hash))
            .filter(|stored| stored.project_id == actor.project);
        let Some(key) = key else {
            outcomes.record(route, CheckOutcome::NotFound);
            return Err(NotFound::ApiKey.into());
        };
        let now = self.now();
        if let Err(rejection) = key.check(route, now) {
            outcomes.record(route, CheckOutcome::of_rejection(&rejection));
            return Err(rejection.into());
        }
        // After not found → wrong type → revoked → expired: a valid key lacking a scope.
        let missing = key.policy.missing_scopes(required_scopes);
        if !missing.is_empty() {
            outcomes.record(route, CheckOutcome::ScopeMissing);
            return Err(Refusal::ApiKeyScopeMissing {
                missing: missing.into_iter().map(str::to_owned).collect(),
            }
            .into());
        }
        // Then its rate limit: counted only for a check that passed everything else.
        let rate = key
            .policy
            .rate_limit
            .map(|rate| self.key_rate_limiter().admit(key.id, rate, now));
        if let Some(verdict) = rate.filter(|verdict| !verdict.allowed) {
            outcomes.record(route, CheckOutcome::RateLimited);
            return Err(Refusal::ApiKeyRateLimited(verdict).into());
        }
        // Last, its usage credits: spent only by a check that passed everything else.
        let remaining_uses = match key.policy.usage {
            Some(usage) => match self.spend_credits(key.id, usage, cost, now).await {
                Ok(left) => Some(left),
                Err(error) => {
                    if matches!(error, ServiceError::Refused(Refusal::ApiKeyUsageExceeded)) {
                        outcomes.record(route, CheckOutcome::UsageExceeded);
                    }
                    // Not a check that passed: the rate limit does not count it.
                    if let Some(rate) = key.policy.rate_limit {
                        self.key_rate_limiter().refund(key.id, rate, now);
                    }
                    return Err(error);
                }
            },
            None => None,
        };
        outcomes.record(route, CheckOutcome::Valid);
        let last_used_at_millis = self.key_usage().record(key.id, now);
        tracing::debug!(api_key_id = %key.id, owner = ?key.owner, "checked API key: valid");
        Ok(CheckedKey {
            key,
            last_used_at_millis,
            rate,
            remaining_uses,
        })
    }
}
