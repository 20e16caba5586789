//! Project credentials: the publishable client, secret server and super-secret admin keys a
//! caller presents with `x-stack-*` headers. Only their digests are stored, one column per
//! [`CredentialKind`].
//!
//! A lookup returns the credential whatever its expiry or revocation: whether it is still valid
//! is the domain's rule ([`ProjectCredentialRecord::lifetime`]), applied by the caller.
//!
//! A change to a stored credential ([`update`]) announces itself to the other nodes in its own
//! transaction (`key_changes::announce_credential_changes`), so a revocation made anywhere — a
//! node's HTTP API or `keygate project credentials revoke` — reaches every listening node.

use diesel::prelude::*;
use keygate_domain::{CredentialKind, EpochMillis, KeyHash, Lifetime, ProjectId};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::key_changes::announce_credential_changes;
use crate::schema::project_credentials;
use crate::stored::{parse_id, parse_optional_hash};

/// A project credential as stored: up to three key digests sharing one description and
/// lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCredentialRecord {
    /// The credential's id.
    pub id: Uuid,
    /// The project it grants access to.
    pub project_id: ProjectId,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at_millis: EpochMillis,
    /// When it stops being valid (it is still valid at this instant); `None` never expires.
    pub expires_at_millis: Option<EpochMillis>,
    /// When it was revoked; a revoked credential is never valid.
    pub revoked_at_millis: Option<EpochMillis>,
    /// Digest of the publishable client key, if the credential has one.
    pub publishable_client_key_hash: Option<KeyHash>,
    /// Digest of the secret server key, if the credential has one.
    pub secret_server_key_hash: Option<KeyHash>,
    /// Digest of the super-secret admin key, if the credential has one.
    pub super_secret_admin_key_hash: Option<KeyHash>,
    /// The publishable client key's last four characters, for display (`None` without that key,
    /// or for a credential issued before they were kept).
    pub publishable_client_key_last_four: Option<String>,
    /// The secret server key's last four characters, for display.
    pub secret_server_key_last_four: Option<String>,
    /// The super-secret admin key's last four characters, for display.
    pub super_secret_admin_key_last_four: Option<String>,
}

impl ProjectCredentialRecord {
    /// The credential's expiry and revocation, for the domain's validity rule
    /// ([`Lifetime::check`]).
    pub const fn lifetime(&self) -> Lifetime {
        Lifetime::new(self.expires_at_millis, self.revoked_at_millis)
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = project_credentials, treat_none_as_default_value = false)]
struct ProjectCredentialRow {
    id: String,
    project_id: String,
    description: String,
    created_at_millis: i64,
    expires_at_millis: Option<i64>,
    revoked_at_millis: Option<i64>,
    publishable_client_key_hash: Option<Vec<u8>>,
    secret_server_key_hash: Option<Vec<u8>>,
    super_secret_admin_key_hash: Option<Vec<u8>>,
    publishable_client_key_last_four: Option<String>,
    secret_server_key_last_four: Option<String>,
    super_secret_admin_key_last_four: Option<String>,
}

impl From<&ProjectCredentialRecord> for ProjectCredentialRow {
    fn from(credential: &ProjectCredentialRecord) -> Self {
        let bytes = |hash: &Option<KeyHash>| hash.map(|hash| hash.as_bytes().to_vec());
        ProjectCredentialRow {
            id: credential.id.to_string(),
            project_id: credential.project_id.to_string(),
            description: credential.description.clone(),
            created_at_millis: credential.created_at_millis,
            expires_at_millis: credential.expires_at_millis,
            revoked_at_millis: credential.revoked_at_millis,
            publishable_client_key_hash: bytes(&credential.publishable_client_key_hash),
            secret_server_key_hash: bytes(&credential.secret_server_key_hash),
            super_secret_admin_key_hash: bytes(&credential.super_secret_admin_key_hash),
            publishable_client_key_last_four: credential.publishable_client_key_last_four.clone(),
            secret_server_key_last_four: credential.secret_server_key_last_four.clone(),
            super_secret_admin_key_last_four: credential.super_secret_admin_key_last_four.clone(),
        }
    }
}

impl TryFrom<ProjectCredentialRow> for ProjectCredentialRecord {
    type Error = StorageError;

    fn try_from(row: ProjectCredentialRow) -> Result<Self, StorageError> {
        Ok(ProjectCredentialRecord {
            id: parse_id("project_credentials.id", &row.id)?,
            project_id: parse_id("project_credentials.project_id", &row.project_id)?,
            description: row.description,
            created_at_millis: row.created_at_millis,
            expires_at_millis: row.expires_at_millis,
            revoked_at_millis: row.revoked_at_millis,
            publishable_client_key_hash: parse_optional_hash(
                "project_credentials.publishable_client_key_hash",
                row.publishable_client_key_hash.as_deref(),
            )?,
            secret_server_key_hash: parse_optional_hash(
                "project_credentials.secret_server_key_hash",
                row.secret_server_key_hash.as_deref(),
            )?,
            super_secret_admin_key_hash: parse_optional_hash(
                "project_credentials.super_secret_admin_key_hash",
                row.super_secret_admin_key_hash.as_deref(),
            )?,
            publishable_client_key_last_four: row.publishable_client_key_last_four,
            secret_server_key_last_four: row.secret_server_key_last_four,
            super_secret_admin_key_last_four: row.super_secret_admin_key_last_four,
        })
    }
}

/// Stores a new credential. It must carry at least one key digest
/// ([`StorageError::ConstraintViolation`] otherwise); a digest already stored is
/// [`StorageError::AlreadyExists`]; an unknown project is [`StorageError::ForeignKeyViolation`].
pub fn insert(
    conn: &mut DbConnection,
    credential: &ProjectCredentialRecord,
) -> Result<(), StorageError> {
    diesel::insert_into(project_credentials::table)
        .values(ProjectCredentialRow::from(credential))
        .execute(conn)?;
    Ok(())
}

/// The credential of `project` whose `kind` key has digest `hash` (digests are unique per
/// kind), revoked and expired ones included: the caller judges its
/// [`lifetime`](ProjectCredentialRecord::lifetime).
pub fn find_by_hash(
    conn: &mut DbConnection,
    project: ProjectId,
    kind: CredentialKind,
    hash: &KeyHash,
) -> Result<Option<ProjectCredentialRecord>, StorageError> {
    use project_credentials::dsl;

    let hash = hash.as_bytes().to_vec();
    let query = dsl::project_credentials
        .filter(dsl::project_id.eq(project.to_string()))
        .select(ProjectCredentialRow::as_select())
        .into_boxed();
    let query = match kind {
        CredentialKind::PublishableClientKey => {
            query.filter(dsl::publishable_client_key_hash.eq(hash))
        }
        CredentialKind::SecretServerKey => query.filter(dsl::secret_server_key_hash.eq(hash)),
        CredentialKind::SuperSecretAdminKey => {
            query.filter(dsl::super_secret_admin_key_hash.eq(hash))
        }
    };
    query
        .get_result(conn)
        .optional()?
        .map(ProjectCredentialRecord::try_from)
        .transpose()
}

/// The credential `id` of `project`, revoked and expired ones included.
pub fn get(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
) -> Result<Option<ProjectCredentialRecord>, StorageError> {
    use project_credentials::dsl;

    dsl::project_credentials
        .filter(dsl::project_id.eq(project.to_string()))
        .filter(dsl::id.eq(id.to_string()))
        .select(ProjectCredentialRow::as_select())
        .get_result(conn)
        .optional()?
        .map(ProjectCredentialRecord::try_from)
        .transpose()
}

/// At most `limit` credentials of `project`, newest first (as upstream lists them), revoked and
/// expired ones included.
pub fn list(
    conn: &mut DbConnection,
    project: ProjectId,
    limit: i64,
) -> Result<Vec<ProjectCredentialRecord>, StorageError> {
    use project_credentials::dsl;

    dsl::project_credentials
        .filter(dsl::project_id.eq(project.to_string()))
        .order((dsl::created_at_millis.desc(), dsl::id.desc()))
        .limit(limit)
        .select(ProjectCredentialRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ProjectCredentialRecord::try_from)
        .collect()
}

/// How many credentials `project` has, revoked and expired ones included.
pub fn count(conn: &mut DbConnection, project: ProjectId) -> Result<i64, StorageError> {
    use project_credentials::dsl;

    Ok(dsl::project_credentials
        .filter(dsl::project_id.eq(project.to_string()))
        .count()
        .get_result(conn)?)
}

/// A change to a stored credential; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialUpdate {
    /// The new description.
    pub description: Option<String>,
    /// Revoke it at this instant — unless it already is: the first revocation's instant is kept.
    pub revoke_at_millis: Option<EpochMillis>,
}

/// Applies `changes` to the credential `id` of `project` and returns it as stored afterwards,
/// in one transaction that also announces the change to the other nodes; a credential that is
/// not there is [`StorageError::NotFound`].
pub fn update(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
    changes: &CredentialUpdate,
) -> Result<ProjectCredentialRecord, StorageError> {
    use project_credentials::dsl;

    conn.in_transaction(|conn| {
        let this = || {
            dsl::project_credentials
                .filter(dsl::project_id.eq(project.to_string()))
                .filter(dsl::id.eq(id.to_string()))
        };
        if let Some(description) = &changes.description {
            diesel::update(this())
                .set(dsl::description.eq(description))
                .execute(conn)?;
        }
        if let Some(revoke_at) = changes.revoke_at_millis {
            // Write-once: a second revocation leaves the first one's instant.
            diesel::update(this().filter(dsl::revoked_at_millis.is_null()))
                .set(dsl::revoked_at_millis.eq(revoke_at))
                .execute(conn)?;
        }
        let updated = get(conn, project, id)?.ok_or(StorageError::NotFound {
            entity: "project credential",
        })?;
        if changes.description.is_some() || changes.revoke_at_millis.is_some() {
            announce_credential_changes(conn, &[id])?;
        }
        Ok(updated)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{insert_project, random_hash};

    fn credential(project: ProjectId) -> ProjectCredentialRecord {
        ProjectCredentialRecord {
            id: Uuid::new_v4(),
            project_id: project,
            description: "test credential".to_owned(),
            created_at_millis: 1_000,
            expires_at_millis: None,
            revoked_at_millis: None,
            publishable_client_key_hash: Some(random_hash()),
            secret_server_key_hash: Some(random_hash()),
            super_secret_admin_key_hash: None,
            publishable_client_key_last_four: Some("abcd".to_owned()),
            secret_server_key_last_four: Some("wxyz".to_owned()),
            super_secret_admin_key_last_four: None,
        }
    }

    crate::backend_tests! {
        fn finds_a_credential_by_kind_and_hash(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let stored = credential(project);
            insert(&mut conn, &stored).unwrap();
            let client_hash = stored.publishable_client_key_hash.unwrap();
            let server_hash = stored.secret_server_key_hash.unwrap();

            let found =
                find_by_hash(&mut conn, project, CredentialKind::PublishableClientKey, &client_hash);
            assert_eq!(found.unwrap(), Some(stored.clone()));
            let found = find_by_hash(&mut conn, project, CredentialKind::SecretServerKey, &server_hash);
            assert_eq!(found.unwrap(), Some(stored.clone()));

            // The right hash under the wrong kind, another project, or an unknown hash: nothing.
            for (kind, hash) in [
                (CredentialKind::SecretServerKey, client_hash),
                (CredentialKind::SuperSecretAdminKey, server_hash),
                (CredentialKind::PublishableClientKey, random_hash()),
            ] {
                assert_eq!(find_by_hash(&mut conn, project, kind, &hash).unwrap(), None);
            }
            let other_project = insert_project(&mut conn).id;
            let found = find_by_hash(
                &mut conn, other_project, CredentialKind::PublishableClientKey, &client_hash,
            );
            assert_eq!(found.unwrap(), None);
        }

        fn expired_and_revoked_credentials_are_found_and_judged_by_their_lifetime(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let expiring = ProjectCredentialRecord {
                expires_at_millis: Some(10_000),
                ..credential(project)
            };
            let revoked = ProjectCredentialRecord {
                revoked_at_millis: Some(2_000),
                ..credential(project)
            };
            insert(&mut conn, &expiring).unwrap();
            insert(&mut conn, &revoked).unwrap();
            let kind = CredentialKind::PublishableClientKey;
            let expiring_hash = expiring.publishable_client_key_hash.unwrap();

            let found = find_by_hash(&mut conn, project, kind, &expiring_hash).unwrap().unwrap();
            assert_eq!(found, expiring);
            assert!(found.lifetime().is_valid(10_000));
            assert!(!found.lifetime().is_valid(10_001));
            let revoked_hash = revoked.publishable_client_key_hash.unwrap();
            let found = find_by_hash(&mut conn, project, kind, &revoked_hash).unwrap().unwrap();
            assert_eq!(found, revoked);
            assert!(!found.lifetime().is_valid(1_000));
        }

        fn credentials_are_read_listed_newest_first_and_counted_per_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let older = credential(project);
            let newer = ProjectCredentialRecord { created_at_millis: 2_000, ..credential(project) };
            insert(&mut conn, &older).unwrap();
            insert(&mut conn, &newer).unwrap();
            let other_project = insert_project(&mut conn).id;
            let elsewhere = credential(other_project);
            insert(&mut conn, &elsewhere).unwrap();

            assert_eq!(get(&mut conn, project, older.id).unwrap(), Some(older.clone()));
            assert_eq!(get(&mut conn, project, elsewhere.id).unwrap(), None, "another project's");
            assert_eq!(list(&mut conn, project, 10).unwrap(), vec![newer.clone(), older]);
            assert_eq!(list(&mut conn, project, 1).unwrap(), vec![newer], "bounded by the limit");
            assert_eq!(count(&mut conn, project).unwrap(), 2);
            assert_eq!(count(&mut conn, ProjectId::new_random()).unwrap(), 0);
        }

        fn an_update_changes_the_description_and_the_first_revocation_wins(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let stored = credential(project);
            insert(&mut conn, &stored).unwrap();

            let described = CredentialUpdate { description: Some("renamed".to_owned()), ..CredentialUpdate::default() };
            let updated = update(&mut conn, project, stored.id, &described).unwrap();
            assert_eq!(updated, ProjectCredentialRecord { description: "renamed".to_owned(), ..stored.clone() });

            let revoke = |at| CredentialUpdate { revoke_at_millis: Some(at), ..CredentialUpdate::default() };
            let revoked = update(&mut conn, project, stored.id, &revoke(5_000)).unwrap();
            assert_eq!(revoked.revoked_at_millis, Some(5_000));
            let again = update(&mut conn, project, stored.id, &revoke(9_000)).unwrap();
            assert_eq!(again.revoked_at_millis, Some(5_000), "the first revocation's instant stays");
            assert_eq!(get(&mut conn, project, stored.id).unwrap(), Some(again));

            for (project, id) in [(project, Uuid::new_v4()), (ProjectId::new_random(), stored.id)] {
                assert!(matches!(
                    update(&mut conn, project, id, &revoke(1)),
                    Err(StorageError::NotFound { .. })
                ));
            }
        }

        fn credential_constraints_are_enforced(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let keyless = ProjectCredentialRecord {
                publishable_client_key_hash: None,
                secret_server_key_hash: None,
                super_secret_admin_key_hash: None,
                ..credential(project)
            };
            assert!(matches!(
                insert(&mut conn, &keyless),
                Err(StorageError::ConstraintViolation { .. })
            ));

            let stored = credential(project);
            insert(&mut conn, &stored).unwrap();
            let same_hash = ProjectCredentialRecord {
                publishable_client_key_hash: stored.publishable_client_key_hash,
                ..credential(project)
            };
            assert!(matches!(
                insert(&mut conn, &same_hash),
                Err(StorageError::AlreadyExists { .. })
            ));

            assert!(matches!(
                insert(&mut conn, &credential(ProjectId::new_random())),
                Err(StorageError::ForeignKeyViolation { .. })
            ));
        }
    }
}
