//! keygate, the binary: reads the settings, sets up logging, and runs one command — `serve` (the
//! default), `migrate`, `project …`, `keys list|show|revoke` or `credentials list|revoke`.
//!
//! **Key design decision:** the binary is thin. Routes, wire errors and the project service live
//! in `keygate-http` (tested in-process), storage in `keygate-storage`; this crate only wires
//! settings to them, owns process concerns (signals, logging, the listening socket) and the
//! first start. Errors here are `anyhow` chains printed once, on standard error, with a non-zero
//! exit status.

mod audit_command;
mod cli;
mod first_start;
mod key_commands;
mod logging;
mod project_commands;
mod runtime;
mod seed_keys;
mod serve;
mod settings;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Action, Cli};
use crate::settings::{FlagOverrides, Settings};

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let action = cli.action().unwrap_or_else(|error| error.exit());
    match run(cli, action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keygate: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, action: Action) -> anyhow::Result<()> {
    let bind = match &action {
        Action::Serve(args) => args.bind.clone(),
        Action::Migrate
        | Action::Project(_)
        | Action::SeedKeys(_)
        | Action::Keys(_)
        | Action::Credentials(_)
        | Action::Audit(_) => None,
    };
    let flags = FlagOverrides {
        bind,
        database_url: cli.database_url,
    };
    let loaded = Settings::load(cli.config.as_deref(), &flags)?;
    logging::init(&loaded.settings.log)?;
    for name in &loaded.unknown_env_vars {
        tracing::warn!(
            variable = %name,
            "ignoring the environment variable {name}: keygate has no such setting (see config/default.toml)"
        );
    }
    let settings = loaded.settings;
    match action {
        Action::Serve(_) => serve::serve(settings),
        Action::Migrate => migrate(&settings),
        Action::Project(command) => project_commands::run(command, &settings),
        Action::SeedKeys(args) => seed_keys::run(&args, &settings),
        Action::Keys(args) => key_commands::run_keys(args, &settings),
        Action::Credentials(args) => key_commands::run_credentials(args, &settings),
        Action::Audit(args) => audit_command::run(args, &settings),
    }
}

/// `keygate migrate`: applies pending migrations and says which.
fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let database = runtime::connect_database(settings, 1)?;
    let applied = database
        .run_migrations()
        .context("could not bring the database schema up to date")?;
    let backend = database.backend();
    if applied.is_empty() {
        println!("the {backend} database schema is up to date");
    } else {
        println!(
            "applied {} migration(s) to the {backend} database: {}",
            applied.len(),
            applied.join(", ")
        );
    }
    Ok(())
}
