//! `keygate project create|update|list|show` and `keygate project credentials
//! list|show|update|revoke` (whose `list` and `revoke` are also `keygate credentials …`,
//! `key_commands`): the operator's project management without HTTP, through the same
//! use cases as the API (`keygate_service::projects`), printing the same JSON
//! (`keygate_http::project_objects`).
//!
//! A command is another process than the server: a credential it revokes is announced over
//! Postgres `NOTIFY` (by storage, in the revoking transaction), so running servers on Postgres
//! stop accepting it at once; a server on SQLite hears nothing and accepts it until its
//! project-authentication cache entry expires (`project_auth_cache.ttl_millis`, 1 s by default).

use anyhow::{bail, Context};
use keygate_domain::{EpochMillis, ProjectId, ProjectSwitches};
use keygate_http::project_objects::{
    CredentialListObject, CredentialObject, CredentialReadObject, ProjectObject,
};
use keygate_service::audit::AuditActor;
use keygate_service::clock::now_millis;
use keygate_service::projects::{
    create_project_with_cors, find_credential, find_project, issue_credential, list_credentials,
    list_projects, update_credential, update_project, CorsChanges, CredentialChanges,
    CredentialKeys,
};
use keygate_service::records::ProjectUpdate;
use keygate_service::{NotFound, ServiceError};
use keygate_storage::DbConnection;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::cli::{CredentialCommand, ProjectCommand};
use crate::runtime::{key_hasher, open_database};
use crate::settings::{LimitsSettings, Settings};

/// Connections the commands need: one, plus one spare.
const COMMAND_CONNECTIONS: u32 = 2;

/// Runs one `project` command and prints its JSON on standard output.
pub fn run(command: ProjectCommand, settings: &Settings) -> anyhow::Result<()> {
    let output = execute(command, settings)?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// Runs one `project` command and returns what it prints.
pub(crate) fn execute(command: ProjectCommand, settings: &Settings) -> anyhow::Result<Value> {
    let database = open_database(settings, COMMAND_CONNECTIONS)?;
    let mut conn = database.get()?;
    let now = now_millis();
    match command {
        ProjectCommand::Create {
            display_name,
            allow_user_api_keys,
            allow_team_api_keys,
            client_team_creation_enabled,
            allow_localhost,
        } => {
            let hasher = key_hasher(settings);
            let cors = CorsChanges {
                allow_localhost: Some(allow_localhost),
                domains: None,
            };
            let config = ProjectSwitches {
                allow_user_api_keys,
                allow_team_api_keys,
                client_team_creation_enabled,
            };
            let by = AuditActor::command_line("keygate project create");
            let (view, credential) = conn
                .in_transaction(|conn| {
                    let view =
                        create_project_with_cors(conn, &display_name, config, &cors, &by, now)?;
                    let credential = issue_credential(
                        conn,
                        &hasher,
                        view.project.id,
                        "created with `keygate project create`",
                        None,
                        CredentialKeys::ALL,
                        &by,
                        now,
                    )?;
                    Ok((view, credential))
                })
                .context("could not create the project")?;
            Ok(json!({
                "project": ProjectObject::new(&view),
                "credential": CredentialObject::new(&credential),
            }))
        }
        ProjectCommand::Update {
            id,
            display_name,
            allow_user_api_keys,
            allow_team_api_keys,
            client_team_creation_enabled,
            allow_localhost,
        } => {
            let cors = CorsChanges {
                allow_localhost,
                domains: None,
            };
            let changes = ProjectUpdate {
                display_name,
                allow_user_api_keys,
                allow_team_api_keys,
                client_team_creation_enabled,
                ..ProjectUpdate::default()
            };
            let by = AuditActor::command_line("keygate project update");
            match update_project(&mut conn, id, &changes, &cors, &by, now) {
                Ok(view) => Ok(serde_json::to_value(ProjectObject::new(&view))?),
                Err(ServiceError::NotFound(NotFound::Project { .. })) => {
                    bail!(no_such_project(id))
                }
                Err(error) => Err(error).context("could not update the project"),
            }
        }
        ProjectCommand::List => {
            let all = list_projects(&mut conn).context("could not list the projects")?;
            let shown: Vec<ProjectObject<'_>> = all.iter().map(ProjectObject::new).collect();
            Ok(serde_json::to_value(shown)?)
        }
        ProjectCommand::Show { id } => {
            match find_project(&mut conn, id).context("could not read the project")? {
                Some(view) => Ok(serde_json::to_value(ProjectObject::new(&view))?),
                None => bail!(no_such_project(id)),
            }
        }
        ProjectCommand::Credentials(command) => {
            execute_credentials(command, &mut conn, now, &settings.limits)
        }
    }
}

/// Runs one `project credentials` command.
pub(crate) fn execute_credentials(
    command: CredentialCommand,
    conn: &mut DbConnection,
    now: EpochMillis,
    limits: &LimitsSettings,
) -> anyhow::Result<Value> {
    let (project, credential, changes) = match command {
        CredentialCommand::List { project } => {
            require_project(conn, project)?;
            let all = list_credentials(conn, project, limits.max_credentials_per_project)
                .context("could not list the credentials")?;
            return Ok(serde_json::to_value(CredentialListObject::new(&all))?);
        }
        CredentialCommand::Show {
            project,
            credential,
        } => {
            require_project(conn, project)?;
            return match find_credential(conn, project, credential)
                .context("could not read the credential")?
            {
                Some(found) => Ok(serde_json::to_value(CredentialReadObject::new(&found))?),
                None => bail!(no_such_credential(project, credential)),
            };
        }
        CredentialCommand::Update {
            project,
            credential,
            description,
        } => (
            project,
            credential,
            CredentialChanges {
                description: Some(description),
                revoke: false,
            },
        ),
        CredentialCommand::Revoke {
            project,
            credential,
        } => (
            project,
            credential,
            CredentialChanges {
                description: None,
                revoke: true,
            },
        ),
    };
    require_project(conn, project)?;
    let by = AuditActor::command_line("keygate project credentials");
    match update_credential(conn, project, credential, changes, &by, now) {
        Ok(updated) => Ok(serde_json::to_value(CredentialReadObject::new(&updated))?),
        Err(ServiceError::NotFound(NotFound::ProjectCredential)) => {
            bail!(no_such_credential(project, credential))
        }
        Err(error) => Err(error).context("could not update the credential"),
    }
}

/// Fails naming `project` if there is no such project.
pub(crate) fn require_project(conn: &mut DbConnection, project: ProjectId) -> anyhow::Result<()> {
    match find_project(conn, project).context("could not read the project")? {
        Some(_) => Ok(()),
        None => bail!(no_such_project(project)),
    }
}

fn no_such_credential(project: ProjectId, credential: Uuid) -> String {
    format!(
        "project {project} has no credential with the id {credential} (`keygate project credentials list {project}` shows them all)"
    )
}

fn no_such_project(id: ProjectId) -> String {
    format!("no project has the id {id} (`keygate project list` shows them all)")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use keygate_domain::{CredentialKind, KeyHasher};
    use keygate_storage::repo::project_credentials;

    use super::*;
    use crate::settings::FlagOverrides;

    fn settings(directory: &tempfile::TempDir, pepper: Option<&str>) -> Settings {
        let mut env = BTreeMap::new();
        env.insert(
            "KEYGATE_DATABASE_URL".to_owned(),
            format!("sqlite://{}/k.db", directory.path().display()),
        );
        if let Some(pepper) = pepper {
            env.insert("KEYGATE_AUTH__PEPPER".to_owned(), pepper.to_owned());
        }
        Settings::load_from(None, &env, &FlagOverrides::default())
            .unwrap()
            .settings
    }

    #[test]
    fn create_update_list_show() {
        let directory = tempfile::tempdir().unwrap();
        let settings = settings(&directory, Some("a-pepper-of-at-least-32-characters"));
        let created = execute(
            ProjectCommand::Create {
                display_name: "Acme".to_owned(),
                allow_user_api_keys: true,
                allow_team_api_keys: false,
                client_team_creation_enabled: false,
                allow_localhost: false,
            },
            &settings,
        )
        .unwrap();
        let project = &created["project"];
        assert_eq!(project["display_name"], "Acme");
        assert_eq!(project["config"]["allow_localhost"], false, "opt in only");
        assert_eq!(project["config"]["allow_user_api_keys"], true);
        assert_eq!(project["config"]["allow_team_api_keys"], false);
        let id: ProjectId = project["id"].as_str().unwrap().parse().unwrap();
        let admin_key = created["credential"]["super_secret_admin_key"]
            .as_str()
            .unwrap();
        assert!(created["credential"]["publishable_client_key"].is_string());
        assert!(created["credential"]["secret_server_key"].is_string());

        // The credential is stored under the peppered hash.
        let database = open_database(&settings, 1).unwrap();
        let found = project_credentials::find_by_hash(
            &mut database.get().unwrap(),
            id,
            CredentialKind::SuperSecretAdminKey,
            &KeyHasher::hmac_sha256(b"a-pepper-of-at-least-32-characters").hash(admin_key),
        )
        .unwrap();
        assert!(found.is_some_and(|c| c.lifetime().is_valid(now_millis())));

        let updated = execute(
            ProjectCommand::Update {
                id,
                display_name: Some("Renamed".to_owned()),
                allow_user_api_keys: None,
                allow_team_api_keys: Some(true),
                client_team_creation_enabled: None,
                allow_localhost: Some(true),
            },
            &settings,
        )
        .unwrap();
        assert_eq!(updated["display_name"], "Renamed");
        assert_eq!(updated["config"]["allow_localhost"], true);
        assert_eq!(updated["config"]["allow_user_api_keys"], true);
        assert_eq!(updated["config"]["allow_team_api_keys"], true);

        let shown = execute(ProjectCommand::Show { id }, &settings).unwrap();
        assert_eq!(shown, updated);
        let listed = execute(ProjectCommand::List, &settings).unwrap();
        assert_eq!(listed, json!([updated]));
    }

    #[test]
    fn credentials_are_listed_described_and_revoked_from_the_command_line() {
        let directory = tempfile::tempdir().unwrap();
        let settings = settings(&directory, None);
        let created = execute(
            ProjectCommand::Create {
                display_name: "Acme".to_owned(),
                allow_user_api_keys: false,
                allow_team_api_keys: false,
                client_team_creation_enabled: false,
                allow_localhost: false,
            },
            &settings,
        )
        .unwrap();
        let project: ProjectId = created["project"]["id"].as_str().unwrap().parse().unwrap();
        let credential: Uuid = created["credential"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let admin_key = created["credential"]["super_secret_admin_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let credentials = |command| execute(ProjectCommand::Credentials(command), &settings);

        let listed = credentials(CredentialCommand::List { project }).unwrap();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        let shown = &listed["items"][0];
        assert_eq!(
            shown["super_secret_admin_key"]["last_four"],
            admin_key[admin_key.len() - 4..]
        );
        assert!(
            !listed.to_string().contains(&admin_key),
            "never the key itself"
        );

        let updated = credentials(CredentialCommand::Update {
            project,
            credential,
            description: "leaked in a log".to_owned(),
        })
        .unwrap();
        assert_eq!(updated["description"], "leaked in a log");
        assert!(updated.get("manually_revoked_at_millis").is_none());
        let revoked = credentials(CredentialCommand::Revoke {
            project,
            credential,
        })
        .unwrap();
        let revoked_at = revoked["manually_revoked_at_millis"].as_i64().unwrap();
        let again = credentials(CredentialCommand::Revoke {
            project,
            credential,
        })
        .unwrap();
        assert_eq!(
            again["manually_revoked_at_millis"], revoked_at,
            "the first one wins"
        );
        let shown = credentials(CredentialCommand::Show {
            project,
            credential,
        })
        .unwrap();
        assert_eq!(shown, again);

        // The revoked admin key no longer opens the project.
        let database = open_database(&settings, 1).unwrap();
        let stored = project_credentials::find_by_hash(
            &mut database.get().unwrap(),
            project,
            CredentialKind::SuperSecretAdminKey,
            &KeyHasher::sha256().hash(&admin_key),
        )
        .unwrap()
        .unwrap();
        assert!(!stored.lifetime().is_valid(now_millis()));

        // Unknown credentials and projects are errors naming them.
        let unknown = Uuid::new_v4();
        for command in [
            CredentialCommand::Revoke {
                project,
                credential: unknown,
            },
            CredentialCommand::Show {
                project,
                credential: unknown,
            },
        ] {
            let error = credentials(command).unwrap_err();
            assert!(error.to_string().contains(&unknown.to_string()), "{error}");
        }
        let elsewhere = ProjectId::new_random();
        let error = credentials(CredentialCommand::List { project: elsewhere }).unwrap_err();
        assert!(
            error.to_string().contains(&elsewhere.to_string()),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_project_is_an_error_naming_it() {
        let directory = tempfile::tempdir().unwrap();
        let settings = settings(&directory, None);
        let id = ProjectId::new_random();
        let error = execute(ProjectCommand::Show { id }, &settings).unwrap_err();
        assert!(error.to_string().contains(&id.to_string()), "{error}");
        let error = execute(
            ProjectCommand::Update {
                id,
                display_name: None,
                allow_user_api_keys: Some(true),
                allow_team_api_keys: None,
                client_team_creation_enabled: None,
                allow_localhost: None,
            },
            &settings,
        )
        .unwrap_err();
        assert!(error.to_string().contains(&id.to_string()), "{error}");
        assert_eq!(execute(ProjectCommand::List, &settings).unwrap(), json!([]));
    }
}
