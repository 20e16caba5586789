//! `keygate seed-keys` (hidden, for benchmarks): stores many real user API keys straight through
//! the storage layer, far faster than creating them over HTTP.
//!
//! The keys are honest: each is generated and hashed exactly as `POST /user-api-keys` does
//! (`NewApiKey::generate` with the configured hasher, pepper included), owned by one new user of
//! the project, and stored with `api_keys::insert`; only the HTTP round trip and the permission
//! decision are skipped. The first `print` keys are printed, one per line, so a load generator
//! can present them; the rest exist only as hashes. `unknown` more well-formed keys that were
//! never stored can be printed after them, for checks of unknown keys.

use std::io::{BufWriter, Write};

use anyhow::Context;
use keygate_domain::{ApiKeyId, KeyType, NewApiKey, Owner, PlainApiKey, ProjectId};
use keygate_service::clock::now_millis;
use keygate_storage::repo::api_keys;
use keygate_storage::repo::users::{self, UserRecord};

use crate::cli::SeedKeysArgs;
use crate::runtime::{key_hasher, open_database};
use crate::settings::Settings;

/// Keys written per transaction.
const BATCH: u64 = 5_000;

/// Runs the command.
pub fn run(args: &SeedKeysArgs, settings: &Settings) -> anyhow::Result<()> {
    let database = open_database(settings, 1)?;
    let hasher = key_hasher(settings);
    let project: ProjectId = args.project_id;
    let now = now_millis();
    let mut conn = database.get()?;
    let owner = UserRecord::new(project, Some("benchmark keys".to_owned()), now);
    users::insert(&mut conn, &owner)
        .context("could not create the keys' owner (is the project id right?)")?;

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut written = 0;
    while written < args.count {
        let batch = BATCH.min(args.count - written);
        let printed = conn.in_transaction(|conn| {
            let mut printed = Vec::new();
            for index in written..written + batch {
                let (key, plain) = NewApiKey {
                    project_id: project,
                    owner: Owner::User(owner.id),
                    description: format!("benchmark key {index}"),
                    is_public: false,
                    expires_at_millis: None,
                    policy: Default::default(),
                }
                .generate(now, &hasher);
                api_keys::insert(conn, &key)?;
                if index < args.print {
                    printed.push(plain);
                }
            }
            Ok(printed)
        })?;
        for plain in printed {
            writeln!(out, "{}", plain.expose_secret())?;
        }
        written += batch;
        if written % 100_000 == 0 {
            eprintln!("seeded {written} of {} keys", args.count);
        }
    }
    for _ in 0..args.unknown {
        let plain = PlainApiKey::generate(ApiKeyId::new_random(), KeyType::User, false);
        writeln!(out, "{}", plain.expose_secret())?;
    }
    out.flush()?;
    eprintln!("seeded {written} keys owned by user {}", owner.id);
    Ok(())
}
