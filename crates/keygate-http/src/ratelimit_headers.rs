//! The `ratelimit-*` headers of a check of a rate-limited key (the IETF RateLimit header fields
//! draft, in the widely deployed form of its drafts 03–06): sent on every check the key's limit
//! counted, passed or refused.
//!
//! - `ratelimit-limit`: checks allowed per window;
//! - `ratelimit-remaining`: checks left in this window;
//! - `ratelimit-reset`: seconds until the window ends (rounded up, at least 1);
//! - `ratelimit-policy`: `<limit>;w=<window seconds>`.

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::wire_error::retry_after_seconds;

/// `millis` in whole seconds for a client to wait, as every `retry-after` is written: rounded
/// up, at least 1.
pub(crate) fn seconds(millis: i64) -> u64 {
    retry_after_seconds(u64::try_from(millis).unwrap_or(0))
}

/// The four headers, lowercase as HTTP/2 requires and actix writes.
pub(crate) fn headers(
    limit: i64,
    remaining: i64,
    reset_after_millis: i64,
    window_millis: i64,
) -> [(HeaderName, HeaderValue); 4] {
    [
        (
            HeaderName::from_static("ratelimit-limit"),
            HeaderValue::from(limit),
        ),
        (
            HeaderName::from_static("ratelimit-remaining"),
            HeaderValue::from(remaining),
        ),
        (
            HeaderName::from_static("ratelimit-reset"),
            HeaderValue::from(seconds(reset_after_millis)),
        ),
        (
            HeaderName::from_static("ratelimit-policy"),
            HeaderValue::try_from(format!("{limit};w={}", seconds(window_millis)))
                .unwrap_or_else(|_| HeaderValue::from_static("0")),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up_and_never_say_zero() {
        assert_eq!(seconds(0), 1);
        assert_eq!(seconds(1), 1);
        assert_eq!(seconds(1_000), 1);
        assert_eq!(seconds(1_001), 2);
        assert_eq!(seconds(-5), 1);
        let [limit, remaining, reset, policy] = headers(100, 7, 1_500, 60_000);
        assert_eq!(
            (limit.0.as_str(), limit.1.to_str().unwrap()),
            ("ratelimit-limit", "100")
        );
        assert_eq!(remaining.1, "7");
        assert_eq!(reset.1, "2");
        assert_eq!(policy.1, "100;w=60");
    }
}
