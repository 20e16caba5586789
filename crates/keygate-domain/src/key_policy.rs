//! What a key allows beyond being valid: the scopes it was created with, the metadata its
//! project's server attached to it, and how often it may be checked.
//!
//! **Key decisions.** Scopes are fixed at creation (a narrower key is a new key, as crates.io
//! does), so a check's scope verdict needs nothing but the stored row; a key without scopes has
//! none, and a check that requires any refuses it. A scope id is short, printable and without
//! spaces (`invoices:read`), so it is safe in a header, a log line and a stored list. Metadata
//! is a JSON object kept as its text: keygate stores and returns it, never reads it. A rate
//! limit counts checks in fixed windows aligned to the epoch ([`RateLimit::window_at`]), so every
//! node agrees on which window a check falls in without asking the others. Usage credits refill
//! at the boundaries of periods counted from the key's creation ([`UsageCredits::refreshed`]):
//! the stored count is brought up to date lazily, by whoever reads it next, so no scheduler is
//! needed and every node computes the same periods.

use crate::validity::EpochMillis;

/// The most usage credits one check may cost (a check's `cost` is 0 to this).
pub const MAX_CHECK_COST: i64 = 1_000_000;

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

/// At most `limit` successful checks of a key in each window of `window_millis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Checks allowed per window, [`RateLimit::LIMITS`].
    pub limit: i64,
    /// The window's length in milliseconds, [`RateLimit::WINDOWS_MILLIS`].
    pub window_millis: i64,
}

impl RateLimit {
    /// The allowed `limit`s.
    pub const LIMITS: std::ops::RangeInclusive<i64> = 1..=1_000_000_000;
    /// The allowed `window_millis`: 100 ms to one day.
    pub const WINDOWS_MILLIS: std::ops::RangeInclusive<i64> = 100..=86_400_000;

    /// The limit, if both numbers are in their ranges.
    pub fn new(limit: i64, window_millis: i64) -> Option<RateLimit> {
        (Self::LIMITS.contains(&limit) && Self::WINDOWS_MILLIS.contains(&window_millis)).then_some(
            RateLimit {
                limit,
                window_millis,
            },
        )
    }

    /// The window `now` falls in, as `(start, end)` (end excluded). Windows are aligned to the
    /// epoch, so every node computes the same ones.
    pub fn window_at(&self, now: EpochMillis) -> (EpochMillis, EpochMillis) {
        let window = self.window_millis.max(1);
        let start = now - now.rem_euclid(window);
        (start, start.saturating_add(window))
    }
}

/// Credits set back to `amount` every `interval_millis` (not added: unused credits do not pile
/// up), as Unkey's refills do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    /// The credits a key has at the start of every period, [`Refill::AMOUNTS`].
    pub amount: i64,
    /// The period's length, [`Refill::INTERVALS_MILLIS`].
    pub interval_millis: i64,
}

impl Refill {
    /// The allowed `amount`s.
    pub const AMOUNTS: std::ops::RangeInclusive<i64> = 1..=UsageCredits::MAX_REMAINING;
    /// The allowed `interval_millis`: one second to 366 days.
    pub const INTERVALS_MILLIS: std::ops::RangeInclusive<i64> = 1_000..=31_622_400_000;

    /// The refill, if both numbers are in their ranges.
    pub fn new(amount: i64, interval_millis: i64) -> Option<Refill> {
        (Self::AMOUNTS.contains(&amount) && Self::INTERVALS_MILLIS.contains(&interval_millis))
            .then_some(Refill {
                amount,
                interval_millis,
            })
    }
}

/// A key's usage credits: each successful check spends some; at 0 the key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageCredits {
    /// Credits left as of `refilled_at_millis`'s period: the stored count is what no node has
    /// leased; in answers, a node adds what it leased and has not spent.
    pub remaining_uses: i64,
    /// How the credits refill, if they do.
    pub refill: Option<Refill>,
    /// The start of the refill period `remaining_uses` belongs to (the key's creation at first;
    /// always a period boundary).
    pub refilled_at_millis: EpochMillis,
}

impl UsageCredits {
    /// The most credits a key can hold (10^12).
    pub const MAX_REMAINING: i64 = 1_000_000_000_000;

    /// The start of the period `now` falls in: periods of `refill.interval_millis` counted from
    /// `refilled_at_millis`; without a refill, one period that never ends.
    pub fn period_start(&self, now: EpochMillis) -> EpochMillis {
        match self.refill {
            Some(refill) if now > self.refilled_at_millis => {
                let interval = refill.interval_millis.max(1);
                let periods = (now - self.refilled_at_millis) / interval;
                self.refilled_at_millis
                    .saturating_add(periods.saturating_mul(interval))
            }
            _ => self.refilled_at_millis,
        }
    }

    /// The credits as of `now`: set back to the refill's amount if a period started since
    /// `refilled_at_millis`.
    pub fn refreshed(&self, now: EpochMillis) -> UsageCredits {
        let period = self.period_start(now);
        match self.refill {
            Some(refill) if period != self.refilled_at_millis => UsageCredits {
                remaining_uses: refill.amount,
                refill: Some(refill),
                refilled_at_millis: period,
            },
            _ => *self,
        }
    }
}

/// A key's scopes, metadata, rate limit and usage credits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The scope ids the key carries, each [`is_scope_id`], without repeats, in creation order.
    pub scopes: Vec<String>,
    /// The server-set metadata: a JSON object's text, or `None`.
    pub metadata: Option<String>,
    /// How often the key may be checked; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// How many checks it has left; `None` for unlimited.
    pub usage: Option<UsageCredits>,
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
    fn rate_windows_are_aligned_to_the_epoch() {
        let limit = RateLimit::new(10, 1_000).unwrap();
        assert_eq!(limit.window_at(0), (0, 1_000));
        assert_eq!(limit.window_at(999), (0, 1_000));
        assert_eq!(limit.window_at(1_000), (1_000, 2_000));
        assert_eq!(
            limit.window_at(1_745_000_000_123),
            (1_745_000_000_000, 1_745_000_001_000)
        );
        assert_eq!(limit.window_at(-1), (-1_000, 0));
        assert_eq!(RateLimit::new(0, 1_000), None);
        assert_eq!(RateLimit::new(1, 99), None);
        assert_eq!(RateLimit::new(1, 86_400_001), None);
        assert!(RateLimit::new(1_000_000_000, 86_400_000).is_some());
    }

    #[test]
    fn credits_refill_to_the_amount_at_each_period_boundary() {
        let credits = UsageCredits {
            remaining_uses: 3,
            refill: Refill::new(100, 1_000),
            refilled_at_millis: 5_000,
        };
        assert_eq!(credits.period_start(5_999), 5_000);
        assert_eq!(credits.refreshed(5_999), credits);
        let next = credits.refreshed(6_000);
        assert_eq!((next.remaining_uses, next.refilled_at_millis), (100, 6_000));
        // Periods are counted from the anchor, however late the read.
        assert_eq!(credits.refreshed(9_500).refilled_at_millis, 9_000);
        assert_eq!(
            credits.refreshed(9_500).refreshed(9_900),
            credits.refreshed(9_500)
        );
        // A clock behind the anchor changes nothing.
        assert_eq!(credits.refreshed(4_000), credits);
        // Without a refill, credits never come back.
        let once = UsageCredits {
            refill: None,
            ..credits
        };
        assert_eq!(once.refreshed(1_000_000), once);
        assert_eq!(Refill::new(0, 1_000), None);
        assert_eq!(Refill::new(1, 999), None);
    }

    #[test]
    fn missing_scopes_keep_the_order_asked_without_repeats() {
        let policy = KeyPolicy {
            scopes: vec!["invoices:read".to_owned()],
            ..KeyPolicy::default()
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
