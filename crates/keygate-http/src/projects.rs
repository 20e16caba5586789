//! Creating projects and their credentials: shared by the operator's HTTP endpoints, the
//! `keygate project …` commands and the first start, so all three make the same project.

use keygate_domain::{
    CredentialKind, EpochMillis, KeyHasher, ProjectId, ProjectSwitches, SecretToken,
};
use keygate_permissions::{default_team_definitions, PermissionDefinition, SystemPermission};
use keygate_storage::repo::project_credentials::{self, ProjectCredentialRecord};
use keygate_storage::repo::projects::{self, ProjectRecord};
use keygate_storage::repo::team_permissions::{self, PermissionDefinitionRecord};
use keygate_storage::{DbConnection, StorageError};
use uuid::Uuid;

/// Creates a project with the system team permissions and the `team_admin` / `team_member`
/// defaults, in one transaction.
pub fn create_project(
    conn: &mut DbConnection,
    display_name: &str,
    config: ProjectSwitches,
    now: EpochMillis,
) -> Result<ProjectRecord, StorageError> {
    let project = ProjectRecord {
        id: ProjectId::new_random(),
        display_name: display_name.to_owned(),
        created_at_millis: now,
        config,
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

/// Creates a credential for `project` with the keys asked for; only their hashes are stored.
/// The caller must ask for at least one key (storage refuses an empty credential).
pub fn issue_credential(
    conn: &mut DbConnection,
    hasher: &KeyHasher,
    project: ProjectId,
    description: &str,
    expires_at_millis: Option<EpochMillis>,
    keys: CredentialKeys,
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
    };
    project_credentials::insert(conn, &record)?;
    Ok(IssuedCredential {
        record,
        publishable_client_key,
        secret_server_key,
        super_secret_admin_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

        fn an_issued_credential_is_found_by_its_keys_hashes_only(db) {
            let mut conn = db.conn();
            let hasher = KeyHasher::sha256();
            let project = create_project(&mut conn, "Acme", ProjectSwitches::default(), 1_000).unwrap();
            let keys = CredentialKeys { super_secret_admin_key: false, ..CredentialKeys::ALL };
            let issued = issue_credential(&mut conn, &hasher, project.id, "test", None, keys, 1_000).unwrap();
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
