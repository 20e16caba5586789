//! Logging: `tracing` to standard error, as text or JSON lines, filtered by the `log.level`
//! setting — or by `RUST_LOG` when that is set, so a one-off debugging session needs no settings
//! change. Standard output is kept for what the operator must read: the listening address, the
//! first-start credentials and the JSON of the `project` commands.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .with_context(|| format!("RUST_LOG is not a valid filter: {directives:?}"))?,
        _ => EnvFilter::try_new(&settings.level).with_context(|| {
            format!(
                "setting log.level (KEYGATE_LOG__LEVEL) is not a valid filter: {:?}",
                settings.level
            )
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("could not install the logger: {error}"))
}
