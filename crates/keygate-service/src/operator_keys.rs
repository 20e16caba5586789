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
