//! The SQLite database file's permissions: only keygate's own user may read it.
//!
//! The file holds every hash, every session and (without a pepper or a configured
//! `auth.jwt_secret`) the material that signs access tokens, so a copy is worth a lot. SQLite
//! creates a missing file with the process's umask (typically `0644`, readable by every local
//! user) and gives the `-wal` and `-shm` files the main file's mode.
//!
//! **Key decision:** keygate creates the file itself, with mode `0600`, before SQLite opens
//! it, so the `-wal`/`-shm` files inherit `0600` too; an existing file (or `-wal`/`-shm`) that
//! the group or others may access is tightened to `0600`, with a warning naming the file.
//! Failures here are not fatal: if the file cannot be created (say, its directory is missing),
//! SQLite's own open reports the problem with its own message. Outside unix nothing is done.

use std::path::Path;

/// Makes sure the SQLite file at `path` exists with owner-only permissions (see the module
/// documentation); tightens existing `-wal` and `-shm` files as well.
pub(crate) fn prepare_sqlite_file(path: &Path) {
    #[cfg(unix)]
    unix::prepare(path);
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(unix)]
mod unix {
    use std::fs::{self, OpenOptions, Permissions};
    use std::io::ErrorKind;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    /// Owner read and write, nothing for anyone else.
    const OWNER_ONLY: u32 = 0o600;

    pub(super) fn prepare(path: &Path) {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(OWNER_ONLY)
            .open(path)
        {
            // The umask may only remove bits from 0600, so the new file is private.
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
            Err(error) => {
                tracing::debug!(%error, path = %path.display(), "could not create the SQLite file; SQLite will report why");
                return;
            }
        }
        for file in [
            path.to_owned(),
            companion(path, "-wal"),
            companion(path, "-shm"),
        ] {
            tighten(&file);
        }
    }

    /// `path` with `suffix` appended to its file name (`keygate.db` → `keygate.db-wal`).
    fn companion(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// Sets `0600` on `file` if it exists and its group or others have any permission.
    fn tighten(file: &Path) {
        let Ok(metadata) = fs::metadata(file) else {
            return;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if !metadata.is_file() || mode & 0o077 == 0 {
            return;
        }
        match fs::set_permissions(file, Permissions::from_mode(OWNER_ONLY)) {
            Ok(()) => tracing::warn!(
                path = %file.display(),
                was = format!("{mode:o}"),
                "the database file was readable by other users; keygate set its mode to 600"
            ),
            Err(error) => tracing::warn!(
                %error,
                path = %file.display(),
                mode = format!("{mode:o}"),
                "the database file is readable by other users and keygate could not change that"
            ),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs::{self, Permissions};
    use std::os::unix::fs::PermissionsExt;

    use crate::{Database, PoolOptions};

    fn mode(path: &std::path::Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn open(path: &std::path::Path) -> Database {
        let url = format!("sqlite://{}", path.display());
        let database = Database::connect(
            &url,
            PoolOptions {
                max_size: 2,
                min_idle: Some(1),
                ..PoolOptions::default()
            },
        )
        .unwrap();
        database.run_migrations().unwrap();
        database
    }

    #[test]
    fn a_fresh_database_and_its_wal_and_shm_are_owner_only() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("fresh.db");
        let database = open(&path);
        // A write makes sure the -wal and -shm files exist while the pool is open.
        keygate_write(&database);
        for suffix in ["", "-wal", "-shm"] {
            let file = directory.path().join(format!("fresh.db{suffix}"));
            assert!(file.exists(), "{} is missing", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn an_existing_world_readable_database_is_tightened() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("old.db");
        drop(open(&path));
        for suffix in ["", "-wal", "-shm"] {
            let file = directory.path().join(format!("old.db{suffix}"));
            if file.exists() {
                fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
            }
        }
        assert_eq!(mode(&path), 0o644);
        let database = open(&path);
        keygate_write(&database);
        for suffix in ["", "-wal", "-shm"] {
            let file = directory.path().join(format!("old.db{suffix}"));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    fn keygate_write(database: &Database) {
        let mut conn = database.get().unwrap();
        crate::repo::server_secrets::insert_if_absent(&mut conn, "permissions-test", b"x", 1)
            .unwrap();
    }
}
