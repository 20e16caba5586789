//! The bearer secrets other than API keys: the three keys of a project credential and the
//! refresh token of a session, with the prefix each is issued under.
//!
//! **Key decision:** each kind of secret has its own short prefix (`pck_`, `ssk_`, `sak_`,
//! `kgrt_`), fixed here once, so a leaked secret says what it opens and a key of one kind can
//! never be mistaken for another. The secrets themselves are [`SecretToken`]s
//! (`<prefix>_<52 base32 characters>`), stored only as their digests.
//!
//! [`SecretToken`]: crate::secret::SecretToken

/// Which of a project credential's three keys is presented; each grants one access type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// The publishable client key (client access), prefix `pck`.
    PublishableClientKey,
    /// The secret server key (server access), prefix `ssk`.
    SecretServerKey,
    /// The super-secret admin key (admin access), prefix `sak`.
    SuperSecretAdminKey,
}

impl CredentialKind {
    /// Every kind, weakest access first.
    pub const ALL: [CredentialKind; 3] = [
        CredentialKind::PublishableClientKey,
        CredentialKind::SecretServerKey,
        CredentialKind::SuperSecretAdminKey,
    ];

    /// The prefix keys of this kind are issued under (`"pck"`, `"ssk"` or `"sak"`, without
    /// the `_`).
    pub const fn prefix(self) -> &'static str {
        match self {
            CredentialKind::PublishableClientKey => "pck",
            CredentialKind::SecretServerKey => "ssk",
            CredentialKind::SuperSecretAdminKey => "sak",
        }
    }
}

/// Prefix of session refresh tokens (`kgrt_…`), so a leaked one is recognisable.
pub const REFRESH_TOKEN_PREFIX: &str = "kgrt";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretToken;

    #[test]
    fn prefixes_are_fixed_and_distinct() {
        assert_eq!(CredentialKind::PublishableClientKey.prefix(), "pck");
        assert_eq!(CredentialKind::SecretServerKey.prefix(), "ssk");
        assert_eq!(CredentialKind::SuperSecretAdminKey.prefix(), "sak");
        assert_eq!(REFRESH_TOKEN_PREFIX, "kgrt");
        let mut all: Vec<&str> = CredentialKind::ALL.iter().map(|k| k.prefix()).collect();
        all.push(REFRESH_TOKEN_PREFIX);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn tokens_are_issued_under_their_prefix() {
        for kind in CredentialKind::ALL {
            let token = SecretToken::generate(kind.prefix());
            assert!(token
                .expose_secret()
                .starts_with(&format!("{}_", kind.prefix())));
        }
    }
}
