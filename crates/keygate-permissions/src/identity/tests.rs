//! The decision matrix of the identity subset: every operation × access type × session ×
//! team standing, and team creation × switches × requested creator, against upstream's rules
//! written out by hand.

use super::*;
use crate::team_permissions::{PermissionCatalogue, PermissionDefinition, PermissionId};

use AccessType::{Admin, Client, Server};
use SystemPermission::{DeleteTeam, InviteMembers, ReadMembers, RemoveMembers, UpdateTeam};

struct World {
    /// The session user, when there is one.
    me: UserId,
    /// Another user.
    other: UserId,
    team: TeamId,
    catalogue: PermissionCatalogue,
}

impl World {
    fn new() -> Self {
        let mut catalogue = PermissionCatalogue::with_defaults();
        for (id, contained) in [
            ("moderator", &["remover", "$delete_team"][..]),
            ("remover", &["$remove_members", "moderator"][..]),
        ] {
            catalogue
                .define(PermissionDefinition {
                    id: PermissionId::parse(id).unwrap(),
                    description: None,
                    contained_permission_ids: contained
                        .iter()
                        .map(|c| PermissionId::parse(c).unwrap())
                        .collect(),
                })
                .unwrap();
        }
        Self {
            me: UserId::new_random(),
            other: UserId::new_random(),
            team: TeamId::new_random(),
            catalogue,
        }
    }

    fn standing(&self, grant: Grant) -> TeamStanding {
        let granted: &[&str] = match grant {
            Grant::NotMember => return TeamStanding::NotMember,
            Grant::NoGrants => &[],
            Grant::PlainMember => &["team_member"],
            Grant::DirectUpdate => &["$update_team"],
            Grant::CustomNested => &["moderator"],
            Grant::TeamAdmin => &["team_admin"],
        };
        TeamStanding::Member(self.catalogue.resolve(granted))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    NotMember,
    /// A member with no permissions at all.
    NoGrants,
    /// `team_member`.
    PlainMember,
    /// `$update_team` directly.
    DirectUpdate,
    /// `moderator` ⊃ {`remover` ⊃ {`$remove_members`, `moderator`}, `$delete_team`}.
    CustomNested,
    /// `team_admin`.
    TeamAdmin,
}

impl Grant {
    const ALL: [Grant; 6] = [
        Grant::NotMember,
        Grant::NoGrants,
        Grant::PlainMember,
        Grant::DirectUpdate,
        Grant::CustomNested,
        Grant::TeamAdmin,
    ];

    fn is_member(self) -> bool {
        self != Grant::NotMember
    }

    /// Written out by hand, independent of the resolver.
    fn holds(self) -> &'static [SystemPermission] {
        match self {
            Grant::NotMember | Grant::NoGrants => &[],
            Grant::PlainMember => &[ReadMembers, InviteMembers],
            Grant::DirectUpdate => &[UpdateTeam],
            Grant::CustomNested => &[DeleteTeam, RemoveMembers],
            Grant::TeamAdmin => &SystemPermission::ALL,
        }
    }
}

/// Who is named by the request's `user_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Absent,
    Me,
    Other,
}

fn actions(world: &World) -> Vec<IdentityAction> {
    let team_id = world.team;
    let mut all = vec![
        IdentityAction::CreateUser,
        IdentityAction::ReadUser,
        IdentityAction::UpdateUser,
        IdentityAction::DeleteUser,
        IdentityAction::ReadCurrentUser,
        IdentityAction::UpdateCurrentUser,
        IdentityAction::DeleteCurrentUser,
        IdentityAction::CreateSession,
        IdentityAction::ReadTeam { team_id },
        IdentityAction::UpdateTeam { team_id },
        IdentityAction::DeleteTeam { team_id },
        IdentityAction::AddTeamMember,
        IdentityAction::GrantTeamPermission,
        IdentityAction::RevokeTeamPermission,
        IdentityAction::ReadCurrentProject,
        IdentityAction::UpdateCurrentProject,
        IdentityAction::CreateProjectCredentials,
    ];
    for user_id in [None, Some(world.me), Some(world.other)] {
        all.push(IdentityAction::ListTeams { user_id });
        all.push(IdentityAction::ListTeamPermissions { user_id });
    }
    for user_id in [world.me, world.other] {
        all.push(IdentityAction::RemoveTeamMember { team_id, user_id });
        all.push(IdentityAction::ListSessions { user_id });
        all.push(IdentityAction::ListContactChannels { user_id });
        all.push(IdentityAction::ReadContactChannel { user_id });
        all.push(IdentityAction::ReadNotificationPreferences { user_id });
        all.push(IdentityAction::ReadTeamMemberProfile { team_id, user_id });
        all.push(IdentityAction::UpdateTeamMemberProfile { team_id, user_id });
        all.push(IdentityAction::ListReceivedTeamInvitations { user_id });
    }
    all.push(IdentityAction::RevokeSession);
    all.push(IdentityAction::ListTeamInvitations { team_id });
    for user_id in [None, Some(world.me), Some(world.other)] {
        all.push(IdentityAction::ListTeamMemberProfiles { team_id, user_id });
    }
    for customer in [
        Customer::User(world.me),
        Customer::User(world.other),
        Customer::Team(team_id),
        Customer::Custom,
    ] {
        all.push(IdentityAction::ReadBilling { customer });
        all.push(IdentityAction::ListCustomerProducts { customer });
    }
    all
}

fn target(world: &World, user_id: Option<UserId>) -> Target {
    match user_id {
        None => Target::Absent,
        Some(id) if id == world.me => Target::Me,
        Some(_) => Target::Other,
    }
}

/// Upstream's rules (B5, A6 and the handlers cited in the module documentation), in order.
fn expected(
    world: &World,
    access: AccessType,
    has_session: bool,
    action: &IdentityAction,
    grant: Grant,
) -> Result<(), Denial> {
    let insufficient = |allowed: &'static [AccessType]| {
        Err(Denial::InsufficientAccessType {
            actual: access,
            allowed,
        })
    };
    let (me, team_id) = (world.me, world.team);
    let membership_then = |permission: Option<SystemPermission>| {
        if !grant.is_member() {
            return Err(Denial::TeamMembershipNotFound {
                team_id,
                user_id: me,
            });
        }
        match permission {
            Some(p) if !grant.holds().contains(&p) => Err(Denial::TeamPermissionRequired {
                team_id,
                user_id: me,
                permission: p,
            }),
            _ => Ok(()),
        }
    };

    match *action {
        // Server-only CRUDs (users, sessions, memberships create, permission grants).
        IdentityAction::CreateUser
        | IdentityAction::ReadUser
        | IdentityAction::UpdateUser
        | IdentityAction::DeleteUser
        | IdentityAction::CreateSession
        | IdentityAction::AddTeamMember
        | IdentityAction::GrantTeamPermission
        | IdentityAction::RevokeTeamPermission => match access {
            Client => insufficient(&[Server, Admin]),
            Server | Admin => Ok(()),
        },
        // A3: project administration is admin only.
        IdentityAction::ReadCurrentProject
        | IdentityAction::UpdateCurrentProject
        | IdentityAction::CreateProjectCredentials => match access {
            Client | Server => insufficient(&[Admin]),
            Admin => Ok(()),
        },
        // `me` needs a session on every access type.
        IdentityAction::ReadCurrentUser | IdentityAction::UpdateCurrentUser => {
            if has_session {
                Ok(())
            } else {
                Err(Denial::CannotGetOwnUserWithoutUser)
            }
        }
        IdentityAction::DeleteCurrentUser => match (access, has_session) {
            (Client, _) => Err(Denial::ClientUserDeletionDisabled),
            (_, true) => Ok(()),
            (_, false) => Err(Denial::CannotGetOwnUserWithoutUser),
        },
        _ if access != Client => Ok(()),
        // Client rules of the team endpoints.
        IdentityAction::ListTeams { user_id } | IdentityAction::ListTeamPermissions { user_id } => {
            let other_users = match action {
                IdentityAction::ListTeams { .. } => Denial::OtherUsersTeams,
                _ => Denial::OtherUsersTeamPermissions,
            };
            match (has_session, target(world, user_id)) {
                (false, _) => Err(Denial::CannotGetOwnUserWithoutUser),
                (true, Target::Me) => Ok(()),
                (true, Target::Absent | Target::Other) => Err(other_users),
            }
        }
        IdentityAction::ReadTeam { .. } if !has_session => Err(Denial::UserAuthenticationRequired),
        IdentityAction::ReadTeam { .. } => membership_then(None),
        IdentityAction::UpdateTeam { .. } | IdentityAction::DeleteTeam { .. } if !has_session => {
            Err(Denial::UserAuthenticationRequired)
        }
        IdentityAction::UpdateTeam { .. } => membership_then(Some(UpdateTeam)),
        IdentityAction::DeleteTeam { .. } => membership_then(Some(DeleteTeam)),
        IdentityAction::RemoveTeamMember { user_id, .. } => {
            match (has_session, target(world, Some(user_id))) {
                (false, _) => Err(Denial::CannotGetOwnUserWithoutUser),
                (true, Target::Me) => Ok(()),
                (true, _) => membership_then(Some(RemoveMembers)),
            }
        }
        // Client rules of the account settings page's routes.
        IdentityAction::ListSessions { user_id }
        | IdentityAction::ListContactChannels { user_id }
        | IdentityAction::ReadContactChannel { user_id }
        | IdentityAction::ListReceivedTeamInvitations { user_id } => {
            let other_users = match action {
                IdentityAction::ListSessions { .. } => Denial::OtherUsersSessions,
                IdentityAction::ListContactChannels { .. } => Denial::OtherUsersContactChannelList,
                IdentityAction::ReadContactChannel { .. } => Denial::OtherUsersContactChannel,
                _ => Denial::CannotGetOwnUserWithoutUser,
            };
            match (has_session, target(world, Some(user_id))) {
                (false, _) => Err(Denial::CannotGetOwnUserWithoutUser),
                (true, Target::Me) => Ok(()),
                (true, _) => Err(other_users),
            }
        }
        IdentityAction::RevokeSession if has_session => Ok(()),
        IdentityAction::RevokeSession => Err(Denial::CannotGetOwnUserWithoutUser),
        _ if !has_session => Err(Denial::UserAuthenticationRequired),
        IdentityAction::ReadNotificationPreferences { user_id } => {
            match target(world, Some(user_id)) {
                Target::Me => Ok(()),
                _ => Err(Denial::OtherUsersNotificationPreferences),
            }
        }
        IdentityAction::ReadBilling { customer }
        | IdentityAction::ListCustomerProducts { customer } => {
            let other_users = match action {
                IdentityAction::ReadBilling { .. } => Denial::OtherUsersBilling,
                _ => Denial::OtherUsersProducts,
            };
            match customer {
                Customer::User(user) if user == me => Ok(()),
                Customer::User(_) | Customer::Custom => Err(other_users),
                Customer::Team(_) if !grant.is_member() => Err(Denial::TeamMembershipNotFound {
                    team_id,
                    user_id: me,
                }),
                Customer::Team(_) if grant == Grant::TeamAdmin => Ok(()),
                Customer::Team(_) => Err(Denial::TeamRoleRequired {
                    team_id,
                    user_id: me,
                    role: "team_admin",
                }),
            }
        }
        IdentityAction::ListTeamMemberProfiles { user_id, .. } => match target(world, user_id) {
            Target::Me => membership_then(None),
            _ => membership_then(Some(ReadMembers)),
        },
        IdentityAction::ReadTeamMemberProfile { user_id, .. } => {
            match target(world, Some(user_id)) {
                Target::Me => membership_then(None),
                _ => membership_then(Some(ReadMembers)),
            }
        }
        IdentityAction::UpdateTeamMemberProfile { user_id, .. } => {
            match target(world, Some(user_id)) {
                Target::Me => membership_then(None),
                _ => Err(Denial::OtherUsersTeamProfile),
            }
        }
        IdentityAction::ListTeamInvitations { .. } => {
            membership_then(Some(ReadMembers)).and_then(|()| membership_then(Some(InviteMembers)))
        }
    }
}

#[test]
fn every_case_of_the_matrix_follows_upstream() {
    let world = World::new();
    let mut count = 0;
    for access in AccessType::ALL {
        for has_session in [false, true] {
            let caller = Caller::new(access, has_session.then_some(world.me));
            for action in actions(&world) {
                for grant in Grant::ALL {
                    let standing = world.standing(grant);
                    let needed = action.team_standing_needed(&caller);
                    if let Some((team, user)) = needed {
                        assert_eq!((team, user), (world.team, world.me), "{action:?}");
                    }
                    let decided = authorize_identity(&caller, &action, needed.map(|_| &standing));
                    assert_eq!(
                        decided,
                        expected(&world, access, has_session, &action, grant),
                        "{access:?} session={has_session} {action:?} {grant:?}"
                    );
                    if needed.is_none() {
                        assert_eq!(
                            authorize_identity(&caller, &action, Some(&standing)),
                            decided,
                            "an unasked-for standing changed {access:?} {action:?} {grant:?}"
                        );
                    }
                    count += 1;
                }
            }
        }
    }
    // 3 access types × 2 sessions × 52 actions × 6 standings.
    assert_eq!(count, 1872);
}

#[test]
fn standing_is_asked_for_only_where_a_client_must_be_a_member() {
    let world = World::new();
    let client = Caller::new(Client, Some(world.me));
    let team_id = world.team;
    let wanted = Some((world.team, world.me));
    assert_eq!(
        IdentityAction::ReadTeam { team_id }.team_standing_needed(&client),
        wanted
    );
    assert_eq!(
        IdentityAction::UpdateTeam { team_id }.team_standing_needed(&client),
        wanted
    );
    assert_eq!(
        IdentityAction::DeleteTeam { team_id }.team_standing_needed(&client),
        wanted
    );
    assert_eq!(
        IdentityAction::RemoveTeamMember {
            team_id,
            user_id: world.other
        }
        .team_standing_needed(&client),
        wanted
    );
    assert_eq!(
        IdentityAction::RemoveTeamMember {
            team_id,
            user_id: world.me
        }
        .team_standing_needed(&client),
        None,
        "leaving a team needs no standing"
    );
    assert_eq!(
        IdentityAction::ListTeams {
            user_id: Some(world.me)
        }
        .team_standing_needed(&client),
        None
    );
    for caller in [
        Caller::new(Client, None),
        Caller::new(Server, Some(world.me)),
        Caller::new(Admin, Some(world.me)),
    ] {
        assert_eq!(
            IdentityAction::UpdateTeam { team_id }.team_standing_needed(&caller),
            None
        );
    }
}

#[test]
fn missing_standing_counts_as_not_a_member() {
    let world = World::new();
    let client = Caller::new(Client, Some(world.me));
    assert_eq!(
        authorize_identity(
            &client,
            &IdentityAction::ReadTeam {
                team_id: world.team
            },
            None
        ),
        Err(Denial::TeamMembershipNotFound {
            team_id: world.team,
            user_id: world.me
        })
    );
}

#[test]
fn team_creation_matrix() {
    let world = World::new();
    let mut count = 0;
    for access in AccessType::ALL {
        for session in [None, Some(world.me)] {
            for client_team_creation_enabled in [false, true] {
                for allow_api_keys in [false, true] {
                    let switches = ProjectSwitches {
                        allow_user_api_keys: allow_api_keys,
                        allow_team_api_keys: allow_api_keys,
                        client_team_creation_enabled,
                    };
                    for requested in [None, Some(world.me), Some(world.other)] {
                        let expected = match access {
                            // B5: server (and admin) always, with whatever creator was asked for.
                            Server | Admin => Ok(requested),
                            Client if session.is_none() => Err(Denial::UserAuthenticationRequired),
                            Client if !client_team_creation_enabled => {
                                Err(Denial::ClientTeamCreationDisabled)
                            }
                            Client if requested == Some(world.other) => {
                                Err(Denial::TeamCreatorNotSelf)
                            }
                            // Omitted or self: the session user becomes the creator.
                            Client => Ok(Some(world.me)),
                        };
                        let caller = Caller::new(access, session);
                        assert_eq!(
                            authorize_create_team(&caller, &switches, requested),
                            expected,
                            "{access:?} session={session:?} switches={switches:?} requested={requested:?}"
                        );
                        count += 1;
                    }
                }
            }
        }
    }
    assert_eq!(count, 72);
}

/// The cases B5/A6 spell out, written by hand.
#[test]
fn contract_examples() {
    let world = World::new();
    let client = Caller::new(Client, Some(world.me));
    let anonymous_client = Caller::new(Client, None);
    let server = Caller::new(Server, None);

    assert_eq!(
        authorize_identity(&client, &IdentityAction::CreateUser, None),
        Err(Denial::InsufficientAccessType {
            actual: Client,
            allowed: &[Server, Admin]
        }),
        "POST /users is server only"
    );
    assert_eq!(
        authorize_identity(&client, &IdentityAction::ReadCurrentUser, None),
        Ok(()),
        "GET /users/me works on client"
    );
    assert_eq!(
        authorize_identity(&server, &IdentityAction::ReadCurrentUser, None),
        Err(Denial::CannotGetOwnUserWithoutUser),
        "GET /users/me on server without a session"
    );
    assert_eq!(
        authorize_identity(
            &client,
            &IdentityAction::ListTeams {
                user_id: Some(world.me)
            },
            None
        ),
        Ok(()),
        "GET /teams?user_id=me on client lists the session user's teams"
    );
    assert_eq!(
        authorize_identity(&client, &IdentityAction::ListTeams { user_id: None }, None),
        Err(Denial::OtherUsersTeams),
        "a client cannot list every team"
    );
    assert_eq!(
        authorize_identity(&server, &IdentityAction::ListTeams { user_id: None }, None),
        Ok(()),
        "GET /teams on server lists every team"
    );
    assert_eq!(
        authorize_identity(
            &anonymous_client,
            &IdentityAction::ListTeamPermissions {
                user_id: Some(world.me)
            },
            None
        ),
        Err(Denial::CannotGetOwnUserWithoutUser)
    );
    assert_eq!(
        authorize_identity(
            &client,
            &IdentityAction::ListTeamPermissions {
                user_id: Some(world.other)
            },
            None
        ),
        Err(Denial::OtherUsersTeamPermissions)
    );
    assert_eq!(
        authorize_identity(&client, &IdentityAction::GrantTeamPermission, None),
        Err(Denial::InsufficientAccessType {
            actual: Client,
            allowed: &[Server, Admin]
        })
    );
    assert_eq!(
        authorize_identity(&server, &IdentityAction::UpdateCurrentProject, None),
        Err(Denial::InsufficientAccessType {
            actual: Server,
            allowed: &[Admin]
        })
    );
    let member = world.standing(Grant::PlainMember);
    assert_eq!(
        authorize_identity(
            &client,
            &IdentityAction::DeleteTeam {
                team_id: world.team
            },
            Some(&member)
        ),
        Err(Denial::TeamPermissionRequired {
            team_id: world.team,
            user_id: world.me,
            permission: DeleteTeam
        }),
        "a plain member cannot delete the team"
    );
    let creator = world.standing(Grant::TeamAdmin);
    assert_eq!(
        authorize_identity(
            &client,
            &IdentityAction::RemoveTeamMember {
                team_id: world.team,
                user_id: world.other
            },
            Some(&creator)
        ),
        Ok(()),
        "the creator may remove members"
    );
    assert_eq!(
        authorize_create_team(&client, &ProjectSwitches::default(), None),
        Err(Denial::ClientTeamCreationDisabled)
    );
    let creation_on = ProjectSwitches {
        client_team_creation_enabled: true,
        ..ProjectSwitches::default()
    };
    assert_eq!(
        authorize_create_team(&client, &creation_on, None),
        Ok(Some(world.me)),
        "an omitted creator is the session user"
    );
    assert_eq!(
        authorize_create_team(&Caller::new(Server, Some(world.me)), &creation_on, None),
        Ok(None),
        "a server-created team gets no implicit creator"
    );
}
