//! When a bearer secret stops being usable: the one validity rule shared by API keys, project
//! credentials and sessions.
//!
//! Everything keygate issues has a [`Lifetime`]: an optional expiry instant and an optional
//! revocation instant. **Key decisions:**
//! - a secret is valid *through* its expiry instant: it is expired iff `expires_at < now`
//!   (upstream's rule), so at exactly `expires_at` it still works;
//! - a revocation is permanent and counts whatever its timestamp (even one after `now`);
//! - when a secret is both revoked and expired, [`Lifetime::check`] reports revocation. A caller
//!   whose contract reports expiry first (credential scanning) asks [`Lifetime::is_expired`] and
//!   [`Lifetime::is_revoked`] in its own order; the rule itself lives only here.
//!
//! Storage reads lifetimes but never decides validity (no expiry comparison in SQL), so a
//! cached row and a freshly read one are judged by the same code at the caller's clock.

/// Milliseconds since the Unix epoch. Callers take "now" from the Rust clock and pass it in; the
/// domain never reads a clock itself.
pub type EpochMillis = i64;

/// Whether something that expires at `expires_at` (`None`: never) has expired at `now`:
/// strictly after its expiry instant (`expires_at < now`).
pub const fn is_expired(expires_at: Option<EpochMillis>, now: EpochMillis) -> bool {
    match expires_at {
        Some(expires_at) => expires_at < now,
        None => false,
    }
}

/// Why a secret cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Invalid {
    /// It was revoked (by its owner, an operator, a sign-out or the secret-scanning endpoint).
    Revoked,
    /// Its expiry instant has passed.
    Expired,
}

/// The expiry and revocation instants of an API key, a project credential or a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lifetime {
    /// When it stops being valid (it is still valid at this instant); `None` never expires.
    pub expires_at_millis: Option<EpochMillis>,
    /// When it was revoked; set once, never cleared.
    pub revoked_at_millis: Option<EpochMillis>,
}

impl Lifetime {
    /// A lifetime with these instants.
    pub const fn new(
        expires_at_millis: Option<EpochMillis>,
        revoked_at_millis: Option<EpochMillis>,
    ) -> Self {
        Lifetime {
            expires_at_millis,
            revoked_at_millis,
        }
    }

    /// Whether it has expired at `now` ([`is_expired`]).
    pub const fn is_expired(&self, now: EpochMillis) -> bool {
        is_expired(self.expires_at_millis, now)
    }

    /// Whether it was revoked (at any instant).
    pub const fn is_revoked(&self) -> bool {
        self.revoked_at_millis.is_some()
    }

    /// `Ok` if it can be used at `now`; otherwise why not, revocation before expiry.
    pub const fn check(&self, now: EpochMillis) -> Result<(), Invalid> {
        if self.is_revoked() {
            Err(Invalid::Revoked)
        } else if self.is_expired(now) {
            Err(Invalid::Expired)
        } else {
            Ok(())
        }
    }

    /// Whether it can be used at `now`.
    pub const fn is_valid(&self, now: EpochMillis) -> bool {
        self.check(now).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: EpochMillis = 1_745_000_000_000;

    #[test]
    fn expiry_is_strict() {
        assert!(!is_expired(None, NOW));
        assert!(!is_expired(None, EpochMillis::MAX));
        assert!(!is_expired(Some(NOW + 1), NOW));
        // Still valid at its expiry instant.
        assert!(!is_expired(Some(NOW), NOW));
        assert!(is_expired(Some(NOW - 1), NOW));
        assert!(is_expired(Some(0), NOW));
        assert!(is_expired(Some(EpochMillis::MIN), EpochMillis::MIN + 1));
        assert!(!is_expired(Some(EpochMillis::MAX), EpochMillis::MAX));
    }

    #[test]
    fn validity_table() {
        use Invalid::{Expired, Revoked};
        let cases = [
            (None, None, Ok(())),
            (Some(NOW + 1), None, Ok(())),
            (Some(NOW), None, Ok(())),
            (Some(NOW - 1), None, Err(Expired)),
            (Some(0), None, Err(Expired)),
            (None, Some(NOW - 5), Err(Revoked)),
            (Some(NOW + 1), Some(NOW - 5), Err(Revoked)),
            // Revocation is reported before expiry.
            (Some(NOW - 1), Some(NOW - 5), Err(Revoked)),
            // A revocation counts however its timestamp compares to now.
            (None, Some(NOW + 5), Err(Revoked)),
        ];
        for (expires_at, revoked_at, expected) in cases {
            let lifetime = Lifetime::new(expires_at, revoked_at);
            let context = format!("expires {expires_at:?}, revoked {revoked_at:?}");
            assert_eq!(lifetime.check(NOW), expected, "{context}");
            assert_eq!(lifetime.is_valid(NOW), expected.is_ok(), "{context}");
            assert_eq!(lifetime.is_revoked(), revoked_at.is_some(), "{context}");
            assert_eq!(
                lifetime.is_expired(NOW),
                is_expired(expires_at, NOW),
                "{context}"
            );
        }
    }

    #[test]
    fn the_default_lifetime_never_ends() {
        let forever = Lifetime::default();
        assert_eq!(forever, Lifetime::new(None, None));
        assert!(forever.is_valid(EpochMillis::MIN));
        assert!(forever.is_valid(EpochMillis::MAX));
    }
}
