//! `keygate project create|update|list|show`: the operator's project management without HTTP,
//! through the same use cases as the API (`keygate_service::projects`), printing the same JSON
//! (`keygate_http::project_objects`).

use anyhow::{bail, Context};
use keygate_domain::{ProjectId, ProjectSwitches};
use keygate_http::project_objects::{CredentialObject, ProjectObject};
use keygate_service::clock::now_millis;
use keygate_service::projects::{
    create_project_with_cors, find_project, issue_credential, list_projects, update_project,
    CorsChanges, CredentialKeys,
};
use keygate_service::records::ProjectUpdate;
use keygate_service::{NotFound, ServiceError};
use serde_json::{json, Value};

use crate::cli::ProjectCommand;
use crate::runtime::{key_hasher, open_database};
use crate::settings::Settings;

/// Connections the commands need: one, plus one spare.
const COMMAND_CONNECTIONS: u32 = 2;

/// Runs one `project` command and prints its JSON on standard output.
pub fn run(command: ProjectCommand, settings: &Settings) -> anyhow::Result<()> {
    let output = execute(command, settings)?;
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// Runs one `project` command and returns what it prints.
fn execute(command: ProjectCommand, settings: &Settings) -> anyhow::Result<Value> {
    let database = open_database(settings, COMMAND_CONNECTIONS)?;
    let mut conn = database.get()?;
    let now = now_millis();
    match command {
        ProjectCommand::Create {
            display_name,
            allow_user_api_keys,
            allow_team_api_keys,
            client_team_creation_enabled,
        } => {
            let hasher = key_hasher(settings);
            let config = ProjectSwitches {
                allow_user_api_keys,
                allow_team_api_keys,
                client_team_creation_enabled,
            };
            let (view, credential) = conn
                .in_transaction(|conn| {
                    let view = create_project_with_cors(
                        conn,
                        &display_name,
                        config,
                        &CorsChanges::default(),
                        now,
                    )?;
                    let credential = issue_credential(
                        conn,
                        &hasher,
                        view.project.id,
                        "created with `keygate project create`",
                        None,
                        CredentialKeys::ALL,
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
        } => {
            let changes = ProjectUpdate {
                display_name,
                allow_user_api_keys,
                allow_team_api_keys,
                client_team_creation_enabled,
            };
            match update_project(&mut conn, id, &changes, &CorsChanges::default(), now) {
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
    }
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
            },
            &settings,
        )
        .unwrap();
        let project = &created["project"];
        assert_eq!(project["display_name"], "Acme");
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
            },
            &settings,
        )
        .unwrap();
        assert_eq!(updated["display_name"], "Renamed");
        assert_eq!(updated["config"]["allow_user_api_keys"], true);
        assert_eq!(updated["config"]["allow_team_api_keys"], true);

        let shown = execute(ProjectCommand::Show { id }, &settings).unwrap();
        assert_eq!(shown, updated);
        let listed = execute(ProjectCommand::List, &settings).unwrap();
        assert_eq!(listed, json!([updated]));
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
            },
            &settings,
        )
        .unwrap_err();
        assert!(error.to_string().contains(&id.to_string()), "{error}");
        assert_eq!(execute(ProjectCommand::List, &settings).unwrap(), json!([]));
    }
}
