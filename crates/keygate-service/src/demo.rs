//! The demo sign-in's use case: a demo user of the first-start `default` project, signed in, so
//! a new user sees the prebuilt UI within a minute of `cargo run --release`.
//!
//! Built on the other use cases, acting as the project's server would: the demo user is made
//! with [`Service::create_user`]'s rules and its team, "Demo team", with
//! [`Service::create_team`] (the user is its creator, so it holds `team_admin` and with it
//! `$manage_api_keys`); the session is opened with [`Service::create_session`]. Only finding the
//! project and remembering which user is the demo user are this module's own.
//!
//! The demo user's id is kept in `server_secrets`, so every visit and every node reuses the same
//! user; concurrent first visits agree on one id, and the one whose insert wins also creates the
//! team. A deleted demo user is created again under the same id.

use keygate_domain::{ProjectId, UserId};
use keygate_permissions::{AccessType, Caller};
use keygate_storage::repo::{projects, server_secrets, users};

use crate::actor::Actor;
use crate::error::{Conflict, ServiceError};
use crate::sessions::OpenedSession;
use crate::teams::NewTeam;
use crate::users::NewUser;
use crate::Service;

/// The project the demo signs into (the one made on first start).
pub const DEMO_PROJECT_NAME: &str = "default";

/// The demo user's e-mail address.
pub const DEMO_USER_EMAIL: &str = "demo.user@example.com";

/// The demo user's display name.
pub const DEMO_USER_NAME: &str = "Demo user";

/// The name of the team the demo user creates.
pub const DEMO_TEAM_NAME: &str = "Demo team";

/// A signed-in demo user.
#[derive(Debug)]
pub struct DemoSession {
    /// The `default` project.
    pub project_id: ProjectId,
    /// The session, with its refresh token (shown only now) and the user.
    pub opened: OpenedSession,
}

impl Service {
    /// Signs the demo user of the `default` project in for `session_lifetime_millis`, creating
    /// the user and its team on first use; `None` when there is no `default` project (the oldest
    /// one counts if there are several).
    pub async fn demo_sign_in(
        &self,
        session_lifetime_millis: i64,
    ) -> Result<Option<DemoSession>, ServiceError> {
        let project = self
            .run(|_, conn| {
                Ok(projects::list(conn)?
                    .into_iter()
                    .filter(|project| project.display_name == DEMO_PROJECT_NAME)
                    .min_by_key(|project| (project.created_at_millis, project.id.to_string())))
            })
            .await?;
        let Some(project) = project else {
            return Ok(None);
        };
        let actor = Actor {
            project: project.id,
            switches: project.config,
            caller: Caller::new(AccessType::Server, None),
        };
        let user_id = self.demo_user(actor).await?;
        let opened = self
            .create_session(actor, user_id, session_lifetime_millis)
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
