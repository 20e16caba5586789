//! Project credentials: the publishable client, secret server and super-secret admin keys a
//! caller presents with `x-stack-*` headers. Only their digests are stored, one column per
//! [`CredentialKind`].
//!
//! A lookup returns the credential whatever its expiry or revocation: whether it is still valid
//! is the domain's rule ([`ProjectCredentialRecord::lifetime`]), applied by the caller.

use diesel::prelude::*;
use keygate_domain::{CredentialKind, EpochMillis, KeyHash, Lifetime, ProjectId};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StorageError;
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
