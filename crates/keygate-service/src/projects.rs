//! Projects, their credentials and their CORS settings; and project authentication — which
//! project a presented project key opens.
//!
//! The plain functions over a connection ([`create_project`], [`issue_credential`],
//! [`update_project`], …) are shared by the operator's HTTP endpoints (through the [`Service`]
//! methods below), the `keygate project …` commands and the first start, so all three make and
//! change projects the same way.
//!
//! Project authentication reads through the node's
//! [`ProjectAuthCache`](crate::project_auth_cache::ProjectAuthCache); a change this node makes
//! to a project or a credential ([`Service::update_project`], [`Service::update_credential`])
//! clears it before returning. A credential change is also announced to the other nodes by
//! storage (Postgres `NOTIFY`, see `keygate_storage::key_changes`), whose listeners clear theirs;
//! on SQLite, or when `keygate project credentials revoke` runs beside a server, a running
//! server's cache lets the revoked credential in for at most its TTL (1 s by default).
//!
//! **Every listing is bounded**: a project holds at most [`Limits::max_credentials_per_project`](crate::Limits::max_credentials_per_project)
//! credentials, revoked and expired ones included (they are kept for the record), and a listing
//! returns at most that many.

use std::sync::Arc;

use keygate_domain::{
    CredentialKind, EpochMillis, KeyHasher, ProjectId, ProjectSwitches, SecretToken,
};
use keygate_permissions::{default_team_definitions, PermissionDefinition, SystemPermission};
use keygate_storage::repo::project_cors::{self, ProjectCors, TrustedDomain};
use keygate_storage::repo::project_credentials::{self, CredentialUpdate, ProjectCredentialRecord};
use keygate_storage::repo::projects::{self, ProjectRecord, ProjectUpdate};
use keygate_storage::repo::team_permissions::{self, PermissionDefinitionRecord};
use keygate_storage::{DbConnection, StorageError};
use uuid::Uuid;

use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::cors_cache::AnyProjectQuery;
use crate::error::{NotFound, Refusal, ServiceError};
use crate::project_auth_cache::PresentedProjectKey;
use crate::Service;

/// Creates a project with the system team permissions and the `team_admin` / `team_member`
/// defaults, in one transaction.
pub fn create_project(
    conn: &mut DbConnection,
    display_name: &str,
    config: ProjectSwitches,
    now: EpochMillis,
) -> Result<ProjectRecord, StorageError> {
    let project = ProjectRecord {
        default_rate_limit: None,
        id: ProjectId::new_random(),
        display_name: display_name.to_owned(),
        created_at_millis: now,
        config,
        api_key_scopes: "[]".to_owned(),
    };
    conn.in_transaction(|conn| {
        projects::insert(conn, &project)?;
        // System permissions first: the defaults contain them.
        let system = SystemPermission::ALL.map(SystemPermission::definition);
        for definition in system.iter().chain(default_team_definitions().iter()) {
            team_permissions::insert_definition(conn, &definition_record(project.id, definition))?;
        }
        Ok(project)
    })
}

fn definition_record(
    project: ProjectId,
    definition: &PermissionDefinition,
) -> PermissionDefinitionRecord {
    PermissionDefinitionRecord {
        project_id: project,
        id: definition.id.as_str().to_owned(),
        description: definition.description.clone().unwrap_or_default(),
        is_system: definition.id.system().is_some(),
        contained_permission_ids: definition
            .contained_permission_ids
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect(),
    }
}

/// Which keys a new credential carries (at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialKeys {
    /// A publishable client key (client access).
    pub publishable_client_key: bool,
    /// A secret server key (server access).
    pub secret_server_key: bool,
    /// A super secret admin key (admin access).
    pub super_secret_admin_key: bool,
}

impl CredentialKeys {
    /// All three keys.
    pub const ALL: CredentialKeys = CredentialKeys {
        publishable_client_key: true,
        secret_server_key: true,
        super_secret_admin_key: true,
    };

    /// Whether no key was asked for.
    pub fn is_empty(&self) -> bool {
        !(self.publishable_client_key || self.secret_server_key || self.super_secret_admin_key)
    }
}

/// A credential just created: its record (hashes only) and the keys, shown this once.
#[derive(Debug)]
pub struct IssuedCredential {
    /// What is stored.
    pub record: ProjectCredentialRecord,
    /// The publishable client key, if asked for.
    pub publishable_client_key: Option<SecretToken>,
    /// The secret server key, if asked for.
    pub secret_server_key: Option<SecretToken>,
    /// The super secret admin key, if asked for.
    pub super_secret_admin_key: Option<SecretToken>,
}

/// Creates a credential for `project` with the keys asked for, and records that `by` did, in one
/// transaction; only the keys' hashes are stored. The caller must ask for at least one key
/// (storage refuses an empty credential).
#[allow(clippy::too_many_arguments)] // each is one fact of the credential; a struct adds nothing
pub fn issue_credential(
    conn: &mut DbConnection,
    hasher: &KeyHasher,
    project: ProjectId,
    description: &str,
    expires_at_millis: Option<EpochMillis>,
    keys: CredentialKeys,
    by: &AuditActor,
    now: EpochMillis,
) -> Result<IssuedCredential, StorageError> {
    let generate =
        |wanted: bool, kind: CredentialKind| wanted.then(|| SecretToken::generate(kind.prefix()));
    let publishable_client_key = generate(
        keys.publishable_client_key,
        CredentialKind::PublishableClientKey,
    );
    let secret_server_key = generate(keys.secret_server_key, CredentialKind::SecretServerKey);
    let super_secret_admin_key = generate(
        keys.super_secret_admin_key,
        CredentialKind::SuperSecretAdminKey,
    );
    let hash = |token: &Option<SecretToken>| token.as_ref().map(|t| hasher.hash(t.expose_secret()));
    let last_four =
        |token: &Option<SecretToken>| token.as_ref().map(|t| last_four(t.expose_secret()));
    let record = ProjectCredentialRecord {
        id: Uuid::new_v4(),
        project_id: project,
        description: description.to_owned(),
        created_at_millis: now,
        expires_at_millis,
        revoked_at_millis: None,
        publishable_client_key_hash: hash(&publishable_client_key),
        secret_server_key_hash: hash(&secret_server_key),
        super_secret_admin_key_hash: hash(&super_secret_admin_key),
        publishable_client_key_last_four: last_four(&publishable_client_key),
        secret_server_key_last_four: last_four(&secret_server_key),
        super_secret_admin_key_last_four: last_four(&super_secret_admin_key),
    };
    conn.in_transaction(|conn| {
        project_credentials::insert(conn, &record)?;
        let change = credential_change(AuditAction::ProjectApiKeyCreated, &record)
            .fact("expires_at_millis", record.expires_at_millis);
        audit::record(conn, project, by, change, now)
    })?;
    Ok(IssuedCredential {
        record,
        publishable_client_key,
        secret_server_key,
        super_secret_admin_key,
    })
}

/// The audit record of `action` on the credential `record`: its description and which keys it
/// carries, by their last four characters.
fn credential_change(action: AuditAction, record: &ProjectCredentialRecord) -> Change {
    Change::new(action, record.id)
        .fact("description", record.description.clone())
        .fact(
            "publishable_client_key_last_four",
            record.publishable_client_key_last_four.clone(),
        )
        .fact(
            "secret_server_key_last_four",
            record.secret_server_key_last_four.clone(),
        )
        .fact(
            "super_secret_admin_key_last_four",
            record.super_secret_admin_key_last_four.clone(),
        )
}

/// The last four characters of a key, for display.
fn last_four(key: &str) -> String {
    let start = key
        .char_indices()
        .rev()
        .nth(3)
        .map_or(0, |(index, _)| index);
    key[start..].to_owned()
}

/// The newest `limit` credentials of `project` (a project holds at most
/// [`Limits::max_credentials_per_project`](crate::Limits::max_credentials_per_project), so that limit lists them all), newest first.
pub fn list_credentials(
    conn: &mut DbConnection,
    project: ProjectId,
    limit: u64,
) -> Result<Vec<ProjectCredentialRecord>, StorageError> {
    project_credentials::list(conn, project, i64::try_from(limit).unwrap_or(i64::MAX))
}

/// The credential `id` of `project`, if it has one.
pub fn find_credential(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
) -> Result<Option<ProjectCredentialRecord>, StorageError> {
    project_credentials::get(conn, project, id)
}

/// Changes to a credential: a new description, and whether to revoke it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialChanges {
    /// The new description, if any.
    pub description: Option<String>,
    /// Revoke it now (a credential already revoked keeps its first revocation's instant).
    pub revoke: bool,
}

/// Changes the credential `id` of `project`, records what `by` changed, and returns it as
/// stored afterwards; not found if the project has no such credential. The change is announced
/// to the other nodes (storage does it in the same transaction); callers that cache project
/// authentication clear it afterwards ([`Service::update_credential`]). A credential may revoke
/// itself.
pub fn update_credential(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
    changes: CredentialChanges,
    by: &AuditActor,
    now: EpochMillis,
) -> Result<ProjectCredentialRecord, ServiceError> {
    let update = CredentialUpdate {
        description: changes.description,
        revoke_at_millis: changes.revoke.then_some(now),
    };
    conn.in_transaction_with(|conn| {
        let before = project_credentials::get(conn, project, id)?;
        let after = project_credentials::update(conn, project, id, &update)
            .map_err(|error| ServiceError::from(error).missing_as(NotFound::ProjectCredential))?;
        let before = before.ok_or(NotFound::ProjectCredential)?;
        if before.description != after.description {
            let change = credential_change(AuditAction::ProjectApiKeyUpdated, &after)
                .fact("previous_description", before.description);
            audit::record(conn, project, by, change, now)?;
        }
        if before.revoked_at_millis.is_none() && after.revoked_at_millis.is_some() {
            let change = credential_change(AuditAction::ProjectApiKeyRevoked, &after)
                .fact("revoked_at_millis", after.revoked_at_millis);
            audit::record(conn, project, by, change, now)?;
        }
        Ok(after)
    })
}

/// A project with its CORS settings, as the API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectView {
    /// The project.
    pub project: ProjectRecord,
    /// Its CORS settings for the client API.
    pub cors: ProjectCors,
}

/// Changes to a project's CORS settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsChanges {
    /// Whether `http://localhost:*` and `http://127.0.0.1:*` may call the client API.
    pub allow_localhost: Option<bool>,
    /// The trusted domains (replacing the stored ones).
    pub domains: Option<Vec<TrustedDomain>>,
}

/// Applies `changes` (if any) and returns the project's CORS settings.
fn apply_cors(
    conn: &mut DbConnection,
    project: ProjectId,
    changes: &CorsChanges,
    now: EpochMillis,
) -> Result<ProjectCors, StorageError> {
    let mut cors = project_cors::get(conn, project)?;
    if changes.allow_localhost.is_none() && changes.domains.is_none() {
        return Ok(cors);
    }
    if let Some(allow_localhost) = changes.allow_localhost {
        cors.allow_localhost = allow_localhost;
    }
    if let Some(domains) = &changes.domains {
        cors.domains = domains.clone();
    }
    project_cors::set(conn, project, &cors, now)?;
    Ok(cors)
}

/// Creates a project as [`create_project`] does, with its CORS settings, and records that `by`
/// did, in one transaction.
pub fn create_project_with_cors(
    conn: &mut DbConnection,
    display_name: &str,
    config: ProjectSwitches,
    cors: &CorsChanges,
    by: &AuditActor,
    now: EpochMillis,
) -> Result<ProjectView, StorageError> {
    conn.in_transaction(|conn| {
        let project = create_project(conn, display_name, config, now)?;
        let cors = apply_cors(conn, project.id, cors, now)?;
        let view = ProjectView { project, cors };
        let change = project_change(AuditAction::ProjectCreated, &view);
        audit::record(conn, view.project.id, by, change, now)?;
        Ok(view)
    })
}

/// The audit record of `action` on the project `view`: its name, switches and CORS settings.
fn project_change(action: AuditAction, view: &ProjectView) -> Change {
    let config = view.project.config;
    Change::new(action, view.project.id)
        .fact("display_name", view.project.display_name.clone())
        .fact("allow_user_api_keys", config.allow_user_api_keys)
        .fact("allow_team_api_keys", config.allow_team_api_keys)
        .fact(
            "client_team_creation_enabled",
            config.client_team_creation_enabled,
        )
        .fact("allow_localhost", view.cors.allow_localhost)
        .fact(
            "trusted_domains",
            view.cors
                .domains
                .iter()
                .map(|domain| domain.domain.clone())
                .collect::<Vec<_>>(),
        )
        .fact(
            "api_key_rate_limit",
            view.project.default_rate_limit.map(|rate| {
                serde_json::json!({"limit": rate.limit, "window_millis": rate.window_millis})
            }),
        )
}

/// Changes a project's name, switches and CORS settings, and records that `by` did (when
/// anything changed); not found if there is no such project. Callers that cache project
/// authentication clear it afterwards ([`Service::update_project`]).
pub fn update_project(
    conn: &mut DbConnection,
    id: ProjectId,
    changes: &ProjectUpdate,
    cors: &CorsChanges,
    by: &AuditActor,
    now: EpochMillis,
) -> Result<ProjectView, ServiceError> {
    conn.in_transaction_with(|conn| {
        let before = find_project(conn, id)?;
        let project = projects::update(conn, id, changes).map_err(|error| {
            ServiceError::from(error).missing_as(NotFound::Project {
                project_id: id.to_string(),
            })
        })?;
        let cors = apply_cors(conn, id, cors, now)?;
        let view = ProjectView { project, cors };
        if before.as_ref() != Some(&view) {
            let change = project_change(AuditAction::ProjectUpdated, &view);
            audit::record(conn, id, by, change, now)?;
        }
        Ok(view)
    })
}

/// The project `id` with its CORS settings, if it exists.
pub fn find_project(
    conn: &mut DbConnection,
    id: ProjectId,
) -> Result<Option<ProjectView>, StorageError> {
    let Some(project) = projects::get(conn, id)? else {
        return Ok(None);
    };
    let cors = project_cors::get(conn, id)?;
    Ok(Some(ProjectView { project, cors }))
}

/// Every project with its CORS settings.
pub fn list_projects(conn: &mut DbConnection) -> Result<Vec<ProjectView>, StorageError> {
    projects::list(conn)?
        .into_iter()
        .map(|project| {
            let cors = project_cors::get(conn, project.id)?;
            Ok(ProjectView { project, cors })
        })
        .collect()
}

impl Service {
    /// Creates a project (see [`create_project_with_cors`]).
    pub async fn create_project(
        &self,
        display_name: String,
        config: ProjectSwitches,
        cors: CorsChanges,
        by: AuditActor,
    ) -> Result<ProjectView, ServiceError> {
        let now = self.now();
        let view = self
            .run(move |_, conn| {
                Ok(create_project_with_cors(
                    conn,
                    &display_name,
                    config,
                    &cors,
                    &by,
                    now,
                )?)
            })
            .await?;
        tracing::info!(project_id = %view.project.id, "operator created a project");
        Ok(view)
    }

    /// The project `id`, if it exists.
    pub async fn project(&self, id: ProjectId) -> Result<Option<ProjectRecord>, ServiceError> {
        self.run(move |_, conn| Ok(projects::get(conn, id)?)).await
    }

    /// The CORS settings of the project `id`.
    pub async fn project_cors(&self, id: ProjectId) -> Result<ProjectCors, ServiceError> {
        self.run(move |_, conn| Ok(project_cors::get(conn, id)?))
            .await
    }

    /// Changes a project (see [`update_project`]); this node's project-authentication cache is
    /// cleared before this returns, so the next request sees the new switches.
    pub async fn update_project(
        &self,
        id: ProjectId,
        changes: ProjectUpdate,
        cors: CorsChanges,
        by: AuditActor,
    ) -> Result<ProjectView, ServiceError> {
        let now = self.now();
        let view = self
            .run(move |_, conn| update_project(conn, id, &changes, &cors, &by, now))
            .await?;
        self.project_settings_changed();
        tracing::info!(project_id = %id, "project updated");
        Ok(view)
    }

    /// Issues a credential for the project `id` (see [`issue_credential`]), unless the project
    /// already has [`Limits::max_credentials_per_project`](crate::Limits::max_credentials_per_project).
    pub async fn issue_credential(
        &self,
        project: ProjectId,
        description: String,
        expires_at_millis: Option<EpochMillis>,
        keys: CredentialKeys,
        by: AuditActor,
    ) -> Result<IssuedCredential, ServiceError> {
        let now = self.now();
        let issued = self
            .run(move |service, conn| {
                conn.in_transaction_with(|conn| {
                    let limit = service.limits().max_credentials_per_project;
                    let count = project_credentials::count(conn, project)?;
                    if u64::try_from(count).unwrap_or(u64::MAX) >= limit {
                        return Err(Refusal::TooManyProjectCredentials { limit }.into());
                    }
                    Ok(issue_credential(
                        conn,
                        service.hasher(),
                        project,
                        &description,
                        expires_at_millis,
                        keys,
                        &by,
                        now,
                    )?)
                })
            })
            .await?;
        tracing::info!(
            project_id = %project,
            credential_id = %issued.record.id,
            "issued a project credential"
        );
        Ok(issued)
    }

    /// The credentials of `project` (see [`list_credentials`]).
    pub async fn list_credentials(
        &self,
        project: ProjectId,
    ) -> Result<Vec<ProjectCredentialRecord>, ServiceError> {
        self.run(move |service, conn| {
            let limit = service.limits().max_credentials_per_project;
            Ok(list_credentials(conn, project, limit)?)
        })
        .await
    }

    /// The credential `id` of `project`; not found if it has none.
    pub async fn credential(
        &self,
        project: ProjectId,
        id: Uuid,
    ) -> Result<ProjectCredentialRecord, ServiceError> {
        self.run(move |_, conn| {
            find_credential(conn, project, id)?.ok_or(NotFound::ProjectCredential.into())
        })
        .await
    }

    /// Changes a credential (see [`update_credential`]). This node's project-authentication
    /// cache is cleared before this returns, so a revoked credential opens nothing from the next
    /// request on — here at once, on the other nodes as soon as they hear the announcement.
    pub async fn update_credential(
        &self,
        project: ProjectId,
        id: Uuid,
        changes: CredentialChanges,
        by: AuditActor,
    ) -> Result<ProjectCredentialRecord, ServiceError> {
        let now = self.now();
        let revoke = changes.revoke;
        let updated = self
            .run(move |_, conn| update_credential(conn, project, id, changes.clone(), &by, now))
            .await;
        // Also after a failure: a commit that failed late may have landed.
        self.project_auth_cache().invalidate_all();
        let updated = updated?;
        tracing::info!(
            project_id = %project,
            credential_id = %id,
            revoked = revoke,
            "project credential updated"
        );
        Ok(updated)
    }

    /// The project `presented` opens now: from this node's project-authentication cache, else
    /// from the database (a credential of that project, for that kind of key, with that digest,
    /// neither revoked nor expired), which is then cached. `None` for a key that opens nothing.
    /// A cached entry past its TTL is read again in the background by the one request told to,
    /// and served to every request meanwhile.
    pub async fn project_opened_by(
        &self,
        presented: PresentedProjectKey,
    ) -> Result<Option<Arc<ProjectRecord>>, ServiceError> {
        let now = self.now();
        if let Some(cached) = self.project_auth_cache().lookup(&presented, now) {
            if cached.refresh {
                let service = self.clone();
                tokio::spawn(async move {
                    if let Err(error) = service.read_project_opened_by(presented).await {
                        tracing::warn!(%error, "reading a project credential again failed");
                    }
                });
            }
            return Ok(Some(cached.project));
        }
        self.read_project_opened_by(presented).await
    }

    /// [`Service::project_opened_by`] from the database, stored in the cache; a key that opens
    /// nothing (any more) is forgotten there.
    async fn read_project_opened_by(
        &self,
        presented: PresentedProjectKey,
    ) -> Result<Option<Arc<ProjectRecord>>, ServiceError> {
        let now = self.now();
        self.run(move |service, conn| {
            let cache = service.project_auth_cache();
            let ticket = cache.ticket();
            let PresentedProjectKey {
                project_id,
                kind,
                hash,
            } = presented;
            let Some(credential) =
                project_credentials::find_by_hash(conn, project_id, kind, &hash)?
                    .filter(|credential| credential.lifetime().is_valid(now))
            else {
                cache.forget(&presented);
                return Ok(None);
            };
            let Some(project) = projects::get(conn, project_id)? else {
                cache.forget(&presented);
                return Ok(None);
            };
            let project = Arc::new(project);
            cache.store(ticket, presented, &credential, Arc::clone(&project));
            Ok(Some(project))
        })
        .await
    }

    /// Whether `origin` may call the client API: of `project`, or (without one, as for a
    /// preflight, which names no project) of some project. A localhost origin is allowed where
    /// the project allows localhost. Answered from this node's CORS cache when it can be.
    pub async fn origin_allowed(
        &self,
        project: Option<ProjectId>,
        origin: String,
        is_localhost: bool,
    ) -> Result<bool, ServiceError> {
        match project {
            Some(project) => {
                let cors = self.project_cors_cached(project).await?;
                Ok((is_localhost && cors.allow_localhost)
                    || cors.domains.iter().any(|domain| domain.origin == origin))
            }
            None => Ok(
                (is_localhost && self.any_project(AnyProjectQuery::Localhost).await?)
                    || self.any_project(AnyProjectQuery::Origin(origin)).await?,
            ),
        }
    }

    /// `project`'s CORS settings, from the cache or else the database (then cached).
    async fn project_cors_cached(
        &self,
        project: ProjectId,
    ) -> Result<Arc<ProjectCors>, ServiceError> {
        if let Some(cors) = self.cors_cache().project(&project) {
            return Ok(cors);
        }
        self.run(move |service, conn| {
            let ticket = service.cors_cache().ticket();
            let cors = Arc::new(project_cors::get(conn, project)?);
            service
                .cors_cache()
                .store_project(ticket, project, Arc::clone(&cors));
            Ok(cors)
        })
        .await
    }

    /// Whether some project answers `query` yes, from the cache or else the database.
    async fn any_project(&self, query: AnyProjectQuery) -> Result<bool, ServiceError> {
        if let Some(answer) = self.cors_cache().any_project(&query) {
            return Ok(answer);
        }
        self.run(move |service, conn| {
            let ticket = service.cors_cache().ticket();
            let answer = match &query {
                AnyProjectQuery::Localhost => project_cors::any_project_allows_localhost(conn)?,
                AnyProjectQuery::Origin(origin) => {
                    project_cors::any_project_trusts_origin(conn, origin)?
                }
            };
            service
                .cors_cache()
                .store_any_project(ticket, query.clone(), answer);
            Ok(answer)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_storage::repo::audit_events::{self, AuditFilter};

    fn by() -> AuditActor {
        AuditActor::command_line("test")
    }

    #[test]
    fn last_four_takes_the_last_four_characters() {
        assert_eq!(last_four("ssk_0123456789"), "6789");
        assert_eq!(last_four("abc"), "abc");
        assert_eq!(last_four("xyzé1ü2"), "é1ü2");
    }

    keygate_storage::backend_tests! {
        fn a_new_project_has_the_default_team_permissions(db) {
            let mut conn = db.conn();
            let project = create_project(&mut conn, "Acme", ProjectSwitches::default(), 1_000).unwrap();
            assert_eq!(projects::get(&mut conn, project.id).unwrap(), Some(project.clone()));
            let definitions = team_permissions::list_definitions(&mut conn, project.id).unwrap();
            let admin = definitions.iter().find(|d| d.id == "team_admin").unwrap();
            assert!(admin.contained_permission_ids.contains(&"$manage_api_keys".to_owned()));
            let member = definitions.iter().find(|d| d.id == "team_member").unwrap();
            assert!(!member.contained_permission_ids.contains(&"$manage_api_keys".to_owned()));
            assert_eq!(definitions.iter().filter(|d| d.is_system).count(), 6);
        }

        fn credentials_keep_each_keys_last_four_and_are_listed_described_and_revoked(db) {
            let mut conn = db.conn();
            let hasher = KeyHasher::sha256();
            let project = create_project(&mut conn, "Acme", ProjectSwitches::default(), 1_000).unwrap();
            let keys = CredentialKeys { publishable_client_key: false, ..CredentialKeys::ALL };
            let issued = issue_credential(&mut conn, &hasher, project.id, "ci", None, keys, &by(), 1_000).unwrap();
            let server = issued.secret_server_key.as_ref().unwrap().expose_secret();
            let admin = issued.super_secret_admin_key.as_ref().unwrap().expose_secret();
            let record = &issued.record;
            assert_eq!(record.publishable_client_key_last_four, None);
            assert_eq!(record.secret_server_key_last_four.as_deref(), Some(&server[server.len() - 4..]));
            assert_eq!(record.super_secret_admin_key_last_four.as_deref(), Some(&admin[admin.len() - 4..]));
            assert_eq!(list_credentials(&mut conn, project.id, 1_000).unwrap(), vec![record.clone()]);
            assert_eq!(find_credential(&mut conn, project.id, record.id).unwrap(), Some(record.clone()));

            let revoke = CredentialChanges { description: Some("leaked".to_owned()), revoke: true };
            let revoked = update_credential(&mut conn, project.id, record.id, revoke.clone(), &by(), 2_000).unwrap();
            assert_eq!(revoked.description, "leaked");
            assert_eq!(revoked.revoked_at_millis, Some(2_000));
            assert!(!revoked.lifetime().is_valid(2_000));
            // The first revocation wins.
            let again = update_credential(&mut conn, project.id, record.id, revoke.clone(), &by(), 3_000).unwrap();
            assert_eq!(again.revoked_at_millis, Some(2_000));
            // Issued, described anew and revoked once: three events, the second revoke none.
            let events = audit_events::list_page(&mut conn, project.id, &AuditFilter::default(), None, 10).unwrap();
            let actions: Vec<&str> = events.iter().rev().map(|e| e.action.as_str()).collect();
            assert_eq!(actions, ["project_api_key.created", "project_api_key.updated", "project_api_key.revoked"]);
            assert!(events.iter().all(|e| e.object_id == record.id.to_string()));
            assert!(events.iter().all(|e| !e.metadata.contains(&server[4..]) && !e.metadata.contains(&admin[4..])), "no key in the log");
            // Another project's credential is not found.
            let other = create_project(&mut conn, "Other", ProjectSwitches::default(), 1_000).unwrap();
            assert!(matches!(
                update_credential(&mut conn, other.id, record.id, revoke, &by(), 3_000),
                Err(ServiceError::NotFound(NotFound::ProjectCredential))
            ));
        }

        fn an_issued_credential_is_found_by_its_keys_hashes_only(db) {
            let mut conn = db.conn();
            let hasher = KeyHasher::sha256();
            let project = create_project(&mut conn, "Acme", ProjectSwitches::default(), 1_000).unwrap();
            let keys = CredentialKeys { super_secret_admin_key: false, ..CredentialKeys::ALL };
            let issued = issue_credential(&mut conn, &hasher, project.id, "test", None, keys, &by(), 1_000).unwrap();
            assert!(issued.super_secret_admin_key.is_none());
            let client = issued.publishable_client_key.as_ref().unwrap();
            assert!(client.expose_secret().starts_with("pck_"));
            let found = project_credentials::find_by_hash(
                &mut conn, project.id, CredentialKind::PublishableClientKey,
                &hasher.hash(client.expose_secret()),
            ).unwrap();
            assert!(found.as_ref().is_some_and(|c| c.lifetime().is_valid(2_000)));
            assert_eq!(found.map(|c| c.id), Some(issued.record.id));
            // The server key is not a client key.
            let server = issued.secret_server_key.as_ref().unwrap();
            let crossed = project_credentials::find_by_hash(
                &mut conn, project.id, CredentialKind::PublishableClientKey,
                &hasher.hash(server.expose_secret()),
            ).unwrap();
            assert_eq!(crossed, None);
        }
    }
}
