//! Who is calling: the access type of the request and the session user if there is one.
//!
//! The `"me"` shorthand for the session user is resolved by the HTTP layer while it validates
//! the request (as upstream does in its schema), so every decision here sees user ids only.

use std::fmt;
use std::str::FromStr;

use keygate_domain::{TeamId, UserId};

/// The `x-stack-access-type` of a request: which project credential it was made with.
///
/// Ordered by power: `Client < Server < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessType {
    /// A publishable client key: code running in a user's browser or app, acting for the
    /// session user only.
    Client,
    /// A secret server key: the project's own backend; trusted with every user and team.
    Server,
    /// A super-secret admin key: manages the project itself.
    Admin,
}

impl AccessType {
    /// Every access type, in order of power.
    pub const ALL: [AccessType; 3] = [AccessType::Client, AccessType::Server, AccessType::Admin];

    /// `"client"`, `"server"` or `"admin"`, as in the header and in error details.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccessType::Client => "client",
            AccessType::Server => "server",
            AccessType::Admin => "admin",
        }
    }
}

impl fmt::Display for AccessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header value that is not exactly `client`, `server` or `admin` (upstream answers
/// `INVALID_ACCESS_TYPE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access type must be \"client\", \"server\" or \"admin\"")]
pub struct InvalidAccessType;

impl FromStr for AccessType {
    type Err = InvalidAccessType;

    /// Exact, lowercase match only, as upstream's header schema.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client" => Ok(AccessType::Client),
            "server" => Ok(AccessType::Server),
            "admin" => Ok(AccessType::Admin),
            _ => Err(InvalidAccessType),
        }
    }
}

/// The authenticated caller of one request, as established by the HTTP layer (project
/// credential checked, access token verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The access type the project credential grants.
    pub access_type: AccessType,
    /// The user of the `x-stack-access-token`, if a valid one was sent. Server and admin
    /// requests may carry one too; it is what `"me"` refers to.
    pub session_user: Option<UserId>,
}

impl Caller {
    /// A caller with this access type and, optionally, a session user.
    pub const fn new(access_type: AccessType, session_user: Option<UserId>) -> Self {
        Self {
            access_type,
            session_user,
        }
    }

    /// The (team, session user) pair whose [`TeamStanding`](crate::TeamStanding) a decision
    /// about `team` needs: only client callers with a session are checked against their
    /// standing. `None` means no standing needs loading.
    pub(crate) fn standing_needed_in(&self, team: Option<TeamId>) -> Option<(TeamId, UserId)> {
        match (self.access_type, self.session_user, team) {
            (AccessType::Client, Some(user), Some(team)) => Some((team, user)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_type_round_trips_exactly() {
        for access in AccessType::ALL {
            assert_eq!(access.as_str().parse::<AccessType>(), Ok(access));
            assert_eq!(access.to_string(), access.as_str());
        }
        for bad in ["Client", "SERVER", "", "root", " admin"] {
            assert_eq!(bad.parse::<AccessType>(), Err(InvalidAccessType), "{bad:?}");
        }
    }

    #[test]
    fn access_types_are_ordered_by_power() {
        assert!(AccessType::Client < AccessType::Server);
        assert!(AccessType::Server < AccessType::Admin);
    }

    #[test]
    fn standing_is_needed_only_for_client_sessions_about_a_team() {
        let user = UserId::new_random();
        let team = TeamId::new_random();
        assert_eq!(
            Caller::new(AccessType::Client, Some(user)).standing_needed_in(Some(team)),
            Some((team, user))
        );
        assert_eq!(
            Caller::new(AccessType::Client, Some(user)).standing_needed_in(None),
            None
        );
        assert_eq!(
            Caller::new(AccessType::Client, None).standing_needed_in(Some(team)),
            None
        );
        for access in [AccessType::Server, AccessType::Admin] {
            assert_eq!(
                Caller::new(access, Some(user)).standing_needed_in(Some(team)),
                None
            );
        }
    }
}
