//! Conversions between Rust values and their stored form (UUIDs as TEXT, digests as bytes).

use keygate_domain::{KeyHash, RateLimit, Refill, UsageCredits};
use uuid::Uuid;

use crate::error::StorageError;

/// Reads a stored id (hyphenated UUID text) into its typed form.
pub(crate) fn parse_id<T: From<Uuid>>(column: &'static str, text: &str) -> Result<T, StorageError> {
    Uuid::try_parse(text)
        .map(T::from)
        .map_err(|_| StorageError::CorruptValue { column })
}

/// Reads an optional stored id.
pub(crate) fn parse_optional_id<T: From<Uuid>>(
    column: &'static str,
    text: Option<&str>,
) -> Result<Option<T>, StorageError> {
    text.map(|text| parse_id(column, text)).transpose()
}

/// Reads a stored 32-byte digest.
pub(crate) fn parse_hash(column: &'static str, bytes: &[u8]) -> Result<KeyHash, StorageError> {
    <[u8; 32]>::try_from(bytes)
        .map(KeyHash::from_bytes)
        .map_err(|_| StorageError::CorruptValue { column })
}

/// Reads an optional stored digest.
pub(crate) fn parse_optional_hash(
    column: &'static str,
    bytes: Option<&[u8]>,
) -> Result<Option<KeyHash>, StorageError> {
    bytes.map(|bytes| parse_hash(column, bytes)).transpose()
}

/// Reads a rate limit stored as two columns, both set or both NULL.
pub(crate) fn parse_rate_limit(
    column: &'static str,
    limit: Option<i64>,
    window_millis: Option<i64>,
) -> Result<Option<RateLimit>, StorageError> {
    match (limit, window_millis) {
        (None, None) => Ok(None),
        (Some(limit), Some(window_millis)) => RateLimit::new(limit, window_millis)
            .map(Some)
            .ok_or(StorageError::CorruptValue { column }),
        _ => Err(StorageError::CorruptValue { column }),
    }
}

/// Reads usage credits stored as four columns: the count and its period's start both set or
/// both NULL, the refill's two columns both set or both NULL (and only with a count).
pub(crate) fn parse_usage_credits(
    remaining_uses: Option<i64>,
    refilled_at_millis: Option<i64>,
    refill_amount: Option<i64>,
    refill_interval_millis: Option<i64>,
) -> Result<Option<UsageCredits>, StorageError> {
    let corrupt = || StorageError::CorruptValue {
        column: "api_keys.remaining_uses",
    };
    let refill = match (refill_amount, refill_interval_millis) {
        (None, None) => None,
        (Some(amount), Some(interval)) => Some(Refill::new(amount, interval).ok_or_else(corrupt)?),
        _ => return Err(corrupt()),
    };
    match (remaining_uses, refilled_at_millis) {
        (None, None) if refill.is_none() => Ok(None),
        (Some(remaining_uses), Some(refilled_at_millis)) => Ok(Some(UsageCredits {
            remaining_uses,
            refill,
            refilled_at_millis,
        })),
        _ => Err(corrupt()),
    }
}

#[cfg(test)]
mod tests {
    use keygate_domain::UserId;

    use super::*;

    #[test]
    fn ids_round_trip_and_garbage_is_reported_by_column() {
        let id = UserId::new_random();
        assert_eq!(parse_id::<UserId>("users.id", &id.to_string()).unwrap(), id);
        assert!(matches!(
            parse_id::<UserId>("users.id", "not-a-uuid"),
            Err(StorageError::CorruptValue { column: "users.id" })
        ));
        assert_eq!(parse_optional_id::<UserId>("users.id", None).unwrap(), None);
    }

    #[test]
    fn hashes_must_be_32_bytes() {
        let bytes = [7u8; 32];
        assert_eq!(parse_hash("h", &bytes).unwrap(), KeyHash::from_bytes(bytes));
        assert!(parse_hash("h", &bytes[..31]).is_err());
        assert_eq!(parse_optional_hash("h", None).unwrap(), None);
        assert!(parse_optional_hash("h", Some(&[0u8; 33][..])).is_err());
    }
}
