//! The operator's view of a project's API keys: list them across owners (filtered, one keyset
//! page at a time), read one and revoke one — for `GET /api/v1/internal/keys` and the
//! `keygate keys …` commands.
//!
//! **Key decisions.** The caller has already proved it manages the whole project (admin access,
//! the operator token, or the database itself on the command line), so there is no per-owner
//! decision here, as for the project's credentials (`crate::projects`). A revocation is the
//! owners' own: `api_keys::revoke` (the first revocation wins) inside `Service::write_keys`,
//! so the key leaves this node's check cache before the answer and every other node's through
//! Postgres `NOTIFY`. The state filter is the domain's rule ([`KeyState::of`], through
//! `Lifetime::check`) judged here at this service's clock, never in SQL: storage pages through
//! the project's keys and this module keeps those in the asked state, reading at most
//! [`MAX_SCANNED_PER_PAGE`] keys for one page (a page of a rare state may come back short, with
//! a cursor to go on from).

use keygate_domain::{ApiKey, ApiKeyId, EpochMillis, Invalid, Owner, ProjectId};
use keygate_storage::repo::api_keys::{self, KeyPosition, ProjectKeyFilter};

use crate::api_keys::{
    key_change, last_used_of, show_credits, split_page, with_usage, KeyList, KeyWithUsage,
};
use crate::audit::{self, AuditActor, KeyEvent};
use crate::error::{NotFound, ServiceError};
use crate::Service;

/// The most keys one page reads while looking for keys of the asked state.
pub const MAX_SCANNED_PER_PAGE: usize = 10_000;

/// How many keys one storage read fetches while filtering by state.
const SCAN_BATCH: usize = 500;

/// A key's state at an instant: the outcome of the domain's one rule (revocation before expiry;
/// valid through the expiry instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Neither revoked nor expired.
    Valid,
    /// Revoked (whatever its expiry).
    Revoked,
    /// Expired and not revoked.
    Expired,
}

impl KeyState {
    /// Every state, in the order listings name them.
    pub const ALL: [KeyState; 3] = [KeyState::Valid, KeyState::Revoked, KeyState::Expired];

    /// The state's name in the API and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Valid => "valid",
            KeyState::Revoked => "revoked",
            KeyState::Expired => "expired",
        }
    }

    /// The state of `key` at `now`.
    pub fn of(key: &ApiKey, now: EpochMillis) -> KeyState {
        match key.lifetime().check(now) {
            Ok(()) => KeyState::Valid,
            Err(Invalid::Revoked) => KeyState::Revoked,
            Err(Invalid::Expired) => KeyState::Expired,
        }
    }
}

/// Which of a project's keys to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyFilter {
    /// Only this user's or team's keys (an owner of another project owns none here).
    pub owner: Option<Owner>,
    /// Only keys in this state now.
    pub state: Option<KeyState>,
    /// Only keys whose stored last use is before this instant, never-used ones included.
    pub last_used_before: Option<EpochMillis>,
}

/// At most `limit` keys of `project` that pass `stored` and are in `state` at `now`, starting
/// right after `after`, and where the next page starts: after the last key listed when more
/// follow, after the last key read when [`MAX_SCANNED_PER_PAGE`] were read first, `None` when
/// the project's keys ran out.
fn scan_for_state(
    conn: &mut keygate_storage::DbConnection,
    project: ProjectId,
    stored: &ProjectKeyFilter,
    state: KeyState,
    now: EpochMillis,
    after: Option<KeyPosition>,
    limit: usize,
) -> Result<(Vec<ApiKey>, Option<KeyPosition>), ServiceError> {
    let mut found = Vec::new();
    let mut read_up_to = after;
    let mut scanned = 0;
    while scanned < MAX_SCANNED_PER_PAGE {
        let batch = api_keys::list_page_for_project(conn, project, stored, read_up_to, SCAN_BATCH)?;
        let exhausted = batch.len() < SCAN_BATCH;
        for key in batch {
            scanned += 1;
            read_up_to = Some(KeyPosition::of(&key));
            if KeyState::of(&key, now) == state {
                found.push(key);
                if found.len() > limit {
                    return Ok(split_page(found, limit, KeyPosition::of));
                }
            }
        }
        if exhausted {
            return Ok((found, None));
        }
    }
    Ok((found, read_up_to))
}

impl Service {
    /// At most `limit` keys of `project` that pass `filter`, newest first, starting right after
    /// `after`, with when each was last used and where the next page starts.
    pub async fn list_project_keys(
        &self,
        project: ProjectId,
        filter: KeyFilter,
        limit: usize,
        after: Option<KeyPosition>,
    ) -> Result<KeyList, ServiceError> {
        let now = self.now();
        self.run(move |service, conn| {
            let stored = ProjectKeyFilter {
                owner: filter.owner,
                last_used_before: filter.last_used_before,
            };
            let (mut keys, next) = match filter.state {
                Some(state) => scan_for_state(conn, project, &stored, state, now, after, limit)?,
                None => {
                    // One more than asked tells whether another page follows.
                    let keys = api_keys::list_page_for_project(
                        conn,
                        project,
                        &stored,
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

    /// The key `id` of `project`, with when it was last used.
    pub async fn project_key(
        &self,
        project: ProjectId,
        id: ApiKeyId,
    ) -> Result<KeyWithUsage, ServiceError> {
        self.run(move |service, conn| {
            let key = api_keys::get(conn, project, id)?.ok_or(NotFound::ApiKey)?;
            Ok(with_usage(conn, service, key)?)
        })
        .await
    }

    /// Revokes the key `id` of `project` (revoking again keeps the first instant) and returns
    /// it; the key leaves every node's check cache as any other key write does.
    pub async fn revoke_project_key(
        &self,
        project: ProjectId,
        id: ApiKeyId,
        by: AuditActor,
    ) -> Result<KeyWithUsage, ServiceError> {
        let now = self.now();
        let revoked = self
            .run(move |service, conn| {
                let key = service
                    .write_keys(conn, |write| {
                        let revoked = api_keys::revoke(write, project, id, now)?;
                        if revoked.by_this_call {
                            let change = key_change(&revoked.key, KeyEvent::Revoked);
                            audit::record(write.conn(), project, &by, change, now)?;
                        }
                        Ok(revoked.key)
                    })
                    .map_err(|error| error.missing_as(NotFound::ApiKey))?;
                Ok(with_usage(conn, service, key)?)
            })
            .await?;
        tracing::debug!(api_key_id = %revoked.key.id, "revoked API key (operator)");
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keygate_domain::KeyHasher;
    use keygate_storage::testing::{insert_api_key, insert_project, insert_user};

    use super::*;
    use crate::check_cache::CachedLookup;

    const NOW: EpochMillis = 5_000;

    /// A never-expiring, unrevoked key of `user` created at `created_at_millis`.
    fn test_key(
        project: ProjectId,
        user: keygate_domain::UserId,
        created_at_millis: i64,
    ) -> ApiKey {
        ApiKey {
            id: ApiKeyId::new_random(),
            project_id: project,
            owner: Owner::User(user),
            description: "test key".to_owned(),
            is_public: false,
            hash: keygate_storage::testing::random_hash(),
            last_four: "53a0".to_owned(),
            created_at_millis,
            expires_at_millis: None,
            manually_revoked_at_millis: None,
            policy: Default::default(),
        }
    }

    keygate_storage::backend_tests! {
        fn state_filters_agree_with_the_domain_rule(db) {
            let service = Service::new(db.database().clone(), KeyHasher::sha256(), Arc::new(|| NOW));
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let mut keys = Vec::new();
            for (i, (expires_at_millis, manually_revoked_at_millis)) in [
                (None, None),
                (Some(NOW + 1), None),
                (Some(NOW), None),
                (Some(NOW - 1), None),
                (None, Some(NOW - 5)),
                (Some(NOW - 1), Some(NOW - 5)),
                (Some(NOW + 1), Some(NOW + 5)),
            ]
            .into_iter()
            .enumerate()
            {
                let key = ApiKey {
                    expires_at_millis,
                    manually_revoked_at_millis,
                    ..test_key(project, user, i64::try_from(i).unwrap())
                };
                api_keys::insert(&mut conn, &key).unwrap();
                keys.push(key);
            }
            drop(conn);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for state in [KeyState::Valid, KeyState::Revoked, KeyState::Expired] {
                let filter = KeyFilter { state: Some(state), ..KeyFilter::default() };
                let listed = runtime
                    .block_on(service.list_project_keys(project, filter, 100, None))
                    .unwrap();
                let mut listed: Vec<ApiKeyId> = listed.keys.iter().map(|k| k.id).collect();
                let domain = |key: &ApiKey| match key.lifetime().check(NOW) {
                    Ok(()) => KeyState::Valid,
                    Err(Invalid::Revoked) => KeyState::Revoked,
                    Err(Invalid::Expired) => KeyState::Expired,
                };
                let mut expected: Vec<ApiKeyId> =
                    keys.iter().filter(|key| domain(key) == state).map(|k| k.id).collect();
                listed.sort_by_key(ToString::to_string);
                expected.sort_by_key(ToString::to_string);
                assert!(!expected.is_empty());
                assert_eq!(listed, expected, "{state:?}");
            }
        }

        fn a_page_of_a_rare_state_stops_after_the_scan_bound_with_a_cursor(db) {
            let service = Service::new(db.database().clone(), KeyHasher::sha256(), Arc::new(|| NOW));
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            // The oldest key is the only revoked one, behind more valid keys than a page reads.
            let revoked = ApiKey { manually_revoked_at_millis: Some(1), ..test_key(project, user, 0) };
            conn.in_transaction(|conn| {
                api_keys::insert(conn, &revoked)?;
                for i in 1..=i64::try_from(MAX_SCANNED_PER_PAGE).unwrap() {
                    api_keys::insert(conn, &test_key(project, user, i))?;
                }
                Ok::<_, keygate_storage::StorageError>(())
            })
            .unwrap();
            drop(conn);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let filter = KeyFilter { state: Some(KeyState::Revoked), ..KeyFilter::default() };
            let first = runtime.block_on(service.list_project_keys(project, filter, 10, None)).unwrap();
            assert!(first.keys.is_empty(), "nothing revoked among the keys read");
            assert!(first.next.is_some(), "a cursor to go on from");
            let second = runtime
                .block_on(service.list_project_keys(project, filter, 10, first.next))
                .unwrap();
            assert_eq!(second.keys, vec![revoked]);
            assert_eq!(second.next, None);
        }

        fn an_operator_revoke_wins_once_and_leaves_the_check_cache(db) {
            let service = Service::new(db.database().clone(), KeyHasher::sha256(), Arc::new(|| NOW));
            let (project, key) = {
                let mut conn = db.conn();
                let project = insert_project(&mut conn).id;
                let user = insert_user(&mut conn, project).id;
                (project, insert_api_key(&mut conn, project, Owner::User(user), 1_000))
            };
            let other_project = insert_project(&mut db.conn()).id;
            let cache = service.check_cache();
            cache.store(cache.ticket(), key.id, Some(&key));
            assert!(matches!(cache.lookup(key.id), CachedLookup::Found(_)));

            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let revoked = service.revoke_project_key(project, key.id, AuditActor::command_line("test")).await.unwrap();
                assert_eq!(revoked.key.manually_revoked_at_millis, Some(NOW));
                assert!(matches!(cache.lookup(key.id), CachedLookup::Miss), "invalidated");
                let again = service.revoke_project_key(project, key.id, AuditActor::command_line("test")).await.unwrap();
                assert_eq!(again.key, revoked.key, "the first revocation wins");
                let audited = service
                    .list_audit_events(project, Default::default(), 10, None)
                    .await
                    .unwrap()
                    .events;
                assert_eq!(audited.len(), 1, "one event: the second revoke changed nothing");
                assert_eq!(
                    (audited[0].action.as_str(), audited[0].actor_type.as_str(), audited[0].actor_label.as_deref()),
                    ("user_api_key.revoked", "operator", Some("test"))
                );
                assert_eq!(audited[0].object_id, key.id.to_string());
                assert_eq!(service.project_key(project, key.id).await.unwrap().key, revoked.key);

                let revoked_only = KeyFilter { state: Some(KeyState::Revoked), ..KeyFilter::default() };
                let listed = service.list_project_keys(project, revoked_only, 10, None).await.unwrap();
                assert_eq!(listed.keys, vec![revoked.key.clone()]);
                assert_eq!(listed.next, None);
                let valid_only = KeyFilter { state: Some(KeyState::Valid), ..KeyFilter::default() };
                let listed = service.list_project_keys(project, valid_only, 10, None).await.unwrap();
                assert!(listed.keys.is_empty());

                // Another project's key is not found, for reading and revoking alike.
                for result in [
                    service.project_key(other_project, key.id).await,
                    service.revoke_project_key(other_project, key.id, AuditActor::command_line("test")).await,
                ] {
                    assert!(matches!(result, Err(ServiceError::NotFound(NotFound::ApiKey))));
                }
            });
        }
    }
}
