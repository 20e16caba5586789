//! Session access tokens: HS256 JWTs signed with a server secret (contract A4, A6).
//!
//! The official SDK decodes access tokens itself (without checking the signature) and treats a
//! token that lacks any of upstream's claims as absent, so [`AccessTokenSigner::issue`] writes
//! the full claim set: `sub`, `exp`, `iat`, `iss`, `aud` (the project id), `project_id`,
//! `branch_id` (`"main"`), `refresh_token_id`, `role` (`"authenticated"`), `name`, `email`,
//! `email_verified`, `is_anonymous`, `is_restricted`, `requires_totp_mfa`, `selected_team_id`,
//! `signed_up_at` and `restricted_reason` (`null`). Times are JWT NumericDates (whole seconds),
//! `signed_up_at` included, as in upstream's own token fixtures.
//!
//! Tokens live [`DEFAULT_LIFETIME`] (10 minutes, upstream's default) unless configured; the SDK
//! refreshes any token with 20 seconds or less to live, so lifetimes below a minute are refused.
//!
//! `iss` is [`DEFAULT_ISSUER`] (`"keygate"`) unless configured — a deployment may set it to its
//! public base URL, like upstream's `https://api.stack-auth.com`. No client checks it; keygate
//! checks it on verification, so a token from another deployment that happens to share the secret
//! is still refused.
//!
//! [`AccessTokenSigner::verify`] checks, in upstream's order: that the token is a well-formed
//! HS256 JWT signed with this secret and issuer (else `UNPARSABLE_ACCESS_TOKEN`; `alg: none`,
//! HS512 and every other algorithm are refused), that it has not expired (`exp` at or before now,
//! to the second, like `jose`; else `ACCESS_TOKEN_EXPIRED {expired_at_millis}`), and that it
//! belongs to the request's project (else `INVALID_PROJECT_FOR_ACCESS_TOKEN
//! {expected_project_id, actual_project_id}`). Verification never panics, whatever the input.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use keygate_domain::{ProjectId, TeamId, UserId};
use keygate_service::records::UserRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::wire_error::KnownError;

/// `iss` of issued tokens unless configured otherwise.
pub const DEFAULT_ISSUER: &str = "keygate";

/// How long an access token lives unless configured otherwise (upstream: 10 minutes).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Shortest accepted lifetime (the SDK refreshes tokens with 20 s or less to live).
pub const MIN_LIFETIME: Duration = Duration::from_secs(60);

/// Longest accepted lifetime (access tokens cannot be revoked; keep them short).
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The only branch keygate has.
pub const BRANCH_ID: &str = "main";

/// The `role` claim of every session token.
pub const ROLE: &str = "authenticated";

/// Tokens longer than this are refused unread (real ones are well under 2 KiB).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The server secret that signs access tokens. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessTokenSecret(Vec<u8>);

/// Why an [`AccessTokenSecret`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenSecretError {
    /// HS256 needs at least 32 bytes of secret.
    #[error("the access-token secret must be at least {min} bytes long, got {actual}")]
    TooShort {
        /// Required length.
        min: usize,
        /// Given length.
        actual: usize,
    },
    /// The operating system's random source failed.
    #[error("could not generate an access-token secret: {0}")]
    Randomness(getrandom::Error),
}

impl AccessTokenSecret {
    /// Minimum secret length in bytes (the HS256 output size).
    pub const MIN_LEN: usize = 32;

    /// Uses the given bytes as the secret.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, AccessTokenSecretError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(AccessTokenSecretError::TooShort {
                min: Self::MIN_LEN,
                actual: bytes.len(),
            });
        }
        Ok(AccessTokenSecret(bytes))
    }

    /// A fresh random 32-byte secret (tokens then die with the process; sessions survive, since
    /// clients refresh with their refresh token).
    pub fn generate() -> Result<Self, AccessTokenSecretError> {
        let mut bytes = vec![0_u8; Self::MIN_LEN];
        getrandom::fill(&mut bytes).map_err(AccessTokenSecretError::Randomness)?;
        Ok(AccessTokenSecret(bytes))
    }
}

impl fmt::Debug for AccessTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessTokenSecret(<redacted>)")
    }
}

/// A signed access token: a bearer credential. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The token text, to send to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Who a token is issued to: the session's user and project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenSubject {
    /// The project the session belongs to.
    pub project_id: ProjectId,
    /// The session's user.
    pub user_id: UserId,
    /// The id of the session (its refresh-token row), never the refresh token itself.
    pub refresh_token_id: String,
    /// The user's display name.
    pub display_name: Option<String>,
    /// The user's primary email.
    pub primary_email: Option<String>,
    /// Whether that email is verified.
    pub primary_email_verified: bool,
    /// Whether the user must use TOTP.
    pub requires_totp_mfa: bool,
    /// The user's selected team.
    pub selected_team_id: Option<TeamId>,
    /// When the user signed up (epoch milliseconds).
    pub signed_up_at_millis: i64,
}

/// The payload of an access token, as written and as verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The user id.
    pub sub: UserId,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time (seconds since the epoch).
    pub iat: i64,
    /// The issuer.
    pub iss: String,
    /// The project id (upstream's audience).
    pub aud: String,
    /// The project id.
    pub project_id: ProjectId,
    /// Always `"main"`.
    pub branch_id: String,
    /// The session id.
    pub refresh_token_id: String,
    /// Always `"authenticated"`.
    pub role: String,
    /// The user's display name.
    pub name: Option<String>,
    /// The user's primary email.
    pub email: Option<String>,
    /// Whether that email is verified.
    pub email_verified: bool,
    /// Always `false` (keygate has no anonymous users).
    pub is_anonymous: bool,
    /// Always `false` (keygate does not restrict users).
    pub is_restricted: bool,
    /// Whether the user must use TOTP.
    pub requires_totp_mfa: bool,
    /// The user's selected team.
    pub selected_team_id: Option<TeamId>,
    /// When the user signed up (seconds since the epoch).
    pub signed_up_at: i64,
    /// Always `null`.
    pub restricted_reason: Option<Value>,
}

/// A freshly issued token with its claims.
#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    /// The signed token.
    pub token: AccessToken,
    /// What it says.
    pub claims: AccessTokenClaims,
}

impl IssuedAccessToken {
    /// When the token expires (epoch milliseconds).
    pub fn expires_at_millis(&self) -> i64 {
        self.claims.exp.saturating_mul(1000)
    }
}

/// Why a token was refused; converts into the matching known error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenRejection {
    /// Not a token this server issued (malformed, wrong signature, algorithm or issuer).
    #[error("the access token is not parsable")]
    Unparsable,
    /// The token has expired.
    #[error("the access token expired at {expired_at_millis} ms")]
    Expired {
        /// When (epoch milliseconds).
        expired_at_millis: i64,
    },
    /// The token belongs to another project.
    #[error("the access token is for project {actual_project_id}, not {expected_project_id}")]
    WrongProject {
        /// The request's project.
        expected_project_id: String,
        /// The token's project.
        actual_project_id: String,
    },
}

impl From<AccessTokenRejection> for KnownError {
    fn from(rejection: AccessTokenRejection) -> Self {
        match rejection {
            AccessTokenRejection::Unparsable => KnownError::UnparsableAccessToken,
            AccessTokenRejection::Expired { expired_at_millis } => KnownError::AccessTokenExpired {
                expired_at_millis: Some(expired_at_millis),
            },
            AccessTokenRejection::WrongProject {
                expected_project_id,
                actual_project_id,
            } => KnownError::InvalidProjectForAccessToken {
                expected_project_id,
                actual_project_id,
            },
        }
    }
}

impl From<AccessTokenRejection> for crate::wire_error::ApiError {
    fn from(rejection: AccessTokenRejection) -> Self {
        crate::wire_error::ApiError::Known(rejection.into())
    }
}

/// Signing failed (only possible if serialization fails, i.e. a bug).
#[derive(Debug, thiserror::Error)]
#[error("could not sign an access token: {0}")]
pub struct AccessTokenSigningError(#[source] jsonwebtoken::errors::Error);

/// A lifetime outside [`MIN_LIFETIME`]..=[`MAX_LIFETIME`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the access-token lifetime must be between 1 minute and 24 hours, got {0:?}")]
pub struct InvalidLifetime(pub Duration);

/// Issues and verifies access tokens with one secret.
#[derive(Clone)]
pub struct AccessTokenSigner {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    issuer: String,
    lifetime: Duration,
    validation: Validation,
}

impl fmt::Debug for AccessTokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenSigner")
            .field("issuer", &self.issuer)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

fn validation_for(issuer: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry and project are checked by `verify` itself, to report them precisely.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    validation
}

impl AccessTokenSubject {
    /// The subject of a session `session_id` of `user`: the user's current name, e-mail and
    /// selected team.
    pub fn for_session(user: &UserRecord, session_id: Uuid) -> Self {
        AccessTokenSubject {
            project_id: user.project_id,
            user_id: user.id,
            refresh_token_id: session_id.to_string(),
            display_name: user.display_name.clone(),
            primary_email: user.primary_email.clone(),
            primary_email_verified: user.primary_email_verified,
            requires_totp_mfa: false,
            selected_team_id: user.selected_team_id,
            signed_up_at_millis: user.signed_up_at_millis,
        }
    }
}

impl AccessTokenSigner {
    /// A signer with [`DEFAULT_ISSUER`] and [`DEFAULT_LIFETIME`].
    pub fn new(secret: &AccessTokenSecret) -> Self {
        AccessTokenSigner {
            encoding_key: EncodingKey::from_secret(&secret.0),
            decoding_key: DecodingKey::from_secret(&secret.0),
            issuer: DEFAULT_ISSUER.to_owned(),
            lifetime: DEFAULT_LIFETIME,
            validation: validation_for(DEFAULT_ISSUER),
        }
    }

    /// Uses `issuer` as `iss` (e.g. the deployment's public base URL).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self.validation = validation_for(&self.issuer);
        self
    }

    /// Sets how long issued tokens live (whole seconds; between 1 minute and 24 hours).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Result<Self, InvalidLifetime> {
        if !(MIN_LIFETIME..=MAX_LIFETIME).contains(&lifetime) {
            return Err(InvalidLifetime(lifetime));
        }
        self.lifetime = Duration::from_secs(lifetime.as_secs());
        Ok(self)
    }

    /// How long issued tokens live.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The `iss` of issued tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Issues a token for `subject` at `now_millis` (epoch milliseconds).
    pub fn issue(
        &self,
        subject: &AccessTokenSubject,
        now_millis: i64,
    ) -> Result<IssuedAccessToken, AccessTokenSigningError> {
        let iat = now_millis.div_euclid(1000);
        let claims = AccessTokenClaims {
            sub: subject.user_id,
            exp: iat.saturating_add(self.lifetime.as_secs() as i64),
            iat,
            iss: self.issuer.clone(),
            aud: subject.project_id.to_string(),
            project_id: subject.project_id,
            branch_id: BRANCH_ID.to_owned(),
            refresh_token_id: subject.refresh_token_id.clone(),
            role: ROLE.to_owned(),
            name: subject.display_name.clone(),
            email: subject.primary_email.clone(),
            email_verified: subject.primary_email_verified,
            is_anonymous: false,
            is_restricted: false,
            requires_totp_mfa: subject.requires_totp_mfa,
            selected_team_id: subject.selected_team_id,
            signed_up_at: subject.signed_up_at_millis.div_euclid(1000),
            restricted_reason: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding_key)
                .map_err(AccessTokenSigningError)?;
        Ok(IssuedAccessToken {
            token: AccessToken(token),
            claims,
        })
    }

    /// Verifies `token` for a request to `expected_project_id` (the `x-stack-project-id` value,
    /// as sent) at `now_millis` (epoch milliseconds).
    pub fn verify(
        &self,
        token: &str,
        expected_project_id: &str,
        now_millis: i64,
    ) -> Result<AccessTokenClaims, AccessTokenRejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AccessTokenRejection::Unparsable);
        }
        let claims =
            jsonwebtoken::decode::<AccessTokenClaims>(token, &self.decoding_key, &self.validation)
                .map_err(|_| AccessTokenRejection::Unparsable)?
                .claims;
        let token_project = claims.project_id.to_string();
        if claims.aud != token_project || claims.iss != self.issuer {
            return Err(AccessTokenRejection::Unparsable);
        }
        // A JWT's `exp` is the first second at which it is no longer accepted (RFC 7519), so
        // it is valid through the millisecond before; the domain's one rule decides.
        let valid_through = claims.exp.saturating_mul(1000).saturating_sub(1);
        if keygate_domain::is_expired(Some(valid_through), now_millis) {
            return Err(AccessTokenRejection::Expired {
                expired_at_millis: claims.exp.saturating_mul(1000),
            });
        }
        if token_project != expected_project_id {
            return Err(AccessTokenRejection::WrongProject {
                expected_project_id: expected_project_id.to_owned(),
                actual_project_id: token_project,
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use proptest::prelude::*;

    const NOW: i64 = 1_750_000_000_123;

    fn secret(byte: u8) -> AccessTokenSecret {
        AccessTokenSecret::from_bytes(vec![byte; 32]).unwrap()
    }

    fn subject() -> AccessTokenSubject {
        AccessTokenSubject {
            project_id: ProjectId::new_random(),
            user_id: UserId::new_random(),
            refresh_token_id: "5f0c1e0e-4a4f-4a8e-9d0b-2f7c3c1f9a11".to_owned(),
            display_name: Some("Ada".to_owned()),
            primary_email: None,
            primary_email_verified: false,
            requires_totp_mfa: false,
            selected_team_id: Some(TeamId::new_random()),
            signed_up_at_millis: 1_700_000_000_999,
        }
    }

    fn payload_json(token: &str) -> serde_json::Map<String, Value> {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn issued_tokens_verify_and_carry_every_claim_the_sdk_needs() {
        let signer = AccessTokenSigner::new(&secret(7));
        let subject = subject();
        let issued = signer.issue(&subject, NOW).unwrap();
        let claims = signer
            .verify(issued.token.as_str(), &subject.project_id.to_string(), NOW)
            .unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.sub, subject.user_id);
        assert_eq!(claims.iat, NOW / 1000);
        assert_eq!(claims.exp - claims.iat, 600);
        assert_eq!(issued.expires_at_millis(), (NOW / 1000 + 600) * 1000);

        let payload = payload_json(issued.token.as_str());
        for claim in [
            "sub",
            "exp",
            "iat",
            "iss",
            "aud",
            "project_id",
            "branch_id",
            "refresh_token_id",
            "role",
            "name",
            "email",
            "email_verified",
            "is_anonymous",
            "is_restricted",
            "requires_totp_mfa",
            "selected_team_id",
            "signed_up_at",
            "restricted_reason",
        ] {
            assert!(payload.contains_key(claim), "missing claim {claim}");
        }
        assert_eq!(
            payload["aud"],
            Value::String(subject.project_id.to_string())
        );
        assert_eq!(payload["project_id"], payload["aud"]);
        assert_eq!(payload["branch_id"], "main");
        assert_eq!(payload["role"], "authenticated");
        assert_eq!(payload["iss"], "keygate");
        assert_eq!(payload["email"], Value::Null);
        assert_eq!(payload["restricted_reason"], Value::Null);
        assert_eq!(payload["signed_up_at"], 1_700_000_000);
        assert_eq!(
            payload["selected_team_id"],
            Value::String(subject.selected_team_id.unwrap().to_string())
        );
        let header = token_part(issued.token.as_str(), 0);
        assert_eq!(header["alg"], "HS256");
    }

    fn token_part(token: &str, index: usize) -> Value {
        let part = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_token_signed_with_another_secret_is_unparsable() {
        let subject = subject();
        let project = subject.project_id.to_string();
        let forged = AccessTokenSigner::new(&secret(8))
            .issue(&subject, NOW)
            .unwrap();
        let signer = AccessTokenSigner::new(&secret(7));
        assert_eq!(
            signer.verify(forged.token.as_str(), &project, NOW),
            Err(AccessTokenRejection::Unparsable)
        );

        // A genuine token whose payload was edited.
        let genuine = signer.issue(&subject, NOW).unwrap();
        let parts: Vec<&str> = genuine.token.as_str().split('.').collect();
        let mut payload = payload_json(genuine.token.as_str());
        payload.insert(
            "sub".into(),
            Value::String(UserId::new_random().to_string()),
        );
        let edited = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap()),
            parts[2]
        );
        assert_eq!(
            signer.verify(&edited, &project, NOW),
            Err(AccessTokenRejection::Unparsable)
        );
    }

    #[test]
    fn other_algorithms_are_refused() {
        let signer = AccessTokenSigner::new(&secret(7));
        let subject = subject();
        let project = subject.project_id.to_string();
        let claims = signer.issue(&subject, NOW).unwrap().claims;

        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert_eq!(
            signer.verify(&hs512, &project, NOW),
            Err(AccessTokenRejection::Unparsable)
        );

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        for unsigned in [
            format!("{none_header}.{body}."),
            format!("{none_header}.{body}"),
        ] {
            assert_eq!(
                signer.verify(&unsigned, &project, NOW),
                Err(AccessTokenRejection::Unparsable)
            );
        }
    }

    #[test]
    fn expired_tokens_name_their_expiry() {
        let signer = AccessTokenSigner::new(&secret(7));
        let subject = subject();
        let project = subject.project_id.to_string();
        let issued = signer.issue(&subject, NOW).unwrap();
        let expiry = issued.expires_at_millis();
        assert!(signer
            .verify(issued.token.as_str(), &project, expiry - 1)
            .is_ok());
        assert_eq!(
            signer.verify(issued.token.as_str(), &project, expiry),
            Err(AccessTokenRejection::Expired {
                expired_at_millis: expiry
            })
        );
        let known: KnownError = AccessTokenRejection::Expired {
            expired_at_millis: expiry,
        }
        .into();
        assert_eq!(known.code(), "ACCESS_TOKEN_EXPIRED");
        assert_eq!(known.details().unwrap()[0].1, Value::from(expiry));
    }

    #[test]
    fn expiry_is_reported_before_a_project_mismatch() {
        let signer = AccessTokenSigner::new(&secret(7));
        let issued = signer.issue(&subject(), NOW).unwrap();
        let later = issued.expires_at_millis() + 1;
        assert!(matches!(
            signer.verify(issued.token.as_str(), "other", later),
            Err(AccessTokenRejection::Expired { .. })
        ));
    }

    #[test]
    fn a_token_of_another_project_is_refused_with_both_ids() {
        let signer = AccessTokenSigner::new(&secret(7));
        let subject = subject();
        let issued = signer.issue(&subject, NOW).unwrap();
        let other = ProjectId::new_random().to_string();
        let rejection = signer
            .verify(issued.token.as_str(), &other, NOW)
            .unwrap_err();
        assert_eq!(
            rejection,
            AccessTokenRejection::WrongProject {
                expected_project_id: other.clone(),
                actual_project_id: subject.project_id.to_string(),
            }
        );
        let known = KnownError::from(rejection);
        assert_eq!(known.code(), "INVALID_PROJECT_FOR_ACCESS_TOKEN");
        assert_eq!(known.status(), 401);
    }

    #[test]
    fn issuer_and_lifetime_are_configurable() {
        let subject = subject();
        let project = subject.project_id.to_string();
        let signer = AccessTokenSigner::new(&secret(7))
            .with_issuer("https://keys.example.com")
            .with_lifetime(Duration::from_secs(120))
            .unwrap();
        let issued = signer.issue(&subject, NOW).unwrap();
        assert_eq!(issued.claims.iss, "https://keys.example.com");
        assert_eq!(issued.claims.exp - issued.claims.iat, 120);
        assert!(signer.verify(issued.token.as_str(), &project, NOW).is_ok());

        let default_issuer = AccessTokenSigner::new(&secret(7));
        assert_eq!(
            default_issuer.verify(issued.token.as_str(), &project, NOW),
            Err(AccessTokenRejection::Unparsable),
            "same secret, other issuer"
        );
        for bad in [Duration::from_secs(20), Duration::from_secs(2 * 24 * 3600)] {
            assert_eq!(
                AccessTokenSigner::new(&secret(7))
                    .with_lifetime(bad)
                    .unwrap_err(),
                InvalidLifetime(bad)
            );
        }
    }

    #[test]
    fn secrets_are_long_enough_and_never_printed() {
        assert!(matches!(
            AccessTokenSecret::from_bytes(vec![1; 31]),
            Err(AccessTokenSecretError::TooShort {
                min: 32,
                actual: 31
            })
        ));
        let generated = AccessTokenSecret::generate().unwrap();
        assert_eq!(format!("{generated:?}"), "AccessTokenSecret(<redacted>)");
        assert_ne!(generated.0, AccessTokenSecret::generate().unwrap().0);

        let signer = AccessTokenSigner::new(&secret(7));
        let issued = signer.issue(&subject(), NOW).unwrap();
        let printed = format!("{issued:?} {signer:?}");
        assert!(!printed.contains(issued.token.as_str()));
        assert!(printed.contains("AccessToken(<redacted>)"));
    }

    #[test]
    fn oversized_tokens_are_refused_unread() {
        let signer = AccessTokenSigner::new(&secret(7));
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            signer.verify(&huge, "p", NOW),
            Err(AccessTokenRejection::Unparsable)
        );
    }

    proptest! {
        #[test]
        fn any_text_is_refused_without_panicking(token in ".{0,300}") {
            let signer = AccessTokenSigner::new(&secret(7));
            prop_assert_eq!(signer.verify(&token, "p", NOW), Err(AccessTokenRejection::Unparsable));
        }

        #[test]
        fn any_three_part_token_is_refused_without_panicking(
            header in "[A-Za-z0-9_=+/-]{0,60}",
            payload in "[A-Za-z0-9_=+/-]{0,200}",
            signature in "[A-Za-z0-9_=+/-]{0,60}",
        ) {
            let signer = AccessTokenSigner::new(&secret(7));
            let token = format!("{header}.{payload}.{signature}");
            prop_assert_eq!(signer.verify(&token, "p", NOW), Err(AccessTokenRejection::Unparsable));
        }

        #[test]
        fn any_json_payload_with_a_real_header_is_refused(payload in proptest::collection::btree_map("[a-z_]{1,12}", "[a-z0-9]{0,12}", 0..8)) {
            let signer = AccessTokenSigner::new(&secret(7));
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
            let token = format!("{header}.{body}.c2lnbmF0dXJl");
            prop_assert_eq!(signer.verify(&token, "p", NOW), Err(AccessTokenRejection::Unparsable));
        }
    }
}
