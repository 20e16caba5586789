//! Hashing of secrets for storage: keygate stores a digest of every secret, never the secret
//! (contract A1). The digest is SHA-256 of the full secret string, or HMAC-SHA-256 under a
//! server-side pepper when one is configured, so that a stolen database alone cannot be used to
//! test guesses offline. Secrets are 224+ random bits, so a slow password hash is not needed.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A 32-byte digest of a secret (an API key, a project credential, a refresh token). This is all
/// keygate stores of a secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Wraps a stored digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes, as stored.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash is not a secret, but there is no reason to print it whole either.
        write!(
            f,
            "KeyHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Turns secrets (API keys, project credentials, refresh tokens) into the [`KeyHash`] that is
/// stored, and checks a presented secret against a stored hash.
///
/// The pepper never appears in `Debug` output. Changing or adding a pepper makes every stored
/// hash unverifiable, so it must stay fixed for the life of a database.
#[derive(Clone)]
pub struct KeyHasher {
    /// The HMAC state keyed with the pepper, or `None` for plain SHA-256.
    keyed: Option<Hmac<Sha256>>,
}

impl KeyHasher {
    /// Plain SHA-256 of the secret (no pepper configured).
    pub fn sha256() -> Self {
        Self { keyed: None }
    }

    /// HMAC-SHA-256 of the secret, keyed with `pepper`.
    pub fn hmac_sha256(pepper: &[u8]) -> Self {
        // HMAC accepts keys of any length (longer ones are hashed first), so this cannot fail.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(pepper)
            .expect("HMAC-SHA-256 accepts a key of any length");
        Self { keyed: Some(keyed) }
    }

    /// The digest of `secret`, the full string as given (for an API key: all 102 characters).
    pub fn hash(&self, secret: &str) -> KeyHash {
        let digest: [u8; 32] = match &self.keyed {
            None => Sha256::digest(secret.as_bytes()).into(),
            Some(keyed) => {
                let mut mac = keyed.clone();
                mac.update(secret.as_bytes());
                mac.finalize().into_bytes().into()
            }
        };
        KeyHash(digest)
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn verify(&self, secret: &str, stored: &KeyHash) -> bool {
        self.hash(secret).0.ct_eq(&stored.0).into()
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("KeyHasher");
        match self.keyed {
            None => debug.field("algorithm", &"sha256"),
            Some(_) => debug
                .field("algorithm", &"hmac-sha256")
                .field("pepper", &"<redacted>"),
        };
        debug.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(hash: &KeyHash) -> String {
        hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            hex(&KeyHasher::sha256().hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_sha256_known_vector() {
        // RFC 4231, test case 2.
        assert_eq!(
            hex(&KeyHasher::hmac_sha256(b"Jefe").hash("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_differs_from_sha256_and_depends_on_the_pepper() {
        let secret = "sk_some_secret";
        let plain = KeyHasher::sha256().hash(secret);
        let peppered = KeyHasher::hmac_sha256(b"pepper-one").hash(secret);
        assert_ne!(plain, peppered);
        assert_ne!(peppered, KeyHasher::hmac_sha256(b"pepper-two").hash(secret));
        assert_eq!(peppered, KeyHasher::hmac_sha256(b"pepper-one").hash(secret));
    }

    #[test]
    fn hash_covers_the_whole_string() {
        let hasher = KeyHasher::sha256();
        assert_ne!(hasher.hash("sk_abcd1"), hasher.hash("sk_abcd2"));
        assert_ne!(hasher.hash("sk_abcd"), hasher.hash("xk_abcd"));
    }

    #[test]
    fn verify_accepts_only_the_same_secret_under_the_same_hasher() {
        for hasher in [KeyHasher::sha256(), KeyHasher::hmac_sha256(b"pepper")] {
            let stored = hasher.hash("the-secret");
            assert!(hasher.verify("the-secret", &stored));
            assert!(!hasher.verify("the-secreT", &stored));
            assert!(!hasher.verify("", &stored));
        }
        let stored = KeyHasher::sha256().hash("the-secret");
        assert!(!KeyHasher::hmac_sha256(b"pepper").verify("the-secret", &stored));
    }

    #[test]
    fn debug_redacts_the_pepper() {
        assert_eq!(
            format!("{:?}", KeyHasher::sha256()),
            "KeyHasher { algorithm: \"sha256\" }"
        );
        let debug = format!("{:?}", KeyHasher::hmac_sha256(b"super-secret-pepper"));
        assert_eq!(
            debug,
            "KeyHasher { algorithm: \"hmac-sha256\", pepper: \"<redacted>\" }"
        );
    }

    #[test]
    fn key_hash_round_trips_bytes_and_debug_is_short() {
        let hash = KeyHasher::sha256().hash("abc");
        assert_eq!(KeyHash::from_bytes(*hash.as_bytes()), hash);
        assert_eq!(format!("{hash:?}"), "KeyHash(ba7816bf…)");
    }
}
