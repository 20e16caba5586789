//! Team permissions: ids, the system permissions, definitions that contain other permissions,
//! the defaults a project starts with, and the resolution of what a member effectively holds.
//!
//! Storage persists the definitions of a project and the direct grants of each membership;
//! this module provides the defaults to seed and the one resolution rule: a member holds every
//! permission granted directly, plus everything those contain, recursively.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The id of a team permission, e.g. `$manage_api_keys` or `team_admin`.
///
/// Validation follows upstream's `permissionDefinitionIdSchema`: one or more of `[a-z0-9_:]`,
/// optionally preceded by `$`. A leading `$` marks a **system** permission, and only the six
/// ids of [`SystemPermission`] may carry it; every other id is a **custom** permission that a
/// project defines (the defaults `team_admin` and `team_member` are custom ones).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PermissionId(String);

/// Why a string is not a [`PermissionId`]. The messages are upstream's schema messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPermissionId {
    /// Empty, or a character outside `[a-z0-9_:]` (after an optional leading `$`).
    #[error("Only lowercase letters, numbers, \":\", \"_\" and optional \"$\" at the beginning are allowed")]
    Malformed,
    /// Starts with `$` but is not one of the system permissions.
    #[error("Invalid system permission")]
    UnknownSystemPermission,
}

impl PermissionId {
    /// Validates `id` (see the type's documentation).
    pub fn parse(id: &str) -> Result<Self, InvalidPermissionId> {
        let body = id.strip_prefix('$').unwrap_or(id);
        let well_formed = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':');
        if !well_formed {
            return Err(InvalidPermissionId::Malformed);
        }
        if id.starts_with('$') && SystemPermission::from_id(id).is_none() {
            return Err(InvalidPermissionId::UnknownSystemPermission);
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as written on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The system permission this id names, if it is one.
    pub fn system(&self) -> Option<SystemPermission> {
        SystemPermission::from_id(&self.0)
    }
}

impl FromStr for PermissionId {
    type Err = InvalidPermissionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PermissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PermissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PermissionId({})", self.0)
    }
}

impl AsRef<str> for PermissionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for PermissionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<SystemPermission> for PermissionId {
    fn from(permission: SystemPermission) -> Self {
        Self(permission.id().to_owned())
    }
}

/// The built-in team permissions. They exist in every project, cannot be redefined and
/// contain nothing; the endpoints check them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SystemPermission {
    /// `$update_team`: needed by a client to update a team.
    UpdateTeam,
    /// `$delete_team`: needed by a client to delete a team.
    DeleteTeam,
    /// `$read_members`: read and list the other members.
    ReadMembers,
    /// `$remove_members`: needed by a client to remove another member.
    RemoveMembers,
    /// `$invite_members`: invite other users.
    InviteMembers,
    /// `$manage_api_keys`: needed by a client for every operation on the team's API keys.
    ManageApiKeys,
}

impl SystemPermission {
    /// All six, in upstream's order.
    pub const ALL: [SystemPermission; 6] = [
        SystemPermission::UpdateTeam,
        SystemPermission::DeleteTeam,
        SystemPermission::ReadMembers,
        SystemPermission::RemoveMembers,
        SystemPermission::InviteMembers,
        SystemPermission::ManageApiKeys,
    ];

    /// The id, with its leading `$`.
    pub const fn id(self) -> &'static str {
        match self {
            SystemPermission::UpdateTeam => "$update_team",
            SystemPermission::DeleteTeam => "$delete_team",
            SystemPermission::ReadMembers => "$read_members",
            SystemPermission::RemoveMembers => "$remove_members",
            SystemPermission::InviteMembers => "$invite_members",
            SystemPermission::ManageApiKeys => "$manage_api_keys",
        }
    }

    /// Upstream's description of the permission, shown when definitions are listed.
    pub const fn description(self) -> &'static str {
        match self {
            SystemPermission::UpdateTeam => "Update the team information",
            SystemPermission::DeleteTeam => "Delete the team",
            SystemPermission::ReadMembers => "Read and list the other members of the team",
            SystemPermission::RemoveMembers => "Remove other members from the team",
            SystemPermission::InviteMembers => "Invite other users to the team",
            SystemPermission::ManageApiKeys => "Create and manage API keys for the team",
        }
    }

    /// The system permission with this id (`$` included), if any.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// Its definition: the description and no contained permissions.
    pub fn definition(self) -> PermissionDefinition {
        PermissionDefinition {
            id: self.into(),
            description: Some(self.description().to_owned()),
            contained_permission_ids: BTreeSet::new(),
        }
    }
}

impl fmt::Display for SystemPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl AsRef<str> for SystemPermission {
    fn as_ref(&self) -> &str {
        self.id()
    }
}

/// A team permission definition: holding `id` means holding every contained permission too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionDefinition {
    /// The permission being defined.
    pub id: PermissionId,
    /// Human-readable description; optional, as upstream.
    pub description: Option<String>,
    /// The permissions that holding this one implies (system or custom). Ids that are not
    /// defined contribute nothing when resolving.
    pub contained_permission_ids: BTreeSet<PermissionId>,
}

/// Id of the default team-creator permission (contains all six system permissions).
pub const TEAM_ADMIN: &str = "team_admin";
/// Id of the default team-member permission (`$read_members`, `$invite_members`).
pub const TEAM_MEMBER: &str = "team_member";

/// The custom definitions every new project starts with, to be seeded by storage:
/// `team_admin` (all six system permissions) and `team_member` (`$read_members`,
/// `$invite_members`), with upstream's descriptions.
pub fn default_team_definitions() -> [PermissionDefinition; 2] {
    let with = |permissions: &[SystemPermission]| {
        permissions
            .iter()
            .map(|&p| PermissionId::from(p))
            .collect::<BTreeSet<_>>()
    };
    [
        PermissionDefinition {
            id: PermissionId(TEAM_ADMIN.to_owned()),
            description: Some("Default permission for team admins".to_owned()),
            contained_permission_ids: with(&SystemPermission::ALL),
        },
        PermissionDefinition {
            id: PermissionId(TEAM_MEMBER.to_owned()),
            description: Some("Default permission for team members".to_owned()),
            contained_permission_ids: with(&[
                SystemPermission::ReadMembers,
                SystemPermission::InviteMembers,
            ]),
        },
    ]
}

/// How a user joined a team, which decides the permissions granted directly on joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MembershipKind {
    /// Created the team (`creator_user_id` of `POST /teams`): `rbac.defaultPermissions.teamCreator`.
    Creator,
    /// Added later (`POST /team-memberships/{team}/{user}`): `rbac.defaultPermissions.teamMember`.
    Member,
}

impl MembershipKind {
    /// The permissions granted directly when joining this way: `team_admin` for the creator,
    /// `team_member` for a member. (keygate's projects do not change these defaults yet.)
    pub fn default_grants(self) -> Vec<PermissionId> {
        let id = match self {
            MembershipKind::Creator => TEAM_ADMIN,
            MembershipKind::Member => TEAM_MEMBER,
        };
        vec![PermissionId(id.to_owned())]
    }
}

/// A definition cannot be added to a catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// System permissions are built in; a project cannot define or redefine them.
    #[error("{0} is a system permission and cannot be defined")]
    SystemPermission(PermissionId),
}

/// The team permission definitions of one project: the six system permissions plus the
/// project's custom definitions. Containment may form cycles (storage does not prevent them);
/// resolution is cycle-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionCatalogue {
    definitions: BTreeMap<PermissionId, PermissionDefinition>,
}

impl PermissionCatalogue {
    /// The system permissions only, no custom definitions.
    pub fn system_only() -> Self {
        Self {
            definitions: SystemPermission::ALL
                .into_iter()
                .map(|p| (p.into(), p.definition()))
                .collect(),
        }
    }

    /// The catalogue of a new project: system permissions plus
    /// [`default_team_definitions`].
    pub fn with_defaults() -> Self {
        let mut catalogue = Self::system_only();
        for definition in default_team_definitions() {
            catalogue
                .definitions
                .insert(definition.id.clone(), definition);
        }
        catalogue
    }

    /// Adds a custom definition, replacing (and returning) an earlier one with the same id.
    /// Contained ids need not be defined yet, so definitions can be loaded in any order.
    pub fn define(
        &mut self,
        definition: PermissionDefinition,
    ) -> Result<Option<PermissionDefinition>, DefinitionError> {
        if definition.id.system().is_some() {
            return Err(DefinitionError::SystemPermission(definition.id));
        }
        Ok(self.definitions.insert(definition.id.clone(), definition))
    }

    /// Whether `id` is defined (system or custom). Granting an undefined id is upstream's
    /// `PERMISSION_NOT_FOUND`.
    pub fn is_defined(&self, id: &str) -> bool {
        self.definitions.contains_key(id)
    }

    /// The definition of `id`, if defined.
    pub fn definition(&self, id: &str) -> Option<&PermissionDefinition> {
        self.definitions.get(id)
    }

    /// Every definition, system ones included, sorted by id.
    pub fn definitions(&self) -> impl Iterator<Item = &PermissionDefinition> {
        self.definitions.values()
    }

    /// What a member holds given the ids granted to them directly.
    ///
    /// Granted or contained ids that are not defined are ignored: a permission that does not
    /// exist (for example, whose definition was deleted) grants nothing. Cycles in containment
    /// are harmless: each permission is expanded once.
    pub fn resolve<I>(&self, granted: I) -> EffectivePermissions
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let direct: BTreeSet<PermissionId> = granted
            .into_iter()
            .filter_map(|id| self.definitions.get_key_value(id.as_ref()))
            .map(|(id, _)| id.clone())
            .collect();

        let mut all = BTreeSet::new();
        let mut to_expand: Vec<&PermissionId> = direct.iter().collect();
        while let Some(id) = to_expand.pop() {
            let Some((known_id, definition)) = self.definitions.get_key_value(id.as_str()) else {
                continue;
            };
            if all.insert(known_id.clone()) {
                to_expand.extend(definition.contained_permission_ids.iter());
            }
        }
        EffectivePermissions { direct, all }
    }
}

impl Default for PermissionCatalogue {
    /// Same as [`PermissionCatalogue::with_defaults`].
    fn default() -> Self {
        Self::with_defaults()
    }
}

/// The team permissions one member holds in one team, resolved by
/// [`PermissionCatalogue::resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectivePermissions {
    direct: BTreeSet<PermissionId>,
    all: BTreeSet<PermissionId>,
}

impl EffectivePermissions {
    /// Whether the member holds `permission`, directly or through containment (upstream's
    /// `recursive: true`, used by every permission check).
    pub fn holds(&self, permission: impl AsRef<str>) -> bool {
        self.all.contains(permission.as_ref())
    }

    /// The defined permissions granted directly, sorted by id (the list answer with
    /// `recursive=false`).
    pub fn direct(&self) -> impl Iterator<Item = &PermissionId> {
        self.direct.iter()
    }

    /// Every permission held, sorted by id (the list answer with `recursive=true`).
    pub fn all(&self) -> impl Iterator<Item = &PermissionId> {
        self.all.iter()
    }
}

/// The session user's standing in one team, loaded by the HTTP layer before asking for a
/// decision that depends on it (see `team_standing_needed` on the action types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamStanding {
    /// Not a member of the team, or the team does not exist (the two are not told apart, so
    /// that a team's existence does not leak).
    NotMember,
    /// A member, holding these permissions.
    Member(EffectivePermissions),
}

impl TeamStanding {
    /// Whether the user is a member holding `permission` (recursively).
    pub fn holds(&self, permission: impl AsRef<str>) -> bool {
        match self {
            TeamStanding::NotMember => false,
            TeamStanding::Member(permissions) => permissions.holds(permission),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PermissionId {
        PermissionId::parse(s).unwrap()
    }

    fn custom(name: &str, contained: &[&str]) -> PermissionDefinition {
        PermissionDefinition {
            id: id(name),
            description: None,
            contained_permission_ids: contained.iter().map(|c| id(c)).collect(),
        }
    }

    fn ids<'a>(iter: impl Iterator<Item = &'a PermissionId>) -> Vec<&'a str> {
        iter.map(PermissionId::as_str).collect()
    }

    #[test]
    fn permission_ids_follow_upstreams_schema() {
        for good in [
            "team_admin",
            "a",
            "read:secret_info",
            "x1_2:3",
            "$manage_api_keys",
        ] {
            assert_eq!(
                PermissionId::parse(good).map(|p| p.to_string()),
                Ok(good.to_owned())
            );
        }
        for malformed in [
            "",
            "$",
            "Team",
            "team-admin",
            "a b",
            "$$update_team",
            "é",
            "a$",
        ] {
            assert_eq!(
                PermissionId::parse(malformed),
                Err(InvalidPermissionId::Malformed),
                "{malformed:?}"
            );
        }
        for unknown in ["$team_admin", "$manage_api_key", "$custom"] {
            assert_eq!(
                PermissionId::parse(unknown),
                Err(InvalidPermissionId::UnknownSystemPermission),
                "{unknown:?}"
            );
        }
    }

    #[test]
    fn system_permissions_round_trip_and_have_descriptions() {
        assert_eq!(SystemPermission::ALL.len(), 6);
        for p in SystemPermission::ALL {
            let parsed = id(p.id());
            assert_eq!(parsed.system(), Some(p));
            assert!(p.id().starts_with('$'));
            assert!(!p.description().is_empty());
        }
        assert_eq!(
            SystemPermission::ManageApiKeys.description(),
            "Create and manage API keys for the team"
        );
        assert_eq!(id(TEAM_ADMIN).system(), None);
    }

    #[test]
    fn defaults_match_upstream() {
        let [admin, member] = default_team_definitions();
        assert_eq!(admin.id.as_str(), TEAM_ADMIN);
        assert_eq!(
            ids(admin.contained_permission_ids.iter()),
            [
                "$delete_team",
                "$invite_members",
                "$manage_api_keys",
                "$read_members",
                "$remove_members",
                "$update_team"
            ]
        );
        assert_eq!(member.id.as_str(), TEAM_MEMBER);
        assert_eq!(
            ids(member.contained_permission_ids.iter()),
            ["$invite_members", "$read_members"]
        );
        assert_eq!(
            MembershipKind::Creator.default_grants(),
            vec![id(TEAM_ADMIN)]
        );
        assert_eq!(
            MembershipKind::Member.default_grants(),
            vec![id(TEAM_MEMBER)]
        );
    }

    #[test]
    fn creator_can_manage_api_keys_by_default_and_a_member_cannot() {
        let catalogue = PermissionCatalogue::with_defaults();
        let creator = catalogue.resolve(MembershipKind::Creator.default_grants());
        let member = catalogue.resolve(MembershipKind::Member.default_grants());
        assert!(creator.holds(SystemPermission::ManageApiKeys));
        for p in SystemPermission::ALL {
            assert!(creator.holds(p), "{p}");
        }
        assert!(!member.holds(SystemPermission::ManageApiKeys));
        assert!(member.holds(SystemPermission::ReadMembers));
        assert!(member.holds(SystemPermission::InviteMembers));
        assert!(!member.holds(SystemPermission::RemoveMembers));
    }

    #[test]
    fn catalogue_lists_system_and_default_definitions_sorted() {
        let catalogue = PermissionCatalogue::default();
        assert_eq!(
            ids(catalogue.definitions().map(|d| &d.id)),
            [
                "$delete_team",
                "$invite_members",
                "$manage_api_keys",
                "$read_members",
                "$remove_members",
                "$update_team",
                "team_admin",
                "team_member"
            ]
        );
        assert!(PermissionCatalogue::system_only()
            .definition(TEAM_ADMIN)
            .is_none());
        assert!(PermissionCatalogue::system_only().is_defined("$update_team"));
        assert_eq!(
            catalogue
                .definition("$delete_team")
                .and_then(|d| d.description.as_deref()),
            Some("Delete the team")
        );
    }

    #[test]
    fn system_permissions_cannot_be_defined() {
        let mut catalogue = PermissionCatalogue::system_only();
        let redefinition = custom("$read_members", &["$manage_api_keys"]);
        assert_eq!(
            catalogue.define(redefinition),
            Err(DefinitionError::SystemPermission(id("$read_members")))
        );
        let member = catalogue.resolve(["$read_members"]);
        assert!(!member.holds(SystemPermission::ManageApiKeys));
    }

    #[test]
    fn defining_again_replaces_the_definition() {
        let mut catalogue = PermissionCatalogue::system_only();
        assert_eq!(
            catalogue.define(custom("keys", &["$manage_api_keys"])),
            Ok(None)
        );
        let replaced = catalogue
            .define(custom("keys", &["$read_members"]))
            .unwrap();
        assert_eq!(replaced, Some(custom("keys", &["$manage_api_keys"])));
        let held = catalogue.resolve(["keys"]);
        assert!(!held.holds(SystemPermission::ManageApiKeys));
        assert!(held.holds(SystemPermission::ReadMembers));
    }

    #[test]
    fn resolution_is_recursive_through_nested_definitions() {
        let mut catalogue = PermissionCatalogue::with_defaults();
        catalogue
            .define(custom("key_admin", &["$manage_api_keys"]))
            .unwrap();
        catalogue
            .define(custom("billing:admin", &["key_admin", "$read_members"]))
            .unwrap();
        catalogue
            .define(custom("owner", &["billing:admin"]))
            .unwrap();

        let held = catalogue.resolve(["owner"]);
        assert_eq!(
            ids(held.all()),
            [
                "$manage_api_keys",
                "$read_members",
                "billing:admin",
                "key_admin",
                "owner"
            ]
        );
        assert_eq!(ids(held.direct()), ["owner"]);
        assert!(held.holds("key_admin"));
        assert!(!held.holds(SystemPermission::UpdateTeam));
    }

    #[test]
    fn resolution_survives_cycles() {
        let mut catalogue = PermissionCatalogue::system_only();
        catalogue.define(custom("a", &["b"])).unwrap();
        catalogue
            .define(custom("b", &["c", "$invite_members"]))
            .unwrap();
        catalogue
            .define(custom("c", &["a", "$manage_api_keys"]))
            .unwrap();
        catalogue
            .define(custom("self_loop", &["self_loop"]))
            .unwrap();

        let from_b = catalogue.resolve(["b"]);
        assert_eq!(
            ids(from_b.all()),
            ["$invite_members", "$manage_api_keys", "a", "b", "c"]
        );
        let looped = catalogue.resolve(["self_loop"]);
        assert_eq!(ids(looped.all()), ["self_loop"]);
    }

    #[test]
    fn unknown_ids_grant_nothing() {
        let mut catalogue = PermissionCatalogue::system_only();
        catalogue
            .define(custom("dangling", &["deleted_permission", "$read_members"]))
            .unwrap();

        let held = catalogue.resolve([
            "deleted_permission",
            "dangling",
            "$not_a_permission",
            "BAD ID",
        ]);
        assert_eq!(ids(held.direct()), ["dangling"]);
        assert_eq!(ids(held.all()), ["$read_members", "dangling"]);
        assert!(!held.holds("deleted_permission"));

        let nothing = catalogue.resolve(Vec::<String>::new());
        assert_eq!(nothing, EffectivePermissions::default());
        assert!(!nothing.holds(SystemPermission::ReadMembers));
    }

    #[test]
    fn duplicate_and_overlapping_grants_are_counted_once() {
        let catalogue = PermissionCatalogue::with_defaults();
        let held = catalogue.resolve(["team_admin", "team_member", "$read_members", "team_admin"]);
        assert_eq!(
            ids(held.direct()),
            ["$read_members", "team_admin", "team_member"]
        );
        assert_eq!(held.all().count(), 8);
    }

    #[test]
    fn standing_holds_only_for_members() {
        let catalogue = PermissionCatalogue::with_defaults();
        let admin = TeamStanding::Member(catalogue.resolve([TEAM_ADMIN]));
        assert!(admin.holds(SystemPermission::ManageApiKeys));
        assert!(!TeamStanding::NotMember.holds(SystemPermission::ManageApiKeys));
        assert!(!TeamStanding::Member(EffectivePermissions::default()).holds("$read_members"));
    }
}
