//! What upstream's account settings page reads besides API keys and sessions: a user's contact
//! channels and notification preferences (the user, from which the HTTP layer derives them),
//! a customer's payments (keygate has none, but the customer must exist and the caller may
//! only ask about its own), team member profiles and team invitations.
//!
//! Key decision: keygate stores nothing new for these. A user's one contact channel is their
//! primary e-mail, a member's team profile is their user profile, and a project has no
//! invitations and no products; each use case decides access with
//! `keygate_permissions::authorize_identity` and checks existence as upstream does, so the
//! answers are upstream's for a project without those features.

use std::collections::HashMap;

use keygate_domain::{TeamId, UserId};
use keygate_permissions::{Customer, IdentityAction};
use keygate_storage::repo::teams::{self, TeamRecord};
use keygate_storage::repo::users::{self, UserRecord};

use crate::actor::Actor;
use crate::error::{NotFound, ServiceError};
use crate::identity::{authorize, ensure_membership, ensure_user_exists, load_user};
use crate::users::UserWithTeam;
use crate::Service;

impl Service {
    /// The user `user_id`, once `action` (a read of the user's contact channels or
    /// notification preferences) is allowed; [`NotFound::User`] if the project has no such user.
    pub async fn user_for_account_settings(
        &self,
        actor: Actor,
        action: IdentityAction,
        user_id: UserId,
    ) -> Result<UserRecord, ServiceError> {
        self.run(move |_, conn| {
            authorize(conn, &actor, &action)?;
            users::get(conn, actor.project, user_id)?.ok_or_else(|| NotFound::User.into())
        })
        .await
    }

    /// Decides a read of a customer's payments (`action`: their billing or their products).
    /// The products list then checks that the user or team exists, as upstream's
    /// `ensureCustomerExists`; billing does not.
    pub async fn authorize_payments_read(
        &self,
        actor: Actor,
        action: IdentityAction,
    ) -> Result<(), ServiceError> {
        self.run(move |_, conn| {
            authorize(conn, &actor, &action)?;
            match action {
                IdentityAction::ListCustomerProducts {
                    customer: Customer::User(user_id),
                } => ensure_user_exists(conn, actor.project, user_id),
                IdentityAction::ListCustomerProducts {
                    customer: Customer::Team(team_id),
                } => ensure_team_exists(conn, &actor, team_id).map(drop),
                _ => Ok(()),
            }
        })
        .await
    }

    /// The profiles of `team_id`'s members (their user profiles, with the team each selected),
    /// in the order they joined; with
    /// `user_id`, only that user's (none if they are not a member). A team or user the project
    /// does not have is not found.
    pub async fn list_team_member_profiles(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: Option<UserId>,
    ) -> Result<Vec<UserWithTeam>, ServiceError> {
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::ListTeamMemberProfiles { team_id, user_id },
            )?;
            ensure_team_exists(conn, &actor, team_id)?;
            if let Some(user_id) = user_id {
                ensure_user_exists(conn, actor.project, user_id)?;
            }
            let mut members = users::list_members_of_team(conn, actor.project, team_id)?;
            if let Some(user_id) = user_id {
                members.retain(|member| member.id == user_id);
            }
            // Members mostly share a few selected teams: each is read once.
            let mut selected_teams: HashMap<TeamId, Option<TeamRecord>> = HashMap::new();
            members
                .into_iter()
                .map(|user| {
                    let selected_team = match user.selected_team_id {
                        Some(id) => match selected_teams.get(&id) {
                            Some(team) => team.clone(),
                            None => {
                                let team = teams::get(conn, actor.project, id)?;
                                selected_teams.insert(id, team.clone());
                                team
                            }
                        },
                        None => None,
                    };
                    Ok(UserWithTeam {
                        user,
                        selected_team,
                    })
                })
                .collect()
        })
        .await
    }

    /// The team profile of member `user_id` of `team_id`: the user, if they are a member (else
    /// the user, then the membership, is not found).
    pub async fn read_team_member_profile(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
    ) -> Result<UserWithTeam, ServiceError> {
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::ReadTeamMemberProfile { team_id, user_id },
            )?;
            ensure_membership(conn, actor.project, team_id, user_id)?;
            Ok(load_user(conn, actor.project, user_id)?.ok_or(NotFound::User)?)
        })
        .await
    }

    /// Decides a list of `team_id`'s outstanding invitations, and checks the team exists.
    /// keygate has no invitations, so there is nothing to return.
    pub async fn authorize_team_invitations_list(
        &self,
        actor: Actor,
        team_id: TeamId,
    ) -> Result<(), ServiceError> {
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::ListTeamInvitations { team_id },
            )?;
            ensure_team_exists(conn, &actor, team_id).map(drop)
        })
        .await
    }

    /// Decides a list of the invitations `user_id` received (none in keygate), and checks the
    /// user exists.
    pub async fn authorize_received_invitations_list(
        &self,
        actor: Actor,
        user_id: UserId,
    ) -> Result<(), ServiceError> {
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::ListReceivedTeamInvitations { user_id },
            )?;
            ensure_user_exists(conn, actor.project, user_id)
        })
        .await
    }
}

/// The team, or [`NotFound::Team`].
fn ensure_team_exists(
    conn: &mut keygate_storage::DbConnection,
    actor: &Actor,
    team_id: TeamId,
) -> Result<TeamRecord, ServiceError> {
    teams::get(conn, actor.project, team_id)?.ok_or_else(|| NotFound::Team { team_id }.into())
}
