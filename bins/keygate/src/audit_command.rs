//! `keygate audit`: a project's audit log from the command line, printed as
//! `GET /api/v1/internal/audit-log` answers it (JSON, `keygate_http::audit_objects`) or, when
//! standard output is a terminal and `--json` is not given, as an aligned table.
//!
//! **Key decision:** the command runs the same use case as the route
//! (`Service::list_audit_events`) and validates its filters against the same names
//! (`keygate_service::audit`), so the two never disagree on what a filter means.

use anyhow::{bail, Context};
use keygate_http::audit_objects::{audit_page, AuditCursor};
use keygate_service::audit::{ActorType, AuditAction};
use keygate_service::records::{AuditEventRecord, AuditFilter};

use crate::cli::AuditArgs;
use crate::key_commands::{command_service, print, require, table, Output};
use crate::settings::Settings;

/// Runs `keygate audit` and prints its answer.
pub fn run(args: AuditArgs, settings: &Settings) -> anyhow::Result<()> {
    let force_json = args.output.json;
    let output = execute(args, settings)?;
    print(&output, force_json)
}

/// The filter the flags ask for; an unknown action or actor type is an error naming the known
/// ones.
fn filter(args: &AuditArgs) -> anyhow::Result<AuditFilter> {
    if let Some(action) = &args.action {
        if AuditAction::from_name(action).is_none() {
            let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.name()).collect();
            bail!(
                "--action {action:?} is not an action; one of: {}",
                known.join(", ")
            );
        }
    }
    if let Some(actor) = &args.actor_type {
        if ActorType::from_name(actor).is_none() {
            let known: Vec<&str> = ActorType::ALL.iter().map(|a| a.name()).collect();
            bail!(
                "--actor-type {actor:?} is not an actor type; one of: {}",
                known.join(", ")
            );
        }
    }
    Ok(AuditFilter {
        action: args.action.clone(),
        object_type: args.object_type.clone(),
        object_id: args.object_id.clone(),
        actor_type: args.actor_type.clone(),
        actor_user_id: args.actor_user,
        target_user_id: args.target_user,
        since_millis: args.since,
        until_millis: args.until,
    })
}

/// Runs the command and returns what it prints.
fn execute(args: AuditArgs, settings: &Settings) -> anyhow::Result<Output> {
    let filter = filter(&args)?;
    let service = command_service(settings)?;
    require(&service, args.project)?;
    let max_page_size = service.limits().max_page_size;
    let limit = args.limit.unwrap_or(max_page_size);
    if !(1..=max_page_size).contains(&limit) {
        bail!("--limit must be between 1 and {max_page_size} (limits.max_page_size)");
    }
    let after = match &args.cursor {
        Some(text) => Some(AuditCursor::decode(text).with_context(|| {
            format!("--cursor {text:?} is not a next_cursor keygate handed out")
        })?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the command's runtime")?;
    let page = runtime
        .block_on(service.list_audit_events(args.project, filter, limit, after))
        .context("could not read the audit log")?;
    let json = serde_json::to_value(audit_page(&page.events, page.next))?;
    let mut text = event_table(&page.events);
    if let Some(next) = json["pagination"]["next_cursor"].as_str() {
        text.push_str(&format!("more: --cursor {next}\n"));
    }
    Ok(Output { json, table: text })
}

/// The events as an aligned table (instants in epoch milliseconds, `-` when unset).
fn event_table(events: &[AuditEventRecord]) -> String {
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let rows = events
        .iter()
        .map(|event| {
            let actor = match (&event.actor_user_id, &event.actor_label) {
                (Some(user), _) => format!("{} {user}", event.actor_type),
                (None, Some(label)) => format!("{} ({label})", event.actor_type),
                (None, None) => event.actor_type.clone(),
            };
            vec![
                event.created_at_millis.to_string(),
                event.action.clone(),
                event.object_id.clone(),
                actor,
                or_dash(event.client_address.clone()),
                or_dash(event.request_id.clone()),
                event.metadata.clone(),
            ]
        })
        .collect();
    table(
        &[
            "AT", "ACTION", "OBJECT", "ACTOR", "FROM", "REQUEST", "DETAILS",
        ],
        rows,
    )
}
