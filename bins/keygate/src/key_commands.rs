//! `keygate keys list|show|revoke` and `keygate credentials list|revoke`: the operator's view of
//! a project's API keys and credentials from the command line, printed as the HTTP API answers
//! them (JSON) or, when standard output is a terminal and `--json` is not given, as an aligned
//! table.
//!
//! **Key decisions.** The key commands run the same use cases as `GET /api/v1/internal/keys`
//! (`keygate_service::operator_keys`) on a `Service` of their own, so a revocation takes the one
//! key-write path: on Postgres it is announced (`NOTIFY`) in its transaction and every running
//! server stops accepting the key at once; a server on SQLite hears nothing and accepts it until
//! its cached row expires (`check_cache.row_ttl_millis`, 60 s by default). The credential
//! commands are `keygate project credentials list|revoke` under another name
//! (`project_commands::execute_credentials`), with a table added.

use std::collections::HashMap;
use std::io::IsTerminal;

use anyhow::{bail, Context};
use keygate_domain::{ApiKey, ApiKeyId, EpochMillis, Owner, ProjectId};
use keygate_http::key_objects::{decode_cursor, key_json, key_page_json};
use keygate_service::audit::AuditActor;
use keygate_service::clock::{now_millis, system_clock};
use keygate_service::operator_keys::{KeyFilter, KeyState};
use keygate_service::{Limits, NotFound, Service, ServiceError};
use serde_json::Value;

use crate::cli::{CredentialCommand, CredentialsArgs, KeysArgs, KeysCommand, StateArg};
use crate::project_commands::{execute_credentials, require_project};
use crate::runtime::{key_hasher, open_database};
use crate::settings::Settings;

/// Connections the commands need: one, plus one spare.
const COMMAND_CONNECTIONS: u32 = 2;

/// What a command prints: its JSON, and the table shown instead on a terminal.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) json: Value,
    pub(crate) table: String,
}

/// Prints `output` as JSON when asked or when standard output is not a terminal, else as its
/// table.
pub(crate) fn print(output: &Output, force_json: bool) -> anyhow::Result<()> {
    if force_json || !std::io::stdout().is_terminal() {
        println!("{}", serde_json::to_string_pretty(&output.json)?);
    } else {
        print!("{}", output.table);
    }
    Ok(())
}

/// Runs one `keys` command and prints its answer.
pub fn run_keys(args: KeysArgs, settings: &Settings) -> anyhow::Result<()> {
    let output = execute_keys(args.command, settings)?;
    print(&output, args.output.json)
}

/// Runs one `credentials` command and prints its answer.
pub fn run_credentials(args: CredentialsArgs, settings: &Settings) -> anyhow::Result<()> {
    let output = execute_top_credentials(args.command.into(), settings)?;
    print(&output, args.output.json)
}

/// A service over the settings' database, for one command.
pub(crate) fn command_service(settings: &Settings) -> anyhow::Result<Service> {
    let database = open_database(settings, COMMAND_CONNECTIONS)?;
    Ok(
        Service::new(database, key_hasher(settings), system_clock()).with_limits(Limits {
            max_page_size: settings.limits.max_page_size,
            ..Limits::default()
        }),
    )
}

/// Runs one `keys` command and returns what it prints.
fn execute_keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<Output> {
    let service = command_service(settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the command's runtime")?;
    let now = now_millis();
    runtime.block_on(async move {
        match command {
            KeysCommand::List {
                project,
                user,
                team,
                state,
                last_used_before,
                limit,
                cursor,
            } => {
                require(&service, project)?;
                let max_page_size = service.limits().max_page_size;
                let limit = limit.unwrap_or(max_page_size);
                if !(1..=max_page_size).contains(&limit) {
                    bail!("--limit must be between 1 and {max_page_size} (limits.max_page_size)");
                }
                let after = match cursor {
                    Some(text) => Some(decode_cursor(&text).with_context(|| {
                        format!("--cursor {text:?} is not a next_cursor keygate handed out")
                    })?),
                    None => None,
                };
                let filter = KeyFilter {
                    owner: user.map(Owner::User).or(team.map(Owner::Team)),
                    state: state.map(|state| match state {
                        StateArg::Valid => KeyState::Valid,
                        StateArg::Revoked => KeyState::Revoked,
                        StateArg::Expired => KeyState::Expired,
                    }),
                    last_used_before,
                };
                let list = service
                    .list_project_keys(project, filter, limit, after)
                    .await
                    .context("could not list the keys")?;
                let json = key_page_json(&list.keys, &list.last_used, list.next)?;
                let mut table = key_table(&list.keys, &list.last_used, now);
                if let Some(next) = json["pagination"]["next_cursor"].as_str() {
                    table.push_str(&format!("more: --cursor {next}\n"));
                }
                Ok(Output { json, table })
            }
            KeysCommand::Show { project, key } => {
                require(&service, project)?;
                let found = service.project_key(project, key).await;
                one_key(found, project, key, now, "could not read the key")
            }
            KeysCommand::Revoke { project, key } => {
                require(&service, project)?;
                let by = AuditActor::command_line("keygate keys revoke");
                let revoked = service.revoke_project_key(project, key, by).await;
                one_key(revoked, project, key, now, "could not revoke the key")
            }
        }
    })
}

/// Fails naming `project` if there is no such project.
pub(crate) fn require(service: &Service, project: ProjectId) -> anyhow::Result<()> {
    let mut conn = service.database().get()?;
    require_project(&mut conn, project)
}

/// The output of a command about one key.
fn one_key(
    result: Result<keygate_service::api_keys::KeyWithUsage, ServiceError>,
    project: ProjectId,
    id: ApiKeyId,
    now: EpochMillis,
    failed: &'static str,
) -> anyhow::Result<Output> {
    match result {
        Ok(found) => {
            let last_used = found
                .last_used_at_millis
                .map(|at| HashMap::from([(found.key.id, at)]))
                .unwrap_or_default();
            Ok(Output {
                json: key_json(&found.key, found.last_used_at_millis)?,
                table: key_table(std::slice::from_ref(&found.key), &last_used, now),
            })
        }
        Err(ServiceError::NotFound(NotFound::ApiKey)) => bail!(
            "project {project} has no API key with the id {id} (`keygate keys list --project {project}` shows them all)"
        ),
        Err(error) => Err(error).context(failed),
    }
}

/// A key's state at `now`, by the domain's one rule.
fn state_name(key: &ApiKey, now: EpochMillis) -> &'static str {
    KeyState::of(key, now).name()
}

fn millis(value: Option<EpochMillis>) -> String {
    value.map_or_else(|| "-".to_owned(), |at| at.to_string())
}

/// The keys as an aligned table (instants in epoch milliseconds, `-` when unset).
fn key_table(
    keys: &[ApiKey],
    last_used: &HashMap<ApiKeyId, EpochMillis>,
    now: EpochMillis,
) -> String {
    let rows = keys
        .iter()
        .map(|key| {
            let (kind, owner) = match key.owner {
                Owner::User(user) => ("user", user.to_string()),
                Owner::Team(team) => ("team", team.to_string()),
            };
            vec![
                key.id.to_string(),
                kind.to_owned(),
                owner,
                state_name(key, now).to_owned(),
                format!("…{}", key.last_four),
                key.created_at_millis.to_string(),
                millis(key.expires_at_millis),
                millis(key.manually_revoked_at_millis),
                millis(last_used.get(&key.id).copied()),
                key.description.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TYPE",
            "OWNER",
            "STATE",
            "KEY",
            "CREATED",
            "EXPIRES",
            "REVOKED",
            "LAST USED",
            "DESCRIPTION",
        ],
        rows,
    )
}

/// Runs `credentials list|revoke` (the `project credentials` command) and adds its table.
fn execute_top_credentials(
    command: CredentialCommand,
    settings: &Settings,
) -> anyhow::Result<Output> {
    let database = open_database(settings, COMMAND_CONNECTIONS)?;
    let mut conn = database.get()?;
    let json = execute_credentials(command, &mut conn, now_millis(), &settings.limits)?;
    let items = match json.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None => vec![json.clone()],
    };
    let text = |value: &Value| match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let last_four = |item: &Value, name: &str| {
        item[name]["last_four"]
            .as_str()
            .map_or_else(|| "-".to_owned(), |four| format!("…{four}"))
    };
    let rows = items
        .iter()
        .map(|item| {
            vec![
                text(&item["id"]),
                last_four(item, "publishable_client_key"),
                last_four(item, "secret_server_key"),
                last_four(item, "super_secret_admin_key"),
                text(&item["created_at_millis"]),
                text(&item["expires_at_millis"]),
                text(&item["manually_revoked_at_millis"]),
                text(&item["description"]),
            ]
        })
        .collect();
    let table = table(
        &[
            "ID",
            "CLIENT",
            "SERVER",
            "ADMIN",
            "CREATED",
            "EXPIRES",
            "REVOKED",
            "DESCRIPTION",
        ],
        rows,
    );
    Ok(Output { json, table })
}

/// `rows` under `headers`, each column as wide as its widest cell (counted in characters),
/// two spaces apart, one line each; the last column is not padded. Control characters in a
/// cell (a description is free text) are shown as spaces so a row stays one line.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let clean = |cell: &str| -> String {
        cell.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let lines: Vec<Vec<String>> = std::iter::once(headers.iter().map(|h| clean(h)).collect())
        .chain(
            rows.iter()
                .map(|row| row.iter().map(|c| clean(c)).collect()),
        )
        .collect();
    let mut widths = vec![0; headers.len()];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let last = line.len().saturating_sub(1);
        for (i, (cell, width)) in line.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(width - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

#[cfg(test)]
mod tests;
