//! A project's CORS settings for the client API: whether localhost origins are allowed and which
//! domains are trusted (upstream's project config `allow_localhost` and
//! `domains: [{domain, handler_path}]`).
//!
//! A project without stored settings reads as [`ProjectCors::default`]: localhost allowed (as
//! upstream's new projects), no trusted domain. Each domain is stored with its web origin, which
//! the HTTP layer computes; lookups match on that origin.

use diesel::prelude::*;
use keygate_domain::{EpochMillis, ProjectId};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::{project_cors_settings, project_trusted_domains, projects};

/// Whether localhost is allowed for a project that never stored CORS settings.
pub const DEFAULT_ALLOW_LOCALHOST: bool = true;

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

/// Whether `project` trusts `origin` through one of its domains.
pub fn project_trusts_origin(
    conn: &mut DbConnection,
    project: ProjectId,
    origin: &str,
) -> Result<bool, StorageError> {
    let found = project_trusted_domains::table
        .filter(project_trusted_domains::origin.eq(origin))
        .filter(project_trusted_domains::project_id.eq(project.to_string()))
        .select(project_trusted_domains::position)
        .first::<i32>(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Whether `project` allows localhost origins (the default when it stored no settings).
pub fn project_allows_localhost(
    conn: &mut DbConnection,
    project: ProjectId,
) -> Result<bool, StorageError> {
    Ok(project_cors_settings::table
        .find(project.to_string())
        .select(project_cors_settings::allow_localhost)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(DEFAULT_ALLOW_LOCALHOST))
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

/// Whether any project allows localhost origins: some project has no stored settings (the
/// default allows it) or stored `allow_localhost = true`.
pub fn any_project_allows_localhost(conn: &mut DbConnection) -> Result<bool, StorageError> {
    let project_count: i64 = projects::table.count().get_result(conn)?;
    let refusing: i64 = project_cors_settings::table
        .filter(project_cors_settings::allow_localhost.eq(false))
        .count()
        .get_result(conn)?;
    Ok(project_count > refusing)
}

#[cfg(test)]
mod tests {
    use super::*;
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
            assert!(project_allows_localhost(&mut conn, project.id).unwrap());
            assert!(!project_trusts_origin(&mut conn, project.id, "https://a.example").unwrap());
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
            assert!(!project_allows_localhost(&mut conn, project.id).unwrap());
            assert!(project_trusts_origin(&mut conn, project.id, "https://a.example:8443").unwrap());
            assert!(!project_trusts_origin(&mut conn, project.id, "https://a.example").unwrap());

            let second = ProjectCors {
                allow_localhost: true,
                domains: vec![domain("https://c.example")],
            };
            set(&mut conn, project.id, &second, 2_000).unwrap();
            assert_eq!(get(&mut conn, project.id).unwrap(), second);
            assert!(!project_trusts_origin(&mut conn, project.id, "https://b.example").unwrap());
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
            assert!(project_trusts_origin(&mut conn, trusting.id, "https://shop.example").unwrap());
            assert!(!project_trusts_origin(&mut conn, other.id, "https://shop.example").unwrap());
            assert!(any_project_trusts_origin(&mut conn, "https://shop.example").unwrap());
            assert!(!any_project_trusts_origin(&mut conn, "https://evil.example").unwrap());
        }

        fn localhost_is_allowed_while_any_project_allows_it(db) {
            let mut conn = db.conn();
            assert!(!any_project_allows_localhost(&mut conn).unwrap(), "no project at all");
            let first = insert_project(&mut conn);
            assert!(any_project_allows_localhost(&mut conn).unwrap(), "default allows");
            let closed = ProjectCors { allow_localhost: false, domains: Vec::new() };
            set(&mut conn, first.id, &closed, 1_000).unwrap();
            assert!(!any_project_allows_localhost(&mut conn).unwrap());
            let second = insert_project(&mut conn);
            assert!(any_project_allows_localhost(&mut conn).unwrap());
            set(&mut conn, second.id, &closed, 1_000).unwrap();
            assert!(!any_project_allows_localhost(&mut conn).unwrap());
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
