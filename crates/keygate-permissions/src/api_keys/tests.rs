//! The whole decision matrix of the API-key endpoints: every action × access type × session ×
//! switches × team standing, against B2/B4's rules written out as an ordered rule list, plus
//! hand-written rows for the cases the contract spells out.

use super::*;
use crate::team_permissions::{PermissionCatalogue, PermissionDefinition, PermissionId};

use AccessType::{Admin, Client, Server};

/// The fixed cast of every case.
struct World {
    /// Owns the user keys.
    owner: UserId,
    /// Another user of the project.
    other: UserId,
    /// Owns the team keys.
    team: TeamId,
    catalogue: PermissionCatalogue,
}

impl World {
    fn new() -> Self {
        let mut catalogue = PermissionCatalogue::with_defaults();
        let define = |catalogue: &mut PermissionCatalogue, id: &str, contained: &[&str]| {
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
        };
        define(&mut catalogue, "key_admin", &["$manage_api_keys"]);
        define(&mut catalogue, "ops:lead", &["key_admin", "$read_members"]);
        define(&mut catalogue, "ring_a", &["ring_b"]);
        define(&mut catalogue, "ring_b", &["ring_a", "$manage_api_keys"]);
        define(&mut catalogue, "viewer", &["$read_members", "loop_x"]);
        define(&mut catalogue, "loop_x", &["loop_y"]);
        define(&mut catalogue, "loop_y", &["loop_x"]);
        Self {
            owner: UserId::new_random(),
            other: UserId::new_random(),
            team: TeamId::new_random(),
            catalogue,
        }
    }

    fn standing(&self, grant: Grant) -> TeamStanding {
        let granted: &[&str] = match grant {
            Grant::NotMember => return TeamStanding::NotMember,
            Grant::PlainMember => &["team_member"],
            Grant::CustomWithout => &["viewer"],
            Grant::Direct => &["$manage_api_keys"],
            Grant::TeamAdmin => &["team_admin"],
            Grant::CustomNested => &["ops:lead"],
            Grant::CustomCycle => &["ring_a"],
        };
        TeamStanding::Member(self.catalogue.resolve(granted))
    }
}

/// Who the session user is, relative to the key's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    None,
    /// The owning user (user keys) or the team member whose [`Grant`] is tested (team keys).
    Owner,
    /// Another user (user keys only).
    Other,
}

/// The session user's standing in the owning team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    NotMember,
    /// `team_member`, the member default.
    PlainMember,
    /// A custom definition that does not lead to `$manage_api_keys` (through a cycle).
    CustomWithout,
    /// `$manage_api_keys` granted directly.
    Direct,
    /// `team_admin`, the creator default.
    TeamAdmin,
    /// `ops:lead` ⊃ `key_admin` ⊃ `$manage_api_keys`.
    CustomNested,
    /// `ring_a` ⊃ `ring_b` ⊃ {`ring_a`, `$manage_api_keys`}.
    CustomCycle,
}

impl Grant {
    const ALL: [Grant; 7] = [
        Grant::NotMember,
        Grant::PlainMember,
        Grant::CustomWithout,
        Grant::Direct,
        Grant::TeamAdmin,
        Grant::CustomNested,
        Grant::CustomCycle,
    ];

    /// Written out by hand, independent of the resolver.
    fn holds_manage_api_keys(self) -> bool {
        match self {
            Grant::NotMember | Grant::PlainMember | Grant::CustomWithout => false,
            Grant::Direct | Grant::TeamAdmin | Grant::CustomNested | Grant::CustomCycle => true,
        }
    }
}

/// The request, relative to the route's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    List,
    ListWithoutOwner,
    Read,
    ReadMissing,
    ReadOtherType,
    Update,
    UpdateMissing,
    UpdateOtherType,
    Check,
}

impl Kind {
    const ALL: [Kind; 10] = [
        Kind::Create,
        Kind::List,
        Kind::ListWithoutOwner,
        Kind::Read,
        Kind::ReadMissing,
        Kind::ReadOtherType,
        Kind::Update,
        Kind::UpdateMissing,
        Kind::UpdateOtherType,
        Kind::Check,
    ];
}

#[derive(Debug, Clone, Copy)]
struct Case {
    access: AccessType,
    session: Session,
    switches: ProjectSwitches,
    route: KeyType,
    kind: Kind,
    grant: Grant,
}

fn switch_combinations() -> Vec<ProjectSwitches> {
    let mut all = Vec::new();
    for allow_user_api_keys in [false, true] {
        for allow_team_api_keys in [false, true] {
            for client_team_creation_enabled in [false, true] {
                all.push(ProjectSwitches {
                    allow_user_api_keys,
                    allow_team_api_keys,
                    client_team_creation_enabled,
                });
            }
        }
    }
    all
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for route in [KeyType::User, KeyType::Team] {
        let sessions: &[Session] = match route {
            KeyType::User => &[Session::None, Session::Owner, Session::Other],
            KeyType::Team => &[Session::None, Session::Owner],
        };
        let grants: &[Grant] = match route {
            KeyType::User => &[Grant::NotMember],
            KeyType::Team => &Grant::ALL,
        };
        for access in AccessType::ALL {
            for &session in sessions {
                for switches in switch_combinations() {
                    for kind in Kind::ALL {
                        for &grant in grants {
                            cases.push(Case {
                                access,
                                session,
                                switches,
                                route,
                                kind,
                                grant,
                            });
                        }
                    }
                }
            }
        }
    }
    cases
}

/// B2/B4 as an ordered list of rules; the first that applies gives the answer.
fn expected(case: &Case) -> Result<(), Denial> {
    // B2 "Check": server and admin only, and the access type is checked before anything else.
    if case.kind == Kind::Check && case.access == Client {
        return Err(Denial::InsufficientAccessType {
            actual: Client,
            allowed: &[Server, Admin],
        });
    }
    // B4: a disabled type answers 400 text on every endpoint; the other type is unaffected.
    let enabled = match case.route {
        KeyType::User => case.switches.allow_user_api_keys,
        KeyType::Team => case.switches.allow_team_api_keys,
    };
    if !enabled {
        return Err(Denial::ApiKeysDisabled(case.route));
    }
    match case.kind {
        // B2 "Check": the rest (lookup, type, revoked, expired) is not an access decision.
        Kind::Check => return Ok(()),
        // B2 "List": a hand-thrown SCHEMA_ERROR, for every access type.
        Kind::ListWithoutOwner => return Err(Denial::OwnerIdRequired(case.route)),
        // B2 "Read"/"Update": lookup before ownership; A1: the other type's key is not found.
        Kind::ReadMissing | Kind::UpdateMissing | Kind::ReadOtherType | Kind::UpdateOtherType => {
            return Err(Denial::ApiKeyNotFound)
        }
        Kind::Create | Kind::List | Kind::Read | Kind::Update => {}
    }
    // B4: server and admin skip all ownership checks.
    if case.access != Client {
        return Ok(());
    }
    // B2 step 3, in order.
    if case.session == Session::None {
        return Err(Denial::UserAuthenticationRequired);
    }
    match case.route {
        KeyType::User if case.session == Session::Owner => Ok(()),
        KeyType::User => Err(Denial::OtherUsersApiKeys),
        KeyType::Team if case.grant.holds_manage_api_keys() => Ok(()),
        KeyType::Team => Err(Denial::ApiKeyNotFound),
    }
}

/// Builds the decision inputs of `case` the way the HTTP layer would, and decides.
fn decide(world: &World, case: &Case) -> Result<(), Denial> {
    let session_user = match case.session {
        Session::None => None,
        Session::Owner => Some(world.owner),
        Session::Other => Some(world.other),
    };
    let caller = Caller::new(case.access, session_user);
    let (own, other_type) = match case.route {
        KeyType::User => (Owner::User(world.owner), Owner::Team(world.team)),
        KeyType::Team => (Owner::Team(world.team), Owner::User(world.owner)),
    };
    let action = match case.kind {
        Kind::Create => ApiKeyAction::Create { owner: own },
        Kind::List => ApiKeyAction::List { owner: Some(own) },
        Kind::ListWithoutOwner => ApiKeyAction::List { owner: None },
        Kind::Read => ApiKeyAction::Read {
            stored_owner: Some(own),
        },
        Kind::ReadMissing => ApiKeyAction::Read { stored_owner: None },
        Kind::ReadOtherType => ApiKeyAction::Read {
            stored_owner: Some(other_type),
        },
        Kind::Update => ApiKeyAction::Update {
            stored_owner: Some(own),
        },
        Kind::UpdateMissing => ApiKeyAction::Update { stored_owner: None },
        Kind::UpdateOtherType => ApiKeyAction::Update {
            stored_owner: Some(other_type),
        },
        Kind::Check => ApiKeyAction::Check,
    };

    let standing = world.standing(case.grant);
    let needed = action.team_standing_needed(&caller);
    if let Some((team, user)) = needed {
        assert_eq!(team, world.team, "{case:?}");
        assert_eq!(Some(user), session_user, "{case:?}");
    }
    let with_needed = authorize_api_key(
        &caller,
        &case.switches,
        case.route,
        &action,
        needed.map(|_| &standing),
    );
    // A standing that was not asked for must not change the answer.
    if needed.is_none() {
        let with_unneeded = authorize_api_key(
            &caller,
            &case.switches,
            case.route,
            &action,
            Some(&standing),
        );
        assert_eq!(with_needed, with_unneeded, "{case:?}");
    }
    with_needed
}

#[test]
fn every_case_of_the_matrix_follows_the_contract() {
    let world = World::new();
    let cases = all_cases();
    // user: 3 access × 3 sessions × 8 switches × 10 kinds; team: 3 × 2 × 8 × 10 × 7 grants.
    assert_eq!(cases.len(), 720 + 3360);
    for case in &cases {
        assert_eq!(decide(&world, case), expected(case), "{case:?}");
    }
}

#[test]
fn standing_is_asked_for_exactly_for_client_sessions_on_team_keys() {
    let world = World::new();
    for case in all_cases() {
        let session_user = match case.session {
            Session::None => None,
            Session::Owner => Some(world.owner),
            Session::Other => Some(world.other),
        };
        let caller = Caller::new(case.access, session_user);
        let owner = match case.route {
            KeyType::User => Owner::User(world.owner),
            KeyType::Team => Owner::Team(world.team),
        };
        let needed = ApiKeyAction::Create { owner }.team_standing_needed(&caller);
        let expect = case.access == Client && session_user.is_some() && case.route == KeyType::Team;
        assert_eq!(needed.is_some(), expect, "{case:?}");
        assert_eq!(ApiKeyAction::Check.team_standing_needed(&caller), None);
    }
}

#[test]
fn missing_standing_fails_closed() {
    let world = World::new();
    let caller = Caller::new(Client, Some(world.owner));
    let on = ProjectSwitches {
        allow_team_api_keys: true,
        ..ProjectSwitches::default()
    };
    let action = ApiKeyAction::Create {
        owner: Owner::Team(world.team),
    };
    assert_eq!(
        authorize_api_key(&caller, &on, KeyType::Team, &action, None),
        Err(Denial::ApiKeyNotFound)
    );
}

/// The cases B2/B4 spell out, written by hand.
#[test]
fn contract_examples() {
    let world = World::new();
    let both_on = ProjectSwitches {
        allow_user_api_keys: true,
        allow_team_api_keys: true,
        client_team_creation_enabled: false,
    };
    let all_off = ProjectSwitches::default();
    let only_team = ProjectSwitches {
        allow_team_api_keys: true,
        ..all_off
    };
    let user_key = Owner::User(world.owner);
    let team_key = Owner::Team(world.team);
    let member = world.standing(Grant::PlainMember);
    let creator = world.standing(Grant::TeamAdmin);

    struct Row<'a> {
        what: &'static str,
        caller: Caller,
        switches: ProjectSwitches,
        route: KeyType,
        action: ApiKeyAction,
        standing: Option<&'a TeamStanding>,
        expected: Result<(), Denial>,
    }
    let rows = [
        Row {
            what: "client creates its own user key",
            caller: Caller::new(Client, Some(world.owner)),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::Create { owner: user_key },
            standing: None,
            expected: Ok(()),
        },
        Row {
            what: "client creates a key for another user: 403 text",
            caller: Caller::new(Client, Some(world.other)),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::Create { owner: user_key },
            standing: None,
            expected: Err(Denial::OtherUsersApiKeys),
        },
        Row {
            what: "client without session, switch off: the switch answers first",
            caller: Caller::new(Client, None),
            switches: all_off,
            route: KeyType::User,
            action: ApiKeyAction::Create { owner: user_key },
            standing: None,
            expected: Err(Denial::ApiKeysDisabled(KeyType::User)),
        },
        Row {
            what: "client without session, switch on",
            caller: Caller::new(Client, None),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::List {
                owner: Some(user_key),
            },
            standing: None,
            expected: Err(Denial::UserAuthenticationRequired),
        },
        Row {
            what: "check on client: access type before the switch",
            caller: Caller::new(Client, Some(world.owner)),
            switches: all_off,
            route: KeyType::User,
            action: ApiKeyAction::Check,
            standing: None,
            expected: Err(Denial::InsufficientAccessType {
                actual: Client,
                allowed: &[Server, Admin],
            }),
        },
        Row {
            what: "check on server with the switch off",
            caller: Caller::new(Server, None),
            switches: all_off,
            route: KeyType::Team,
            action: ApiKeyAction::Check,
            standing: None,
            expected: Err(Denial::ApiKeysDisabled(KeyType::Team)),
        },
        Row {
            what: "check on admin",
            caller: Caller::new(Admin, None),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::Check,
            standing: None,
            expected: Ok(()),
        },
        Row {
            what: "user switch off does not affect team keys",
            caller: Caller::new(Server, None),
            switches: only_team,
            route: KeyType::Team,
            action: ApiKeyAction::Create { owner: team_key },
            standing: None,
            expected: Ok(()),
        },
        Row {
            what: "server lists without user_id: hand-thrown SCHEMA_ERROR",
            caller: Caller::new(Server, None),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::List { owner: None },
            standing: None,
            expected: Err(Denial::OwnerIdRequired(KeyType::User)),
        },
        Row {
            what: "client without session lists without user_id: SCHEMA_ERROR first",
            caller: Caller::new(Client, None),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::List { owner: None },
            standing: None,
            expected: Err(Denial::OwnerIdRequired(KeyType::User)),
        },
        Row {
            what: "server reads any user's key",
            caller: Caller::new(Server, None),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::Read {
                stored_owner: Some(user_key),
            },
            standing: None,
            expected: Ok(()),
        },
        Row {
            what: "client reads another user's stored key: 403 text",
            caller: Caller::new(Client, Some(world.other)),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::Read {
                stored_owner: Some(user_key),
            },
            standing: None,
            expected: Err(Denial::OtherUsersApiKeys),
        },
        Row {
            what: "reading a missing key with the switch off: the switch answers",
            caller: Caller::new(Admin, None),
            switches: all_off,
            route: KeyType::User,
            action: ApiKeyAction::Read { stored_owner: None },
            standing: None,
            expected: Err(Denial::ApiKeysDisabled(KeyType::User)),
        },
        Row {
            what: "team key through the user route: not found, even for the team's admin",
            caller: Caller::new(Client, Some(world.owner)),
            switches: both_on,
            route: KeyType::User,
            action: ApiKeyAction::Update {
                stored_owner: Some(team_key),
            },
            standing: Some(&creator),
            expected: Err(Denial::ApiKeyNotFound),
        },
        Row {
            what: "user key through the team route: not found, even for its owner",
            caller: Caller::new(Client, Some(world.owner)),
            switches: both_on,
            route: KeyType::Team,
            action: ApiKeyAction::Read {
                stored_owner: Some(user_key),
            },
            standing: None,
            expected: Err(Denial::ApiKeyNotFound),
        },
        Row {
            what: "team creator (team_admin) creates a team key",
            caller: Caller::new(Client, Some(world.owner)),
            switches: both_on,
            route: KeyType::Team,
            action: ApiKeyAction::Create { owner: team_key },
            standing: Some(&creator),
            expected: Ok(()),
        },
        Row {
            what: "plain member lists team keys: disguised as not found",
            caller: Caller::new(Client, Some(world.owner)),
            switches: both_on,
            route: KeyType::Team,
            action: ApiKeyAction::List {
                owner: Some(team_key),
            },
            standing: Some(&member),
            expected: Err(Denial::ApiKeyNotFound),
        },
        Row {
            what: "non-member revokes a team key: disguised as not found",
            caller: Caller::new(Client, Some(world.other)),
            switches: both_on,
            route: KeyType::Team,
            action: ApiKeyAction::Update {
                stored_owner: Some(team_key),
            },
            standing: Some(&TeamStanding::NotMember),
            expected: Err(Denial::ApiKeyNotFound),
        },
        Row {
            what: "server manages a team's keys without any membership",
            caller: Caller::new(Server, None),
            switches: both_on,
            route: KeyType::Team,
            action: ApiKeyAction::Update {
                stored_owner: Some(team_key),
            },
            standing: None,
            expected: Ok(()),
        },
    ];
    for row in rows {
        assert_eq!(
            authorize_api_key(
                &row.caller,
                &row.switches,
                row.route,
                &row.action,
                row.standing
            ),
            row.expected,
            "{}",
            row.what
        );
    }
}

#[test]
fn allowed_access_types_per_action() {
    let owner = Owner::User(UserId::new_random());
    for action in [
        ApiKeyAction::Create { owner },
        ApiKeyAction::List { owner: None },
        ApiKeyAction::Read { stored_owner: None },
        ApiKeyAction::Update { stored_owner: None },
    ] {
        assert_eq!(action.allowed_access_types(), &[Client, Server, Admin]);
    }
    assert_eq!(ApiKeyAction::Check.allowed_access_types(), &[Server, Admin]);
}

#[test]
fn only_server_and_admin_access_follow_the_key_change_feed() {
    let user = UserId::new_random();
    for (access, session, allowed) in [
        (Client, None, false),
        (Client, Some(user), false),
        (Server, None, true),
        (Admin, None, true),
    ] {
        let decision = authorize_key_change_feed(&Caller::new(access, session));
        assert_eq!(decision.is_ok(), allowed, "{access:?} {session:?}");
        if !allowed {
            assert_eq!(
                decision,
                Err(Denial::InsufficientAccessType {
                    actual: access,
                    allowed: SERVER_OR_ADMIN
                })
            );
        }
    }
}
