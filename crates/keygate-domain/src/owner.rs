//! Who owns an API key: a user or a team, never both.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{TeamId, UserId};

/// The owner of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A user key: authenticates as this user.
    User(UserId),
    /// A team key: authenticates as this team.
    Team(TeamId),
}

impl Owner {
    /// The key type that belongs to this owner.
    pub fn key_type(&self) -> KeyType {
        match self {
            Owner::User(_) => KeyType::User,
            Owner::Team(_) => KeyType::Team,
        }
    }
}

/// The two kinds of API key; on the wire `"user"` and `"team"`, and the 4-letter type field of
/// the key format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Owned by a user.
    User,
    /// Owned by a team.
    Team,
}

impl KeyType {
    /// `"user"` or `"team"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            KeyType::User => "user",
            KeyType::Team => "team",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is neither `"user"` nor `"team"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key type must be \"user\" or \"team\"")]
pub struct InvalidKeyType;

impl FromStr for KeyType {
    type Err = InvalidKeyType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(KeyType::User),
            "team" => Ok(KeyType::Team),
            _ => Err(InvalidKeyType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_has_matching_key_type() {
        assert_eq!(Owner::User(UserId::new_random()).key_type(), KeyType::User);
        assert_eq!(Owner::Team(TeamId::new_random()).key_type(), KeyType::Team);
    }

    #[test]
    fn key_type_round_trips() {
        for t in [KeyType::User, KeyType::Team] {
            assert_eq!(t.as_str().parse::<KeyType>(), Ok(t));
        }
        assert!("users".parse::<KeyType>().is_err());
    }
}
