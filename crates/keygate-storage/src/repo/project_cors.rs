//! A project's CORS settings for the client API: whether localhost origins are allowed and which
//! domains are trusted (upstream's project config `allow_localhost` and
//! `domains: [{domain, handler_path}]`).
//!
//! A project without stored settings reads as [`ProjectCors::default`]: no localhost origin, no
//! trusted domain — a project must opt in to every origin (the first-start project stores
//! `allow_localhost = true` for local development; projects made before that rule were given
//! explicit settings by a migration, so they kept the old default). Each domain is stored with
//! its web origin, which the HTTP layer computes; lookups match on that origin.

use diesel::prelude::*;
use keygate_domain::{EpochMillis, ProjectId};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::{project_cors_settings, project_trusted_domains};

/// Whether localhost is allowed for a project that never stored CORS settings: no, so no browser
/// page on someone's machine may call a project that did not ask for it.
pub const DEFAULT_ALLOW_LOCALHOST: bool = false;

/// One trusted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDomain {
    /// The domain as configured, e.g. `https://app.example.com`.
    pub domain: String,
    /// The path of the customer's handler pages on that domain (upstream's `handler_path`).
    pub handler_path: String,
    /// The domain's web origin (`scheme://host[:port]`), as browsers send it in `Origin`.
    pub origin: String,
}

/// A project's CORS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCors {
    /// Whether `localhost` (and loopback) origins may call the client API.
    pub allow_localhost: bool,
    /// The trusted domains, in the order configured.
    pub domains: Vec<TrustedDomain>,
}

impl Default for ProjectCors {
    fn default() -> Self {
        ProjectCors {
            allow_localhost: DEFAULT_ALLOW_LOCALHOST,
            domains: Vec::new(),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = project_cors_settings)]
struct SettingsRow {
    project_id: String,
    allow_localhost: bool,
    updated_at_millis: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = project_trusted_domains)]
struct DomainRow {
    project_id: String,
    position: i32,
    domain: String,
    handler_path: String,
    origin: String,
}

/// The project's CORS settings ([`ProjectCors::default`] when none are stored).
pub fn get(conn: &mut DbConnection, project: ProjectId) -> Result<ProjectCors, StorageError> {
    let id = project.to_string();
    let allow_localhost = project_cors_settings::table
        .find(&id)
        .select(project_cors_settings::allow_localhost)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(DEFAULT_ALLOW_LOCALHOST);
    let domains = project_trusted_domains::table
        .filter(project_trusted_domains::project_id.eq(&id))
        .order(project_trusted_domains::position.asc())
        .select(DomainRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| TrustedDomain {
            domain: row.domain,
            handler_path: row.handler_path,
            origin: row.origin,
        })
        .collect();
    Ok(ProjectCors {
        allow_localhost,
        domains,
    })
}

/// Replaces the project's CORS settings. A project that does not exist is
/// [`StorageError::ForeignKeyViolation`].
pub fn set(
    conn: &mut DbConnection,
    project: ProjectId,
    settings: &ProjectCors,
    now: EpochMillis,
) -> Result<(), StorageError> {
    let id = project.to_string();
    conn.in_transaction(|conn| {
        diesel::delete(project_cors_settings::table.find(&id)).execute(conn)?;
        diesel::delete(
            project_trusted_domains::table.filter(project_trusted_domains::project_id.eq(&id)),
        )
        .execute(conn)?;
        diesel::insert_into(project_cors_settings::table)
            .values(SettingsRow {
                project_id: id.clone(),
                allow_localhost: settings.allow_localhost,
                updated_at_millis: now,
            })
            .execute(conn)?;
        for (position, domain) in settings.domains.iter().enumerate() {
            let position =
                i32::try_from(position).map_err(|_| StorageError::ConstraintViolation {
                    message: "too many trusted domains for one project".to_owned(),
                })?;
            diesel::insert_into(project_trusted_domains::table)
                .values(DomainRow {
                    project_id: id.clone(),
                    position,
                    domain: domain.domain.clone(),
                    handler_path: domain.handler_path.clone(),
                    origin: domain.origin.clone(),
                })
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Whether any project trusts `origin` through one of its domains (for preflight requests,
/// which do not say which project they are for).
pub fn any_project_trusts_origin(
    conn: &mut DbConnection,
    origin: &str,
) -> Result<bool, StorageError> {
    let found = project_trusted_domains::table
        .filter(project_trusted_domains::origin.eq(origin))
        .select(project_trusted_domains::position)
        .first::<i32>(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Whether any project allows localhost origins (for preflight requests).
pub fn any_project_allows_localhost(conn: &mut DbConnection) -> Result<bool, StorageError> {
    let found = project_cors_settings::table
        .filter(project_cors_settings::allow_localhost.eq(true))
        .select(project_cors_settings::project_id)
        .first::<String>(conn)
        .optional()?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::projects;
    use crate::testing::insert_project;

    fn domain(origin: &str) -> TrustedDomain {
        TrustedDomain {
            domain: format!("{origin}/app"),
            handler_path: "/handler".to_owned(),
            origin: origin.to_owned(),
        }
    }

    crate::backend_tests! {
        fn a_project_without_settings_reads_the_default(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn);
            assert_eq!(get(&mut conn, project.id).unwrap(), ProjectCors::default());
            assert!(!ProjectCors::default().allow_localhost, "opt in, never by default");
            assert!(!any_project_allows_localhost(&mut conn).unwrap());
        }

        fn settings_are_replaced_whole_and_keep_their_order(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn);
            let first = ProjectCors {
                allow_localhost: false,
                domains: vec![domain("https://b.example"), domain("https://a.example:8443")],
            };
            set(&mut conn, project.id, &first, 1_000).unwrap();
            assert_eq!(get(&mut conn, project.id).unwrap(), first);
            assert!(any_project_trusts_origin(&mut conn, "https://a.example:8443").unwrap());
            assert!(!any_project_trusts_origin(&mut conn, "https://a.example").unwrap());

            let second = ProjectCors {
                allow_localhost: true,
                domains: vec![domain("https://c.example")],
            };
            set(&mut conn, project.id, &second, 2_000).unwrap();
            assert_eq!(get(&mut conn, project.id).unwrap(), second);
            assert!(!any_project_trusts_origin(&mut conn, "https://b.example").unwrap());
        }

        fn origins_are_trusted_per_project(db) {
            let mut conn = db.conn();
            let trusting = insert_project(&mut conn);
            let other = insert_project(&mut conn);
            let settings = ProjectCors {
                allow_localhost: true,
                domains: vec![domain("https://shop.example")],
            };
            set(&mut conn, trusting.id, &settings, 1_000).unwrap();
            assert_eq!(get(&mut conn, trusting.id).unwrap(), settings);
            assert_eq!(get(&mut conn, other.id).unwrap(), ProjectCors::default());
            assert!(any_project_trusts_origin(&mut conn, "https://shop.example").unwrap());
            assert!(!any_project_trusts_origin(&mut conn, "https://evil.example").unwrap());
        }

        fn localhost_is_allowed_while_any_project_allows_it(db) {
            let mut conn = db.conn();
            assert!(!any_project_allows_localhost(&mut conn).unwrap(), "no project at all");
            let first = insert_project(&mut conn);
            assert!(!any_project_allows_localhost(&mut conn).unwrap(), "the default refuses");
            let open = ProjectCors { allow_localhost: true, domains: Vec::new() };
            let closed = ProjectCors { allow_localhost: false, domains: Vec::new() };
            set(&mut conn, first.id, &open, 1_000).unwrap();
            assert!(any_project_allows_localhost(&mut conn).unwrap());
            let second = insert_project(&mut conn);
            set(&mut conn, second.id, &open, 1_000).unwrap();
            set(&mut conn, first.id, &closed, 1_000).unwrap();
            assert!(any_project_allows_localhost(&mut conn).unwrap(), "the second still allows");
            set(&mut conn, second.id, &closed, 1_000).unwrap();
            assert!(!any_project_allows_localhost(&mut conn).unwrap());
        }

        fn projects_made_before_the_opt_in_rule_keep_trusting_localhost(db) {
            // Back to the schema before the migration that wrote the old default down.
            db.revert_migrations_from("20261205000100").unwrap();
            let mut conn = db.conn();
            // Rows as that schema had them (today's record has columns it did not).
            let insert_old = |conn: &mut DbConnection| {
                let id = ProjectId::new_random();
                diesel::sql_query(
                    "INSERT INTO projects (id, display_name, created_at_millis, allow_user_api_keys, \
                     allow_team_api_keys, client_team_creation_enabled) VALUES ($1, 'old', 1, true, true, false)",
                )
                .bind::<diesel::sql_types::Text, _>(id.to_string())
                .execute(conn)
                .unwrap();
                crate::repo::projects::ProjectRecord {
                    default_rate_limit: None,
                    id,
                    display_name: "old".to_owned(),
                    created_at_millis: 1,
                    config: keygate_domain::ProjectSwitches::default(),
                    api_key_scopes: "[]".to_owned(),
                }
            };
            let old = insert_old(&mut conn);
            let closed = insert_old(&mut conn);
            let refusing = ProjectCors { allow_localhost: false, domains: Vec::new() };
            set(&mut conn, closed.id, &refusing, 1_000).unwrap();
            drop(conn);
            db.run_migrations().unwrap();
            let mut conn = db.conn();
            assert!(get(&mut conn, old.id).unwrap().allow_localhost, "kept the old default");
            assert_eq!(get(&mut conn, closed.id).unwrap(), refusing, "stored settings untouched");
            let new = insert_project(&mut conn);
            assert!(!get(&mut conn, new.id).unwrap().allow_localhost, "new projects opt in");
        }

        fn settings_of_a_missing_project_are_refused_and_deleted_with_it(db) {
            let mut conn = db.conn();
            let missing = ProjectId::new_random();
            let error = set(&mut conn, missing, &ProjectCors::default(), 1_000).unwrap_err();
            assert!(matches!(error, StorageError::ForeignKeyViolation { .. }), "{error:?}");

            let project = insert_project(&mut conn);
            let settings = ProjectCors {
                allow_localhost: false,
                domains: vec![domain("https://gone.example")],
            };
            set(&mut conn, project.id, &settings, 1_000).unwrap();
            diesel::delete(projects::table.find(project.id.to_string()))
                .execute(&mut *conn)
                .unwrap();
            assert!(!any_project_trusts_origin(&mut conn, "https://gone.example").unwrap());
            assert_eq!(get(&mut conn, project.id).unwrap(), ProjectCors::default());
        }
    }
}
