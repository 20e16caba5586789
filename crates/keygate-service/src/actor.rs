//! [`Actor`]: who acts, and in which project — the input every project-scoped use case starts
//! from. The HTTP layer builds it from an authenticated request; use cases hand it to the
//! permission decisions.

use keygate_domain::{ProjectId, RateLimit, UserId};
use keygate_permissions::{Caller, ProjectSwitches};

use crate::audit::RequestOrigin;

/// An authenticated caller of one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The project the caller authenticated to.
    pub project: ProjectId,
    /// That project's switches, as read when the caller authenticated.
    pub switches: ProjectSwitches,
    /// The rate limit that project gives keys created without one (`config.api_key_rate_limit`),
    /// as read when the caller authenticated.
    pub default_rate_limit: Option<RateLimit>,
    /// The access type and session user, as the permission decisions see them.
    pub caller: Caller,
    /// Where the request came from, for the audit log.
    pub origin: RequestOrigin,
}

impl Actor {
    /// The session user, if the caller has one.
    pub fn session_user(&self) -> Option<UserId> {
        self.caller.session_user
    }
}
