//! What upstream's account settings page reads besides API keys and sessions: a user's contact
//! channels and notification preferences (the user, from which the HTTP layer derives them),
//! a customer's payments (keygate has none, but the customer must exist and the caller may
//! only ask about its own), team member profiles and team invitations.
//!
//! Key decision: keygate stores nothing new for these but a member's own name and picture in a
//! team (upstream's "Team user name"), which fall back to the user's. A user's one contact
//! channel is their primary e-mail, and a project has no invitations and no products; each use
//! case decides access with
//! `keygate_permissions::authorize_identity` and checks existence as upstream does, so the
//! answers are upstream's for a project without those features.

use std::collections::HashMap;

use keygate_domain::{TeamId, UserId};
use keygate_permissions::{Customer, IdentityAction};
use keygate_storage::repo::memberships::{self, MemberProfile, MemberProfileUpdate};
use keygate_storage::repo::teams::{self, TeamRecord};
use keygate_storage::repo::users::{self, UserRecord};

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{NotFound, ServiceError};
use crate::identity::{authorize, ensure_team_exists, ensure_user_exists, load_user};
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
                } => ensure_team_exists(conn, actor.project, team_id).map(drop),
                _ => Ok(()),
            }
        })
        .await
    }

    /// The profiles of `team_id`'s members (with each user and the team they selected), in the
    /// order they joined; with
    /// `user_id`, only that user's (none if they are not a member). A team or user the project
    /// does not have is not found.
    pub async fn list_team_member_profiles(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: Option<UserId>,
    ) -> Result<Vec<TeamMemberProfile>, ServiceError> {
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::ListTeamMemberProfiles { team_id, user_id },
            )?;
            ensure_team_exists(conn, actor.project, team_id)?;
            if let Some(user_id) = user_id {
                ensure_user_exists(conn, actor.project, user_id)?;
            }
            let mut members = users::list_members_of_team(conn, actor.project, team_id)?;
            if let Some(user_id) = user_id {
                members.retain(|(member, _)| member.id == user_id);
            }
            // Members mostly share a few selected teams: each is read once.
            let mut selected_teams: HashMap<TeamId, Option<TeamRecord>> = HashMap::new();
            members
                .into_iter()
                .map(|(user, profile)| {
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
                    Ok(TeamMemberProfile {
                        member: UserWithTeam {
                            user,
                            selected_team,
                        },
                        profile,
                    })
                })
                .collect()
        })
        .await
    }

    /// The profile of member `user_id` of `team_id` (else the user, then the membership, is not
    /// found).
    pub async fn read_team_member_profile(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
    ) -> Result<TeamMemberProfile, ServiceError> {
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::ReadTeamMemberProfile { team_id, user_id },
            )?;
            // The user first, then the membership, as upstream's `ensureTeamMembershipExists`.
            let member = load_user(conn, actor.project, user_id)?.ok_or(NotFound::User)?;
            let profile = memberships::profile(conn, actor.project, team_id, user_id)?
                .ok_or(NotFound::Membership { team_id, user_id })?;
            Ok(TeamMemberProfile { member, profile })
        })
        .await
    }

    /// Applies `update` to member `user_id`'s profile in `team_id` (a client: its own), recorded
    /// as `team_member_profile.updated` when it names a field; returns the profile afterwards.
    pub async fn update_team_member_profile(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
        update: MemberProfileUpdate,
    ) -> Result<TeamMemberProfile, ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::UpdateTeamMemberProfile { team_id, user_id },
            )?;
            let member = load_user(conn, actor.project, user_id)?.ok_or(NotFound::User)?;
            let profile = conn.in_transaction_with(|conn| {
                let profile =
                    memberships::update_profile(conn, actor.project, team_id, user_id, &update)?
                        .ok_or(NotFound::Membership { team_id, user_id })?;
                let changed: Vec<&str> = [
                    ("display_name", update.display_name.is_some()),
                    ("profile_image_url", update.profile_image_url.is_some()),
                ]
                .into_iter()
                .filter_map(|(field, named)| named.then_some(field))
                .collect();
                if !changed.is_empty() {
                    let change = Change::new(
                        AuditAction::TeamMemberProfileUpdated,
                        format!("{team_id}/{user_id}"),
                    )
                    .target(Some(user_id))
                    .fact("team_id", team_id.to_string())
                    .fact("user_id", user_id.to_string())
                    .fact("changed", changed);
                    audit::record(conn, actor.project, &AuditActor::of(&actor), change, now)?;
                }
                Ok::<_, ServiceError>(profile)
            })?;
            Ok(TeamMemberProfile { member, profile })
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
            ensure_team_exists(conn, actor.project, team_id).map(drop)
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

/// A member's profile in a team: the user (with the team they selected) and what they chose to
/// be called and shown as there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMemberProfile {
    /// The member.
    pub member: UserWithTeam,
    /// Their name and picture in the team, where they chose one.
    pub profile: MemberProfile,
}
