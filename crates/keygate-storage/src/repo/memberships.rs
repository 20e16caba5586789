//! Team memberships, and what a member chose to be called and shown as in the team (their
//! profile there). Removing a member removes their permission grants in that team.

use diesel::prelude::*;
use keygate_domain::{EpochMillis, ProjectId, TeamId, UserId};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::team_memberships;
use crate::stored::parse_id;

/// A user's membership in a team (both of the same project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    /// The project of the team and the user.
    pub project_id: ProjectId,
    /// The team.
    pub team_id: TeamId,
    /// The member.
    pub user_id: UserId,
    /// When they joined.
    pub created_at_millis: EpochMillis,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = team_memberships)]
struct MembershipRow {
    project_id: String,
    team_id: String,
    user_id: String,
    created_at_millis: i64,
}

impl From<&MembershipRecord> for MembershipRow {
    fn from(membership: &MembershipRecord) -> Self {
        MembershipRow {
            project_id: membership.project_id.to_string(),
            team_id: membership.team_id.to_string(),
            user_id: membership.user_id.to_string(),
            created_at_millis: membership.created_at_millis,
        }
    }
}

impl TryFrom<MembershipRow> for MembershipRecord {
    type Error = StorageError;

    fn try_from(row: MembershipRow) -> Result<Self, StorageError> {
        Ok(MembershipRecord {
            project_id: parse_id("team_memberships.project_id", &row.project_id)?,
            team_id: parse_id("team_memberships.team_id", &row.team_id)?,
            user_id: parse_id("team_memberships.user_id", &row.user_id)?,
            created_at_millis: row.created_at_millis,
        })
    }
}

/// The row of `user`'s membership in `team`, matched by project too.
fn membership_row(
    project: ProjectId,
    team: TeamId,
    user: UserId,
) -> diesel::dsl::Filter<TeamRows, diesel::dsl::Eq<team_memberships::user_id, String>> {
    team_rows(project, team).filter(team_memberships::user_id.eq(user.to_string()))
}

/// What [`team_rows`] returns.
pub(crate) type TeamRows = diesel::dsl::Filter<
    diesel::dsl::Filter<
        team_memberships::table,
        diesel::dsl::Eq<team_memberships::project_id, String>,
    >,
    diesel::dsl::Eq<team_memberships::team_id, String>,
>;

/// The memberships of `team`, matched by project too.
pub(crate) fn team_rows(project: ProjectId, team: TeamId) -> TeamRows {
    team_memberships::table
        .filter(team_memberships::project_id.eq(project.to_string()))
        .filter(team_memberships::team_id.eq(team.to_string()))
}

/// What a member chose to be called, and shown as, in one team (upstream's team member
/// profile); `None` where they chose nothing, and readers show the user's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberProfile {
    /// Their name in the team.
    pub display_name: Option<String>,
    /// URL of their picture in the team.
    pub profile_image_url: Option<String>,
}

/// Changes to a [`MemberProfile`]: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberProfileUpdate {
    /// A new name, or none.
    pub display_name: Option<Option<String>>,
    /// A new picture, or none.
    pub profile_image_url: Option<Option<String>>,
}

#[derive(AsChangeset)]
#[diesel(table_name = team_memberships)]
struct MemberProfileChanges<'a> {
    display_name: Option<Option<&'a str>>,
    profile_image_url: Option<Option<&'a str>>,
}

/// The members of `team` with their profiles there, in the order they joined.
pub fn list_profiles_for_team(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
) -> Result<Vec<(UserId, MemberProfile)>, StorageError> {
    team_rows(project, team)
        .order((
            team_memberships::created_at_millis.asc(),
            team_memberships::user_id.asc(),
        ))
        .select((
            team_memberships::user_id,
            team_memberships::display_name,
            team_memberships::profile_image_url,
        ))
        .load::<(String, Option<String>, Option<String>)>(conn)?
        .into_iter()
        .map(|(user_id, display_name, profile_image_url)| {
            Ok((
                parse_id("team_memberships.user_id", &user_id)?,
                MemberProfile {
                    display_name,
                    profile_image_url,
                },
            ))
        })
        .collect()
}

/// Applies `update` to `user`'s profile in `team` and returns the profile afterwards; `None`
/// when the user is not a member.
pub fn update_profile(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: UserId,
    update: &MemberProfileUpdate,
) -> Result<Option<MemberProfile>, StorageError> {
    if update.display_name.is_some() || update.profile_image_url.is_some() {
        let changed = diesel::update(membership_row(project, team, user))
            .set(MemberProfileChanges {
                display_name: update.display_name.as_ref().map(Option::as_deref),
                profile_image_url: update.profile_image_url.as_ref().map(Option::as_deref),
            })
            .execute(conn)?;
        if changed == 0 {
            return Ok(None);
        }
    }
    profile(conn, project, team, user)
}

/// `user`'s profile in `team`; `None` when the user is not a member.
pub fn profile(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: UserId,
) -> Result<Option<MemberProfile>, StorageError> {
    Ok(membership_row(project, team, user)
        .select((
            team_memberships::display_name,
            team_memberships::profile_image_url,
        ))
        .get_result::<(Option<String>, Option<String>)>(conn)
        .optional()?
        .map(|(display_name, profile_image_url)| MemberProfile {
            display_name,
            profile_image_url,
        }))
}

/// Adds the user to the team. Already a member: [`StorageError::AlreadyExists`] (409
/// `TEAM_MEMBERSHIP_ALREADY_EXISTS`). A team or user that is not in the project:
/// [`StorageError::ForeignKeyViolation`].
pub fn insert(conn: &mut DbConnection, membership: &MembershipRecord) -> Result<(), StorageError> {
    diesel::insert_into(team_memberships::table)
        .values(MembershipRow::from(membership))
        .execute(conn)?;
    Ok(())
}

/// Removes the user from the team, with their grants there; [`StorageError::NotFound`] if they
/// were not a member.
pub fn delete(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: UserId,
) -> Result<(), StorageError> {
    let deleted = diesel::delete(membership_row(project, team, user)).execute(conn)?;
    if deleted == 0 {
        return Err(StorageError::NotFound {
            entity: "team membership",
        });
    }
    Ok(())
}

/// Whether the user is a member of the team.
pub fn exists(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: UserId,
) -> Result<bool, StorageError> {
    let membership = membership_row(project, team, user);
    Ok(diesel::select(diesel::dsl::exists(membership)).get_result(conn)?)
}

/// How many teams of the project the user is a member of.
pub fn count_for_user(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserId,
) -> Result<u64, StorageError> {
    let count: i64 = team_memberships::table
        .filter(team_memberships::project_id.eq(project.to_string()))
        .filter(team_memberships::user_id.eq(user.to_string()))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The members of the team, earliest first (ties by user id).
pub fn list_for_team(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
) -> Result<Vec<MembershipRecord>, StorageError> {
    team_rows(project, team)
        .order((
            team_memberships::created_at_millis.asc(),
            team_memberships::user_id.asc(),
        ))
        .select(MembershipRow::as_select())
        .load(conn)?
        .into_iter()
        .map(MembershipRecord::try_from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::team_permissions::{
        self, GrantFilter, GrantRecord, PermissionDefinitionRecord,
    };
    use crate::testing::{insert_project, insert_team, insert_user};

    fn membership(project: ProjectId, team: TeamId, user: UserId, at: i64) -> MembershipRecord {
        MembershipRecord {
            project_id: project,
            team_id: team,
            user_id: user,
            created_at_millis: at,
        }
    }

    crate::backend_tests! {
        fn a_members_profile_is_set_cleared_and_listed_in_join_order(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project).id;
            let (first, second, outsider) = (
                insert_user(&mut conn, project).id,
                insert_user(&mut conn, project).id,
                insert_user(&mut conn, project).id,
            );
            insert(&mut conn, &membership(project, team, second, 2)).unwrap();
            insert(&mut conn, &membership(project, team, first, 1)).unwrap();
            assert_eq!(profile(&mut conn, project, team, first).unwrap(), Some(MemberProfile::default()));

            let set = MemberProfileUpdate {
                display_name: Some(Some("Ada".to_owned())),
                profile_image_url: Some(Some("https://example.com/a.png".to_owned())),
            };
            let after = update_profile(&mut conn, project, team, first, &set).unwrap().unwrap();
            assert_eq!(after.display_name.as_deref(), Some("Ada"));
            let clear_name = MemberProfileUpdate { display_name: Some(None), profile_image_url: None };
            let after = update_profile(&mut conn, project, team, first, &clear_name).unwrap().unwrap();
            assert_eq!(after, MemberProfile { display_name: None, profile_image_url: Some("https://example.com/a.png".to_owned()) });
            assert_eq!(update_profile(&mut conn, project, team, outsider, &set).unwrap(), None);
            assert_eq!(update_profile(&mut conn, project, team, outsider, &MemberProfileUpdate::default()).unwrap(), None);

            let listed = list_profiles_for_team(&mut conn, project, team).unwrap();
            assert_eq!(listed, vec![(first, after), (second, MemberProfile::default())]);
        }

        fn inserts_lists_and_checks_members(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project).id;
            let other_team = insert_team(&mut conn, project).id;
            let late = membership(project, team, insert_user(&mut conn, project).id, 9);
            let early = membership(project, team, insert_user(&mut conn, project).id, 3);
            insert(&mut conn, &late).unwrap();
            insert(&mut conn, &early).unwrap();

            assert_eq!(list_for_team(&mut conn, project, team).unwrap(), vec![early.clone(), late]);
            assert!(list_for_team(&mut conn, project, other_team).unwrap().is_empty());
            assert!(exists(&mut conn, project, team, early.user_id).unwrap());
            assert!(!exists(&mut conn, project, other_team, early.user_id).unwrap());
            let other_project = insert_project(&mut conn).id;
            assert!(!exists(&mut conn, other_project, team, early.user_id).unwrap());
        }

        fn adding_a_member_twice_is_already_exists(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project).id;
            let user = insert_user(&mut conn, project).id;
            insert(&mut conn, &membership(project, team, user, 1)).unwrap();
            let error = insert(&mut conn, &membership(project, team, user, 2)).unwrap_err();
            assert!(matches!(error, StorageError::AlreadyExists { .. }), "{error:?}");
        }

        fn members_and_teams_of_other_projects_are_rejected(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project).id;
            let user = insert_user(&mut conn, project).id;
            let foreign_team = insert_team(&mut conn, other_project).id;
            let foreign_user = insert_user(&mut conn, other_project).id;
            for candidate in [
                membership(project, team, foreign_user, 1),
                membership(project, foreign_team, user, 1),
                membership(other_project, team, user, 1),
                membership(project, team, UserId::new_random(), 1),
            ] {
                let error = insert(&mut conn, &candidate).unwrap_err();
                assert!(matches!(error, StorageError::ForeignKeyViolation { .. }), "{error:?}");
            }
        }

        fn removing_a_member_removes_their_grants(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project).id;
            let user = insert_user(&mut conn, project).id;
            insert(&mut conn, &membership(project, team, user, 1)).unwrap();
            team_permissions::insert_definition(&mut conn, &PermissionDefinitionRecord {
                project_id: project,
                id: "team_member".to_owned(),
                description: "Member".to_owned(),
                is_system: false,
                contained_permission_ids: vec![],
            })
            .unwrap();
            let grant = GrantRecord {
                project_id: project,
                team_id: team,
                user_id: user,
                permission_id: "team_member".to_owned(),
            };
            team_permissions::grant(&mut conn, &grant).unwrap();

            delete(&mut conn, project, team, user).unwrap();

            assert!(!exists(&mut conn, project, team, user).unwrap());
            let grants =
                team_permissions::list_grants(&mut conn, project, &GrantFilter::default()).unwrap();
            assert!(grants.is_empty());
            // Both still exist; only the membership and its grants are gone.
            assert!(crate::repo::users::exists(&mut conn, project, user).unwrap());
            assert!(crate::repo::teams::get(&mut conn, project, team).unwrap().is_some());
            // Re-adding starts without grants.
            insert(&mut conn, &membership(project, team, user, 2)).unwrap();
            assert!(team_permissions::list_grants(&mut conn, project, &GrantFilter::default())
                .unwrap()
                .is_empty());
        }

        fn removing_a_non_member_is_not_found(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project).id;
            let user = insert_user(&mut conn, project).id;
            assert!(matches!(
                delete(&mut conn, project, team, user),
                Err(StorageError::NotFound { entity: "team membership" })
            ));
        }
    }
}
