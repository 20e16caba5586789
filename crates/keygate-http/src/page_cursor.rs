//! The one text form of every keyset cursor keygate hands out (`next_cursor` of the key lists,
//! the audit log and the webhook delivery logs): base64url without padding of
//! `<created_at_millis>.<id>`, the position of the last item of the previous page. Opaque to
//! clients; a cursor keygate did not hand out is refused with one message. The page size every
//! such list takes, `limit`, is read here too ([`read_limit`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::validation::{FieldReader, Rejection};

/// What a cursor that keygate did not hand out is told.
pub(crate) const NOT_A_CURSOR: &str = "must be a next_cursor from a previous page";

/// The cursor of the position (`created_at_millis`, `id`).
pub(crate) fn encode(created_at_millis: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at_millis}.{id}"))
}

/// The position `text` names, with its id still text (each list parses its own id type).
pub(crate) fn decode(text: &str) -> Result<(i64, String), Rejection> {
    let invalid = || Rejection::Invalid(NOT_A_CURSOR.to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (millis, id) = text.split_once('.').ok_or_else(invalid)?;
    Ok((millis.parse().map_err(|_| invalid())?, id.to_owned()))
}

/// The query's `limit`: 1 to `limits.max_page_size`, or `None` when not given.
pub(crate) fn read_limit(o: &mut FieldReader<'_>) -> Option<usize> {
    let max_page_size = o.limits().max_page_size;
    o.field::<i64>("limit")
        .range(1, i64::try_from(max_page_size).unwrap_or(i64::MAX))
        .optional()
        .map(|limit| usize::try_from(limit).unwrap_or(1))
}

/// The query's `limit`, the largest page when not given.
pub(crate) fn read_page_size(o: &mut FieldReader<'_>) -> usize {
    let max_page_size = o.limits().max_page_size;
    read_limit(o).unwrap_or(max_page_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_garbage_is_refused() {
        let id = "0193a1b2-0000-7000-8000-000000000001";
        assert_eq!(
            decode(&encode(1_745_000_000_123, id)),
            Ok((1_745_000_000_123, id.to_owned()))
        );
        for garbage in ["x", "!!", "bm90LWEtY3Vyc29y", "MTIz"] {
            assert_eq!(
                decode(garbage),
                Err(Rejection::Invalid(NOT_A_CURSOR.to_owned())),
                "{garbage}"
            );
        }
    }
}
