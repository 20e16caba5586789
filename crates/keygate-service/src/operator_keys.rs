//! The operator's view of a project's API keys: list them across owners (filtered, one keyset
//! page at a time), read one and revoke one — for `GET /api/v1/internal/keys` and the
//! `keygate keys …` commands.
//!
//! **Key decisions.** The caller has already proved it manages the whole project (admin access,
//! the operator token, or the database itself on the command line), so there is no per-owner
//! decision here, as for the project's credentials (`crate::projects`). A revocation is the
//! owners' own: `api_keys::revoke` (the first revocation wins) inside `Service::write_keys`,
//! so the key leaves this node's check cache before the answer and every other node's through
//! Postgres `NOTIFY`. The state filter is the domain's rule
//! ([`KeyState`](keygate_storage::repo::api_keys::KeyState)) judged at this service's clock.

use keygate_domain::{ApiKeyId, EpochMillis, Owner, ProjectId};
pub use keygate_storage::repo::api_keys::KeyState;
use keygate_storage::repo::api_keys::{self, KeyPosition, ProjectKeyFilter};

use crate::api_keys::{last_used_of, split_page, with_usage, KeyList, KeyWithUsage};
use crate::error::{NotFound, ServiceError};
use crate::Service;

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
            let filter = ProjectKeyFilter {
                owner: filter.owner,
                state: filter.state.map(|state| (state, now)),
                last_used_before: filter.last_used_before,
            };
            // One more than asked tells whether another page follows.
            let keys = api_keys::list_page_for_project(
                conn,
                project,
                &filter,
                after,
                limit.saturating_add(1),
            )?;
            let (keys, next) = split_page(keys, limit);
            let last_used = last_used_of(conn, service.key_usage(), &keys)?;
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
            Ok(with_usage(conn, service.key_usage(), key)?)
        })
        .await
    }

    /// Revokes the key `id` of `project` (revoking again keeps the first instant) and returns
    /// it; the key leaves every node's check cache as any other key write does.
    pub async fn revoke_project_key(
        &self,
        project: ProjectId,
        id: ApiKeyId,
    ) -> Result<KeyWithUsage, ServiceError> {
        let now = self.now();
        let revoked = self
            .run(move |service, conn| {
                let key = service
                    .write_keys(conn, |write| Ok(api_keys::revoke(write, project, id, now)?))
                    .map_err(|error| error.missing_as(NotFound::ApiKey))?;
                Ok(with_usage(conn, service.key_usage(), key)?)
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

    keygate_storage::backend_tests! {
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
                let revoked = service.revoke_project_key(project, key.id).await.unwrap();
                assert_eq!(revoked.key.manually_revoked_at_millis, Some(NOW));
                assert!(matches!(cache.lookup(key.id), CachedLookup::Miss), "invalidated");
                let again = service.revoke_project_key(project, key.id).await.unwrap();
                assert_eq!(again.key, revoked.key, "the first revocation wins");
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
                    service.revoke_project_key(other_project, key.id).await,
                ] {
                    assert!(matches!(result, Err(ServiceError::NotFound(NotFound::ApiKey))));
                }
            });
        }
    }
}
