//! The `keys` and `credentials` commands against a SQLite file, as an operator runs them.

use std::collections::BTreeMap;

use keygate_domain::{ApiKey, KeyHasher, NewApiKey, TeamId, UserId};
use keygate_storage::repo::api_keys;
use keygate_storage::testing::{insert_team, insert_user};
use uuid::Uuid;

use super::*;
use crate::cli::ProjectCommand;
use crate::project_commands::execute;
use crate::settings::FlagOverrides;

fn settings(directory: &tempfile::TempDir) -> Settings {
    let env = BTreeMap::from([(
        "KEYGATE_DATABASE_URL".to_owned(),
        format!("sqlite://{}/k.db", directory.path().display()),
    )]);
    Settings::load_from(None, &env, &FlagOverrides::default())
        .unwrap()
        .settings
}

/// A project (through `keygate project create`), a user and a team of it, and the id of its
/// credential.
fn project(settings: &Settings) -> (ProjectId, UserId, TeamId, Uuid) {
    let created = execute(
        ProjectCommand::Create {
            display_name: "Acme".to_owned(),
            allow_user_api_keys: true,
            allow_team_api_keys: true,
            client_team_creation_enabled: false,
            allow_localhost: false,
        },
        settings,
    )
    .unwrap();
    let project: ProjectId = created["project"]["id"].as_str().unwrap().parse().unwrap();
    let credential: Uuid = created["credential"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let database = open_database(settings, 1).unwrap();
    let mut conn = database.get().unwrap();
    let user = insert_user(&mut conn, project).id;
    let team = insert_team(&mut conn, project).id;
    (project, user, team, credential)
}

fn store_key(settings: &Settings, project: ProjectId, owner: Owner, created_at: i64) -> ApiKey {
    let (key, _plain) = NewApiKey {
        project_id: project,
        owner,
        description: "deploys\nfrom CI".to_owned(),
        is_public: false,
        expires_at_millis: None,
        policy: Default::default(),
    }
    .generate(created_at, &KeyHasher::sha256());
    let database = open_database(settings, 1).unwrap();
    api_keys::insert(&mut database.get().unwrap(), &key).unwrap();
    key
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `keys list --project PROJECT` with these options.
fn list_with(
    project: ProjectId,
    state: Option<StateArg>,
    user: Option<UserId>,
    limit: Option<usize>,
    cursor: Option<String>,
) -> KeysCommand {
    KeysCommand::List {
        project,
        user,
        team: None,
        state,
        last_used_before: None,
        limit,
        cursor,
    }
}

fn list(project: ProjectId) -> KeysCommand {
    list_with(project, None, None, None, None)
}

#[test]
fn keys_are_listed_paged_filtered_shown_and_revoked() {
    let directory = tempfile::tempdir().unwrap();
    let settings = settings(&directory);
    let (project, user, team, _) = project(&settings);
    let newest = store_key(&settings, project, Owner::Team(team), 300);
    let middle = store_key(&settings, project, Owner::User(user), 200);
    let oldest = store_key(&settings, project, Owner::User(user), 100);
    let all = vec![
        newest.id.to_string(),
        middle.id.to_string(),
        oldest.id.to_string(),
    ];

    let page = execute_keys(list(project), &settings).unwrap();
    assert_eq!(ids(&page.json), all);
    assert_eq!(page.json["is_paginated"], true);
    assert_eq!(page.json["items"][0]["team_id"], team.to_string());
    // The table: a header, one line per key (a description's newline shown as a space).
    let lines: Vec<&str> = page.table.lines().collect();
    assert_eq!(lines.len(), 4, "{}", page.table);
    assert!(lines[0].starts_with("ID "));
    let state_column = lines[0].find("STATE").unwrap();
    assert!(
        lines[1][state_column..].starts_with("valid"),
        "{}",
        page.table
    );
    assert!(lines[1].contains(&newest.id.to_string()) && lines[1].ends_with("deploys from CI"));

    // Pages of one, continued with the printed cursor.
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let command = list_with(project, None, None, Some(1), cursor.clone());
        let page = execute_keys(command, &settings).unwrap();
        walked.extend(ids(&page.json));
        match page.json["pagination"]["next_cursor"].as_str() {
            Some(next) => {
                assert!(page.table.ends_with(&format!("more: --cursor {next}\n")));
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(walked, all);

    // Revoke (twice: the first instant wins), then filter by state and owner.
    let revoke = || {
        execute_keys(
            KeysCommand::Revoke {
                project,
                key: middle.id,
            },
            &settings,
        )
        .unwrap()
    };
    let revoked = revoke();
    let revoked_at = revoked.json["manually_revoked_at_millis"].as_i64().unwrap();
    assert_eq!(revoke().json["manually_revoked_at_millis"], revoked_at);
    assert!(revoked.table.contains("revoked"));
    let shown = execute_keys(
        KeysCommand::Show {
            project,
            key: middle.id,
        },
        &settings,
    )
    .unwrap();
    assert_eq!(shown.json, revoked.json);
    let filtered = |state, user| {
        let command = list_with(project, Some(state), user, None, None);
        ids(&execute_keys(command, &settings).unwrap().json)
    };
    assert_eq!(filtered(StateArg::Revoked, None), [middle.id.to_string()]);
    assert_eq!(
        filtered(StateArg::Valid, None),
        [newest.id.to_string(), oldest.id.to_string()]
    );
    assert_eq!(
        filtered(StateArg::Valid, Some(user)),
        [oldest.id.to_string()]
    );
    assert_eq!(filtered(StateArg::Expired, None), Vec::<String>::new());

    // Unknown keys and projects, bad limits and cursors are errors that say so.
    let unknown = ApiKeyId::new_random();
    for command in [
        KeysCommand::Show {
            project,
            key: unknown,
        },
        KeysCommand::Revoke {
            project,
            key: unknown,
        },
    ] {
        let error = execute_keys(command, &settings).unwrap_err();
        assert!(error.to_string().contains(&unknown.to_string()), "{error}");
    }
    let elsewhere = ProjectId::new_random();
    let error = execute_keys(list(elsewhere), &settings).unwrap_err();
    assert!(
        error.to_string().contains(&elsewhere.to_string()),
        "{error}"
    );
    let error = execute_keys(list_with(project, None, None, Some(0), None), &settings).unwrap_err();
    assert!(error.to_string().contains("--limit"), "{error}");
    let bad_cursor = list_with(project, None, None, None, Some("nope".to_owned()));
    let error = execute_keys(bad_cursor, &settings).unwrap_err();
    assert!(error.to_string().contains("--cursor"), "{error}");
}

#[test]
fn top_level_credential_commands_list_and_revoke() {
    let directory = tempfile::tempdir().unwrap();
    let settings = settings(&directory);
    let (project, _, _, credential) = project(&settings);
    let listed = execute_top_credentials(CredentialCommand::List { project }, &settings).unwrap();
    assert_eq!(listed.json["items"][0]["id"], credential.to_string());
    assert_eq!(listed.table.lines().count(), 2, "{}", listed.table);
    assert!(listed.table.contains(&credential.to_string()));
    let revoked = execute_top_credentials(
        CredentialCommand::Revoke {
            project,
            credential,
        },
        &settings,
    )
    .unwrap();
    let revoked_at = revoked.json["manually_revoked_at_millis"].as_i64().unwrap();
    assert!(
        revoked.table.contains(&revoked_at.to_string()),
        "{}",
        revoked.table
    );
}

#[test]
fn tables_align_columns_and_say_when_empty() {
    let rendered = table(
        &["A", "LONG HEADER", "LAST"],
        vec![
            vec!["wide cell".to_owned(), "x".to_owned(), "end".to_owned()],
            vec!["é".to_owned(), "tab\there".to_owned(), "z".to_owned()],
        ],
    );
    assert_eq!(
        rendered,
        "A          LONG HEADER  LAST\nwide cell  x            end\né          tab here     z\n"
    );
    assert_eq!(table(&["ID", "X"], Vec::new()), "ID  X\n(none)\n");
}
