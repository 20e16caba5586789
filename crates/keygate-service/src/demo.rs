//! The demo sign-in's use case: a demo user of the project made on first start, signed in, so
//! a new user sees the prebuilt UI within a minute of `cargo run --release`.
//!
//! Built on the other use cases, acting as the project's server would: the demo user is made
//! with [`Service::create_user`]'s rules and its team, "Demo team", with
//! [`Service::create_team`] (the user is its creator, so it holds `team_admin` and with it
//! `$manage_api_keys`); the session is opened with [`Service::create_session`]. Only finding the
//! project, remembering which user is the demo user and keeping one demo session are this
//! module's own.
//!
//! **The demo project is the one the first start made, by id, never by name**: the first start
//! records its id under [`DEMO_PROJECT_MARKER`] in `server_secrets` ([`remember_demo_project`]);
//! a project renamed from `default` stays the demo project and a new project named `default`
//! never becomes it. A database first started by an older keygate has no marker, hence no demo.
//!
//! The demo user's id is kept in `server_secrets`, so every visit and every node reuses the same
//! user; concurrent first visits agree on one id, and the one whose insert wins also creates the
//! team. A deleted demo user is created again under the same id.
//!
//! **One demo session at a time**: each sign-in opens a session (its refresh token exists only
//! in the answer, so an old one cannot be handed out again) and signs every other session of
//! the demo user out, so signing in over and over never piles sessions up.

use keygate_domain::{EpochMillis, ProjectId, UserId};
use keygate_permissions::{AccessType, Caller};
use keygate_storage::repo::{projects, server_secrets, sessions, users};
use keygate_storage::{DbConnection, StorageError};

use crate::actor::Actor;
use crate::audit::RequestOrigin;
use crate::error::{Conflict, ServiceError};
use crate::sessions::OpenedSession;
use crate::teams::NewTeam;
use crate::users::NewUser;
use crate::Service;

/// The `server_secrets` row holding the id of the project the demo signs into (the one made on
/// first start).
pub const DEMO_PROJECT_MARKER: &str = "ui_demo_project";

/// The demo user's e-mail address.
pub const DEMO_USER_EMAIL: &str = "demo.user@example.com";

/// The demo user's display name.
pub const DEMO_USER_NAME: &str = "Demo user";

/// The name of the team the demo user creates.
pub const DEMO_TEAM_NAME: &str = "Demo team";

/// A signed-in demo user.
#[derive(Debug)]
pub struct DemoSession {
    /// The demo project.
    pub project_id: ProjectId,
    /// The session, with its refresh token (shown only now) and the user.
    pub opened: OpenedSession,
}

/// Records `project` as the demo project (on first start, in the transaction that creates it).
/// The first record stays.
pub fn remember_demo_project(
    conn: &mut DbConnection,
    project: ProjectId,
    now: EpochMillis,
) -> Result<(), StorageError> {
    server_secrets::insert_if_absent(
        conn,
        DEMO_PROJECT_MARKER,
        project.to_string().as_bytes(),
        now,
    )?;
    Ok(())
}

/// The id recorded by [`remember_demo_project`], if any (an unreadable record counts as none).
fn demo_project_id(conn: &mut DbConnection) -> Result<Option<ProjectId>, StorageError> {
    Ok(
        server_secrets::get(conn, DEMO_PROJECT_MARKER)?.and_then(|record| {
            std::str::from_utf8(&record.value)
                .ok()
                .and_then(|text| text.parse::<ProjectId>().ok())
        }),
    )
}

impl Service {
    /// Signs the demo user of the demo project in for `session_lifetime_millis`, creating the
    /// user and its team on first use, and signs the demo user's other sessions out; `None` when
    /// no demo project was recorded or it was deleted.
    pub async fn demo_sign_in(
        &self,
        session_lifetime_millis: i64,
    ) -> Result<Option<DemoSession>, ServiceError> {
        let project = self
            .run(|_, conn| {
                Ok(match demo_project_id(conn)? {
                    Some(id) => projects::get(conn, id)?,
                    None => None,
                })
            })
            .await?;
        let Some(project) = project else {
            return Ok(None);
        };
        let actor = Actor {
            project: project.id,
            switches: project.config,
            default_rate_limit: project.default_rate_limit,
            caller: Caller::new(AccessType::Server, None),
            origin: RequestOrigin::default(),
        };
        let user_id = self.demo_user(actor).await?;
        let opened = self
            .create_session(actor, user_id, session_lifetime_millis)
            .await?;
        let (project_id, kept) = (actor.project, opened.session.id);
        let now = self.now();
        self.run(move |_, conn| {
            Ok(sessions::revoke_others_of_user(
                conn, project_id, user_id, kept, now,
            )?)
        })
        .await?;
        Ok(Some(DemoSession {
            project_id: project.id,
            opened,
        }))
    }

    /// The project's demo user, created with its team on first use.
    async fn demo_user(&self, actor: Actor) -> Result<UserId, ServiceError> {
        let now = self.now();
        let (user_id, exists) = self
            .run(move |_, conn| {
                let marker = format!("ui_demo_user:{}", actor.project);
                let candidate = UserId::new_random().to_string();
                let stored =
                    server_secrets::get_or_insert(conn, &marker, candidate.as_bytes(), now)?;
                let user_id = std::str::from_utf8(&stored.value)
                    .ok()
                    .and_then(|text| text.parse::<UserId>().ok())
                    .ok_or_else(|| {
                        ServiceError::Internal(format!(
                            "server secret {marker} does not hold a user id"
                        ))
                    })?;
                Ok((user_id, users::exists(conn, actor.project, user_id)?))
            })
            .await?;
        if exists {
            return Ok(user_id);
        }
        let demo_user = NewUser {
            display_name: Some(DEMO_USER_NAME.to_owned()),
            primary_email: Some(DEMO_USER_EMAIL.to_owned()),
            primary_email_verified: true,
            ..NewUser::default()
        };
        match self.create_user_with_id(actor, user_id, demo_user).await {
            Ok(_) => {}
            // A concurrent first visit created it (its id and e-mail are taken): that visit
            // also creates the team.
            Err(ServiceError::Conflict(Conflict::UserEmailTaken { .. })) => return Ok(user_id),
            Err(other) => return Err(other),
        }
        let team = NewTeam {
            display_name: DEMO_TEAM_NAME.to_owned(),
            ..NewTeam::default()
        };
        self.create_team(actor, team, Some(user_id)).await?;
        Ok(user_id)
    }
}
