//! Who may call the identity subset (A4, B5) and the project-administration endpoints (A3).
//!
//! Access types follow upstream's CRUD definitions: an operation a client may perform is also
//! open to server and admin; an operation without a client variant answers
//! `INSUFFICIENT_ACCESS_TYPE` to a client. On top of that, client calls obey upstream's
//! handler rules, modelled here in upstream's order:
//!
//! | Operation | Client rule (server and admin skip it) |
//! |---|---|
//! | `GET`/`PATCH /users/me` | session required (all access types) → `CANNOT_GET_OWN_USER_WITHOUT_USER` |
//! | `DELETE /users/me` | client: refused (no switch enables it); server/admin: session required |
//! | `POST /teams` | see [`authorize_create_team`] |
//! | `GET /teams?user_id=` | session (`CANNOT_GET_OWN_USER_WITHOUT_USER`), `user_id` must be the session user (403 text) |
//! | `GET /teams/{id}` | session (`USER_AUTHENTICATION_REQUIRED`), membership (`TEAM_MEMBERSHIP_NOT_FOUND`) |
//! | `PATCH`/`DELETE /teams/{id}` | as read, then `$update_team` / `$delete_team` (`TEAM_PERMISSION_REQUIRED`) |
//! | `DELETE /team-memberships/{team}/{user}` | session (`CANNOT_GET_OWN_USER_WITHOUT_USER`); leaving yourself is always allowed; removing another needs membership and `$remove_members` |
//! | `GET /team-permissions?user_id=` | session (`CANNOT_GET_OWN_USER_WITHOUT_USER`), `user_id` must be the session user (403 text) |
//! | `GET /auth/sessions?user_id=` | session (`CANNOT_GET_OWN_USER_WITHOUT_USER`), `user_id` must be the session user (403 text) |
//! | `DELETE /auth/sessions/{id}` | session (`CANNOT_GET_OWN_USER_WITHOUT_USER`); the session must be the user's own (checked with it) |
//! | `GET /contact-channels…` | session (`CANNOT_GET_OWN_USER_WITHOUT_USER`), the session user's own (403 text) |
//! | `GET /emails/notification-preference/{user_id}` | session (`USER_AUTHENTICATION_REQUIRED`), the session user's own (403 text) |
//! | `GET /payments/{billing,products}/{type}/{id}` | session (`USER_AUTHENTICATION_REQUIRED`); a user customer must be the session user (403 text), a team one needs membership and `team_admin`; custom customers are refused (403 text) |
//! | `GET /team-member-profiles…` | session (`USER_AUTHENTICATION_REQUIRED`), membership; another member's profile needs `$read_members` |
//! | `PATCH /team-member-profiles/{team_id}/{user_id}` | session (`USER_AUTHENTICATION_REQUIRED`), its own profile only (403 text), membership |
//! | `GET /team-invitations?team_id=` | session (`USER_AUTHENTICATION_REQUIRED`), membership, `$read_members`, then `$invite_members` |
//! | `GET /team-invitations?user_id=` | session, and the session user's own (`CANNOT_GET_OWN_USER_WITHOUT_USER`, as upstream) |
//!
//! Upstream lets members read a team with client access although B5 lists only server
//! access for it; keygate follows upstream, since the SDK's users may rely on it. Sign-out and
//! token refresh authenticate by refresh token and need no decision here.

use keygate_domain::{ProjectSwitches, TeamId, UserId};

use crate::access::{AccessType, Caller};
use crate::denial::Denial;
use crate::team_permissions::{SystemPermission, TeamStanding, TEAM_ADMIN};

/// Every access type.
const ANY_ACCESS: &[AccessType] = &AccessType::ALL;
/// Server and admin.
const SERVER_OR_ADMIN: &[AccessType] = &[AccessType::Server, AccessType::Admin];
/// Admin only.
const ADMIN_ONLY: &[AccessType] = &[AccessType::Admin];

/// One operation of the identity subset or of project administration. Ids in it are the
/// request's, with `"me"` already resolved to the session user by the HTTP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityAction {
    /// `POST /users` (server, admin).
    CreateUser,
    /// `GET /users/{user_id}` (server, admin).
    ReadUser,
    /// `PATCH /users/{user_id}` (server, admin).
    UpdateUser,
    /// `DELETE /users/{user_id}` (server, admin).
    DeleteUser,
    /// `GET /users/me` (all; needs a session).
    ReadCurrentUser,
    /// `PATCH /users/me` (all; needs a session).
    UpdateCurrentUser,
    /// `DELETE /users/me` (server and admin with a session; refused to clients).
    DeleteCurrentUser,
    /// `POST /auth/sessions` (server, admin).
    CreateSession,
    /// `GET /teams?user_id=` (all; a client must list its own teams).
    ListTeams {
        /// The `user_id` filter, if any.
        user_id: Option<UserId>,
    },
    /// `GET /teams/{team_id}` (all; a client must be a member).
    ReadTeam {
        /// The team.
        team_id: TeamId,
    },
    /// `PATCH /teams/{team_id}` (all; a client needs `$update_team`).
    UpdateTeam {
        /// The team.
        team_id: TeamId,
    },
    /// `DELETE /teams/{team_id}` (all; a client needs `$delete_team`).
    DeleteTeam {
        /// The team.
        team_id: TeamId,
    },
    /// `POST /team-memberships/{team_id}/{user_id}` (server, admin).
    AddTeamMember,
    /// `DELETE /team-memberships/{team_id}/{user_id}` (all; a client may remove itself, or
    /// others with `$remove_members`).
    RemoveTeamMember {
        /// The team.
        team_id: TeamId,
        /// The member being removed.
        user_id: UserId,
    },
    /// `POST /team-permissions/{team_id}/{user_id}/{permission_id}` (server, admin).
    GrantTeamPermission,
    /// `DELETE /team-permissions/{team_id}/{user_id}/{permission_id}` (server, admin).
    RevokeTeamPermission,
    /// `GET /team-permissions?user_id=` (all; a client must list its own).
    ListTeamPermissions {
        /// The `user_id` filter, if any.
        user_id: Option<UserId>,
    },
    /// `GET /auth/sessions?user_id=` (all; a client must list its own).
    ListSessions {
        /// Whose sessions.
        user_id: UserId,
    },
    /// `DELETE /auth/sessions/{id}` (all; a client needs a session, and the session must be
    /// its own, which the use case checks with the session).
    RevokeSession,
    /// `GET /contact-channels?user_id=` (all; a client must list its own).
    ListContactChannels {
        /// Whose contact channels.
        user_id: UserId,
    },
    /// `GET /contact-channels/{user_id}/{id}` (all; a client must read its own).
    ReadContactChannel {
        /// Whose contact channel.
        user_id: UserId,
    },
    /// `GET /emails/notification-preference/{user_id}` (all; a client must read its own).
    ReadNotificationPreferences {
        /// Whose preferences.
        user_id: UserId,
    },
    /// `GET /payments/billing/{customer_type}/{customer_id}` (all).
    ReadBilling {
        /// Whose billing.
        customer: Customer,
    },
    /// `GET /payments/products/{customer_type}/{customer_id}` (all).
    ListCustomerProducts {
        /// Whose products.
        customer: Customer,
    },
    /// `GET /team-member-profiles?team_id=[&user_id=]` (all; a client must be a member, and
    /// needs `$read_members` unless it lists only its own profile).
    ListTeamMemberProfiles {
        /// The team.
        team_id: TeamId,
        /// The `user_id` filter, if any.
        user_id: Option<UserId>,
    },
    /// `GET /team-member-profiles/{team_id}/{user_id}` (all; as the list, for one member).
    ReadTeamMemberProfile {
        /// The team.
        team_id: TeamId,
        /// The member.
        user_id: UserId,
    },
    /// `PATCH /team-member-profiles/{team_id}/{user_id}` (all; a client changes only its own
    /// profile, in a team it is a member of).
    UpdateTeamMemberProfile {
        /// The team.
        team_id: TeamId,
        /// The member.
        user_id: UserId,
    },
    /// `GET /team-invitations?team_id=` (all; a client needs `$read_members` and
    /// `$invite_members`).
    ListTeamInvitations {
        /// The team.
        team_id: TeamId,
    },
    /// `GET /team-invitations?user_id=` (all; a client must list its own).
    ListReceivedTeamInvitations {
        /// The recipient.
        user_id: UserId,
    },
    /// `GET /internal/projects/current` (admin).
    ReadCurrentProject,
    /// `PATCH /internal/projects/current` (admin).
    UpdateCurrentProject,
    /// `POST /internal/api-keys`: new project credentials (admin; the operator token is
    /// checked by the HTTP layer and needs no access type).
    CreateProjectCredentials,
}

impl IdentityAction {
    /// The access types the endpoint accepts, weakest first (the `allowed_access_types` of an
    /// `INSUFFICIENT_ACCESS_TYPE` answer).
    pub const fn allowed_access_types(&self) -> &'static [AccessType] {
        match self {
            IdentityAction::CreateUser
            | IdentityAction::ReadUser
            | IdentityAction::UpdateUser
            | IdentityAction::DeleteUser
            | IdentityAction::CreateSession
            | IdentityAction::AddTeamMember
            | IdentityAction::GrantTeamPermission
            | IdentityAction::RevokeTeamPermission => SERVER_OR_ADMIN,
            IdentityAction::ReadCurrentUser
            | IdentityAction::UpdateCurrentUser
            | IdentityAction::DeleteCurrentUser
            | IdentityAction::ListTeams { .. }
            | IdentityAction::ReadTeam { .. }
            | IdentityAction::UpdateTeam { .. }
            | IdentityAction::DeleteTeam { .. }
            | IdentityAction::RemoveTeamMember { .. }
            | IdentityAction::ListTeamPermissions { .. }
            | IdentityAction::ListSessions { .. }
            | IdentityAction::RevokeSession
            | IdentityAction::ListContactChannels { .. }
            | IdentityAction::ReadContactChannel { .. }
            | IdentityAction::ReadNotificationPreferences { .. }
            | IdentityAction::ReadBilling { .. }
            | IdentityAction::ListCustomerProducts { .. }
            | IdentityAction::ListTeamMemberProfiles { .. }
            | IdentityAction::ReadTeamMemberProfile { .. }
            | IdentityAction::UpdateTeamMemberProfile { .. }
            | IdentityAction::ListTeamInvitations { .. }
            | IdentityAction::ListReceivedTeamInvitations { .. } => ANY_ACCESS,
            IdentityAction::ReadCurrentProject
            | IdentityAction::UpdateCurrentProject
            | IdentityAction::CreateProjectCredentials => ADMIN_ONLY,
        }
    }

    /// The (team, session user) whose [`TeamStanding`] the HTTP layer must load and pass to
    /// [`authorize_identity`]: `Some` only for a client with a session acting on a team it
    /// must be a member of (removing oneself from a team needs no standing).
    pub fn team_standing_needed(&self, caller: &Caller) -> Option<(TeamId, UserId)> {
        let team = match *self {
            IdentityAction::ReadTeam { team_id }
            | IdentityAction::UpdateTeam { team_id }
            | IdentityAction::DeleteTeam { team_id }
            | IdentityAction::ListTeamMemberProfiles { team_id, .. }
            | IdentityAction::ReadTeamMemberProfile { team_id, .. }
            | IdentityAction::UpdateTeamMemberProfile { team_id, .. }
            | IdentityAction::ListTeamInvitations { team_id }
            | IdentityAction::ReadBilling {
                customer: Customer::Team(team_id),
            }
            | IdentityAction::ListCustomerProducts {
                customer: Customer::Team(team_id),
            } => Some(team_id),
            IdentityAction::RemoveTeamMember { team_id, user_id }
                if caller.session_user != Some(user_id) =>
            {
                Some(team_id)
            }
            _ => None,
        };
        caller.standing_needed_in(team)
    }
}

/// Decides whether `caller` may perform `action`.
///
/// `standing` is the session user's standing in the team, as asked for by
/// [`IdentityAction::team_standing_needed`]; it is ignored otherwise. Where it is needed but
/// `None`, the user counts as not a member (fails closed).
pub fn authorize_identity(
    caller: &Caller,
    action: &IdentityAction,
    standing: Option<&TeamStanding>,
) -> Result<(), Denial> {
    let allowed = action.allowed_access_types();
    if !allowed.contains(&caller.access_type) {
        return Err(Denial::InsufficientAccessType {
            actual: caller.access_type,
            allowed,
        });
    }
    let is_client = caller.access_type == AccessType::Client;

    match *action {
        IdentityAction::ReadCurrentUser | IdentityAction::UpdateCurrentUser => {
            own_user(caller).map(drop)
        }
        IdentityAction::DeleteCurrentUser if is_client => Err(Denial::ClientUserDeletionDisabled),
        IdentityAction::DeleteCurrentUser => own_user(caller).map(drop),
        _ if !is_client => Ok(()),

        IdentityAction::ListTeams { user_id } => {
            own_listing(caller, user_id, Denial::OtherUsersTeams)
        }
        IdentityAction::ListTeamPermissions { user_id } => {
            own_listing(caller, user_id, Denial::OtherUsersTeamPermissions)
        }
        IdentityAction::ReadTeam { team_id } => {
            let user_id = authenticated_user(caller)?;
            require_membership(team_id, user_id, standing)
        }
        IdentityAction::UpdateTeam { team_id } => {
            let user_id = authenticated_user(caller)?;
            require_permission(team_id, user_id, standing, SystemPermission::UpdateTeam)
        }
        IdentityAction::DeleteTeam { team_id } => {
            let user_id = authenticated_user(caller)?;
            require_permission(team_id, user_id, standing, SystemPermission::DeleteTeam)
        }
        IdentityAction::RemoveTeamMember {
            team_id,
            user_id: member,
        } => {
            let user_id = own_user(caller)?;
            if member == user_id {
                Ok(())
            } else {
                require_permission(team_id, user_id, standing, SystemPermission::RemoveMembers)
            }
        }
        IdentityAction::ListSessions { user_id } => {
            own_listing(caller, Some(user_id), Denial::OtherUsersSessions)
        }
        IdentityAction::RevokeSession => own_user(caller).map(drop),
        IdentityAction::ListContactChannels { user_id } => {
            own_listing(caller, Some(user_id), Denial::OtherUsersContactChannelList)
        }
        IdentityAction::ReadContactChannel { user_id } => {
            own_listing(caller, Some(user_id), Denial::OtherUsersContactChannel)
        }
        IdentityAction::ReadNotificationPreferences { user_id } => {
            if authenticated_user(caller)? == user_id {
                Ok(())
            } else {
                Err(Denial::OtherUsersNotificationPreferences)
            }
        }
        IdentityAction::ReadBilling { customer } => {
            own_customer(caller, customer, standing, Denial::OtherUsersBilling)
        }
        IdentityAction::ListCustomerProducts { customer } => {
            own_customer(caller, customer, standing, Denial::OtherUsersProducts)
        }
        IdentityAction::ListTeamMemberProfiles {
            team_id,
            user_id: member,
        } => member_profiles(caller, team_id, member, standing),
        IdentityAction::ReadTeamMemberProfile {
            team_id,
            user_id: member,
        } => member_profiles(caller, team_id, Some(member), standing),
        IdentityAction::UpdateTeamMemberProfile {
            team_id,
            user_id: member,
        } => {
            let user_id = authenticated_user(caller)?;
            if member != user_id {
                return Err(Denial::OtherUsersTeamProfile);
            }
            require_membership(team_id, user_id, standing)
        }
        IdentityAction::ListTeamInvitations { team_id } => {
            let user_id = authenticated_user(caller)?;
            require_permission(team_id, user_id, standing, SystemPermission::ReadMembers)?;
            require_permission(team_id, user_id, standing, SystemPermission::InviteMembers)
        }
        IdentityAction::ListReceivedTeamInvitations { user_id } => {
            // Upstream answers another user's invitations with this error too.
            own_listing(caller, Some(user_id), Denial::CannotGetOwnUserWithoutUser)
        }

        // Operations without client access were refused above.
        IdentityAction::CreateUser
        | IdentityAction::ReadUser
        | IdentityAction::UpdateUser
        | IdentityAction::DeleteUser
        | IdentityAction::CreateSession
        | IdentityAction::AddTeamMember
        | IdentityAction::GrantTeamPermission
        | IdentityAction::RevokeTeamPermission
        | IdentityAction::ReadCurrentProject
        | IdentityAction::UpdateCurrentProject
        | IdentityAction::CreateProjectCredentials => Ok(()),
    }
}

/// Decides `POST /teams` and returns the user to add as the team's creator (who then receives
/// [`MembershipKind::Creator`](crate::MembershipKind::Creator)'s grants), if any.
///
/// Server and admin may create any team, with any creator or none. A client needs a session
/// (`USER_AUTHENTICATION_REQUIRED`), the project's `client_team_creation_enabled` (403 text),
/// and a `creator_user_id` that is itself or omitted (403 text); an omitted creator is the
/// session user.
pub fn authorize_create_team(
    caller: &Caller,
    switches: &ProjectSwitches,
    requested_creator: Option<UserId>,
) -> Result<Option<UserId>, Denial> {
    if caller.access_type != AccessType::Client {
        return Ok(requested_creator);
    }
    let user_id = authenticated_user(caller)?;
    if !switches.client_team_creation_enabled {
        return Err(Denial::ClientTeamCreationDisabled);
    }
    match requested_creator {
        Some(creator) if creator != user_id => Err(Denial::TeamCreatorNotSelf),
        _ => Ok(Some(user_id)),
    }
}

/// Whose payments a request is about: `customer_type` and `customer_id` of upstream's payment
/// routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Customer {
    /// A user.
    User(UserId),
    /// A team.
    Team(TeamId),
    /// A customer the project names itself (never a client's).
    Custom,
}

/// A client may read its own user's payments, and a team's where it holds `team_admin`
/// (upstream's `ensureClientCanAccessCustomer`).
fn own_customer(
    caller: &Caller,
    customer: Customer,
    standing: Option<&TeamStanding>,
    other: Denial,
) -> Result<(), Denial> {
    let user_id = authenticated_user(caller)?;
    match customer {
        Customer::User(customer) if customer == user_id => Ok(()),
        Customer::User(_) | Customer::Custom => Err(other),
        Customer::Team(team_id) => {
            require_membership(team_id, user_id, standing)?;
            if standing.is_some_and(|s| s.holds(TEAM_ADMIN)) {
                Ok(())
            } else {
                Err(Denial::TeamRoleRequired {
                    team_id,
                    user_id,
                    role: TEAM_ADMIN,
                })
            }
        }
    }
}

/// A client reads team member profiles as a member; anyone's but its own needs
/// `$read_members`.
fn member_profiles(
    caller: &Caller,
    team_id: TeamId,
    member: Option<UserId>,
    standing: Option<&TeamStanding>,
) -> Result<(), Denial> {
    let user_id = authenticated_user(caller)?;
    if member == Some(user_id) {
        require_membership(team_id, user_id, standing)
    } else {
        require_permission(team_id, user_id, standing, SystemPermission::ReadMembers)
    }
}

/// The session user of an endpoint about "my own" user (`CANNOT_GET_OWN_USER_WITHOUT_USER`).
fn own_user(caller: &Caller) -> Result<UserId, Denial> {
    caller
        .session_user
        .ok_or(Denial::CannotGetOwnUserWithoutUser)
}

/// The session user of an endpoint that requires one (`USER_AUTHENTICATION_REQUIRED`).
fn authenticated_user(caller: &Caller) -> Result<UserId, Denial> {
    caller
        .session_user
        .ok_or(Denial::UserAuthenticationRequired)
}

/// A client listing must be filtered to the session user.
fn own_listing(caller: &Caller, filter: Option<UserId>, other: Denial) -> Result<(), Denial> {
    let user_id = own_user(caller)?;
    if filter == Some(user_id) {
        Ok(())
    } else {
        Err(other)
    }
}

fn require_membership(
    team_id: TeamId,
    user_id: UserId,
    standing: Option<&TeamStanding>,
) -> Result<(), Denial> {
    match standing {
        Some(TeamStanding::Member(_)) => Ok(()),
        Some(TeamStanding::NotMember) | None => {
            Err(Denial::TeamMembershipNotFound { team_id, user_id })
        }
    }
}

fn require_permission(
    team_id: TeamId,
    user_id: UserId,
    standing: Option<&TeamStanding>,
    permission: SystemPermission,
) -> Result<(), Denial> {
    require_membership(team_id, user_id, standing)?;
    if standing.is_some_and(|s| s.holds(permission)) {
        Ok(())
    } else {
        Err(Denial::TeamPermissionRequired {
            team_id,
            user_id,
            permission,
        })
    }
}

#[cfg(test)]
mod tests;
