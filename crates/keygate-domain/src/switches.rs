//! A project's switches: which kinds of API key it enables and whether clients may create teams.
//!
//! **Key decision:** one type for the switches everywhere — storage keeps them as the project's
//! config (one column per field), permission decisions read them, the HTTP layer shows them as
//! the `config` object — so a new switch is added in one place and never copied field by field.

use crate::owner::KeyType;

/// The parts of a project's configuration that gate endpoints (the `config` object of the
/// projects API). All default to `false`, as a project created without a `config` (A3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProjectSwitches {
    /// User API keys are enabled (upstream `apiKeys.enabled.user` / `allow_user_api_keys`).
    pub allow_user_api_keys: bool,
    /// Team API keys are enabled (upstream `apiKeys.enabled.team` / `allow_team_api_keys`).
    pub allow_team_api_keys: bool,
    /// Clients may create teams (upstream `teams.allowClientTeamCreation` /
    /// `client_team_creation_enabled`).
    pub client_team_creation_enabled: bool,
}

impl ProjectSwitches {
    /// Whether API keys of this type are enabled.
    pub const fn api_keys_enabled(&self, key_type: KeyType) -> bool {
        match key_type {
            KeyType::User => self.allow_user_api_keys,
            KeyType::Team => self.allow_team_api_keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_off_by_default() {
        let switches = ProjectSwitches::default();
        assert!(!switches.api_keys_enabled(KeyType::User));
        assert!(!switches.api_keys_enabled(KeyType::Team));
        assert!(!switches.client_team_creation_enabled);
    }

    #[test]
    fn each_key_type_has_its_own_switch() {
        let users_only = ProjectSwitches {
            allow_user_api_keys: true,
            ..ProjectSwitches::default()
        };
        assert!(users_only.api_keys_enabled(KeyType::User));
        assert!(!users_only.api_keys_enabled(KeyType::Team));

        let teams_only = ProjectSwitches {
            allow_team_api_keys: true,
            ..ProjectSwitches::default()
        };
        assert!(!teams_only.api_keys_enabled(KeyType::User));
        assert!(teams_only.api_keys_enabled(KeyType::Team));
    }
}
