//! What a key allows beyond being valid: the scopes it was created with, and the metadata its
//! project's server attached to it.
//!
//! **Key decisions.** Scopes are fixed at creation (a narrower key is a new key, as crates.io
//! does), so a check's scope verdict needs nothing but the stored row; a key without scopes has
//! none, and a check that requires any refuses it. A scope id is short, printable and without
//! spaces (`invoices:read`), so it is safe in a header, a log line and a stored list. Metadata
//! is a JSON object kept as its text: keygate stores and returns it, never reads it.

/// The longest scope id, in bytes.
pub const MAX_SCOPE_ID_LEN: usize = 64;

/// Whether `id` is a well-formed scope id: 1 to [`MAX_SCOPE_ID_LEN`] characters of ASCII letters,
/// digits, `_`, `-`, `.` and `:`.
pub fn is_scope_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SCOPE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// A key's scopes and metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The scope ids the key carries, each [`is_scope_id`], without repeats, in creation order.
    pub scopes: Vec<String>,
    /// The server-set metadata: a JSON object's text, or `None`.
    pub metadata: Option<String>,
}

impl KeyPolicy {
    /// The ids of `required` the key does not carry, in the order asked, without repeats.
    pub fn missing_scopes<'a>(&self, required: &'a [String]) -> Vec<&'a str> {
        let mut missing: Vec<&str> = Vec::new();
        for scope in required {
            if !self.scopes.contains(scope) && !missing.contains(&scope.as_str()) {
                missing.push(scope);
            }
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_ids_are_short_printable_and_without_spaces() {
        for good in ["invoices:read", "a", "x.y-z_1", &"s".repeat(64)] {
            assert!(is_scope_id(good), "{good}");
        }
        for bad in ["", "two words", "é", "a\nb", &"s".repeat(65), "a,b"] {
            assert!(!is_scope_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn missing_scopes_keep_the_order_asked_without_repeats() {
        let policy = KeyPolicy {
            scopes: vec!["invoices:read".to_owned()],
            metadata: None,
        };
        let required: Vec<String> = [
            "invoices:write",
            "invoices:read",
            "users:read",
            "invoices:write",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            policy.missing_scopes(&required),
            ["invoices:write", "users:read"]
        );
        assert!(policy.missing_scopes(&[]).is_empty());
        assert_eq!(
            KeyPolicy::default().missing_scopes(&required[1..2]),
            ["invoices:read"],
            "a key without scopes has none"
        );
    }
}
