//! Per-address rate limits: on the unauthenticated routes (`POST /api/v1/auth/oauth/token`,
//! `POST /api/v1/integrations/credential-scanning/revoke`) and on failed authentications
//! (project keys presented but wrong, a wrong operator token). Over a limit a request answers
//! **429 `RATE_LIMITED`** with `retry-after` (seconds) and `details.retry_after_millis`.
//!
//! **Key decisions.**
//!
//! * The limiter is [`governor`]'s keyed GCRA (one 8-byte theoretical arrival time per address in
//!   a [`DashMap`]): exact, lock-free per address, no timer per key, and a well-kept crate rather
//!   than hand-rolled counters. Quotas are "`per_minute` cells replenished evenly, at most
//!   `burst` at once".
//! * **Failed authentications are counted, attempts are not.** Before a key is checked the
//!   address's failure budget is *peeked* (a GCRA decision that is not recorded); if one more
//!   failure would be over the budget, the attempt answers 429 before any key is hashed or looked
//!   up, so brute force cannot continue. Only a failure is recorded; a correct key never consumes
//!   the budget. The trade-off: once an address is over its budget, even a correct key from it
//!   answers 429 until the budget refills (a shared NAT address can be locked out by a noisy
//!   neighbour; another address never is).
//! * **Memory is bounded.** At most `max_tracked_addresses` addresses are remembered per limit;
//!   entries whose state is indistinguishable from a fresh one are dropped every minute (and at
//!   most once a second while the store is full). An address that arrives while the store is
//!   full after pruning is judged as fresh and not remembered (fail open: refusing every new
//!   address instead would let an attacker lock everyone out), and a warning is logged.
//! * **The client address** is the TCP peer by default. Forwarding headers are honoured only
//!   from peers inside `trusted_proxies`: then the right-most `X-Forwarded-For` entry that is not
//!   itself a trusted proxy is the client (entries to its left are the client's own claims).
//!   IPv6 addresses are limited per /64, the block one subscriber usually holds; IPv4-mapped IPv6
//!   counts as IPv4. A request without a peer address (a Unix socket, an in-process test) is not
//!   limited.

use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, ResponseError};
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use crate::auth::app_state;
use crate::wire_error::{ApiError, KnownError};

/// How often stale addresses are dropped.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// How often, at most, a full store is pruned early.
const FULL_PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// One limit: `per_minute` requests replenished evenly over a minute, at most `burst` at once.
/// Either being 0 switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests a minute, in the long run.
    pub per_minute: u32,
    /// Requests allowed at once (the bucket's size).
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate {
        per_minute: 0,
        burst: 0,
    };

    fn quota(self) -> Option<Quota> {
        let per_minute = NonZeroU32::new(self.per_minute)?;
        let burst = NonZeroU32::new(self.burst)?;
        Some(Quota::per_minute(per_minute).allow_burst(burst))
    }
}

/// Every rate limit's setting (the binary's `[rate_limits]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `POST /api/v1/auth/oauth/token`, per client address.
    pub oauth_token: Rate,
    /// `POST /api/v1/integrations/credential-scanning/revoke`, per client address.
    pub credential_scanning: Rate,
    /// Failed authentications (wrong project key or operator token), per client address.
    pub failed_auth: Rate,
    /// Addresses each limit remembers at most; 0 switches every limit off.
    pub max_tracked_addresses: usize,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

impl Default for RateLimitSettings {
    /// The defaults of `config/default.toml`.
    fn default() -> Self {
        RateLimitSettings {
            oauth_token: Rate {
                per_minute: 300,
                burst: 100,
            },
            credential_scanning: Rate {
                per_minute: 60,
                burst: 30,
            },
            failed_auth: Rate {
                per_minute: 10,
                burst: 20,
            },
            max_tracked_addresses: 100_000,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// The networks of the reverse proxies in front of keygate (none by default: forwarding headers
/// are then never read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `trusted_proxies` entry that is neither an address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR range (such as 10.0.0.0/8 or fd00::/8)")]
pub struct InvalidProxyRange(String);

impl TrustedProxies {
    /// Parses addresses (`10.1.2.3`) and ranges (`10.0.0.0/8`).
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidProxyRange> {
        entries
            .into_iter()
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map_err(|_| InvalidProxyRange(entry.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the right-most
    /// `X-Forwarded-For` entry that is not a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.0.is_empty() || !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let entries = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for entry in entries.iter().rev() {
            let Ok(address) = IpAddr::from_str(entry.trim()) else {
                // Not an address: whatever is further left cannot be attributed either.
                break;
            };
            client = address.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// What a limiter keys on: an IPv4 address, or the /64 of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of `address`.
    pub fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => AddressKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                AddressKey(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// A decision to take: recorded (a request, a failure) or only looked at (may one more come?).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Decision {
    address: AddressKey,
    record: bool,
}

/// The keyed state: governor's in-memory GCRA state per address, in a bounded [`DashMap`].
/// A [`Decision`] that is not recorded never writes. Shared with the [`AddressLimiter`], which
/// reads the bound and the overflow flag (governor does not hand its store back).
#[derive(Debug, Clone)]
struct BoundedStore(Arc<StoreShared>);

#[derive(Debug)]
struct StoreShared {
    states: DashMap<AddressKey, InMemoryState>,
    max_addresses: usize,
    /// Set when an address could not be remembered since the last prune (for one warning).
    overflowed: AtomicBool,
}

/// A state's theoretical arrival time, read without changing it.
fn arrival_time(state: &InMemoryState) -> u64 {
    match state.measure_and_replace(&NotKeyed::NonKey, |tat| {
        Err::<(Infallible, Nanos), _>(tat.map_or(0, Nanos::as_u64))
    }) {
        Ok(never) => match never {},
        Err(tat) => tat,
    }
}

/// Runs `decide` on `state` without writing the new state.
fn decide_only<T, E>(
    state: Option<&InMemoryState>,
    decide: impl Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
) -> Result<T, E> {
    let Some(state) = state else {
        return decide(None).map(|(result, _)| result);
    };
    match state.measure_and_replace(&NotKeyed::NonKey, |tat| {
        Err::<(Infallible, Nanos), _>(decide(tat).map(|(result, _)| result))
    }) {
        Ok(never) => match never {},
        Err(decision) => decision,
    }
}

impl StateStore for BoundedStore {
    type Key = Decision;

    fn measure_and_replace<T, F, E>(&self, key: &Decision, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let shared = &self.0;
        if !key.record {
            return decide_only(shared.states.get(&key.address).as_deref(), f);
        }
        if shared.states.len() >= shared.max_addresses && !shared.states.contains_key(&key.address)
        {
            shared.overflowed.store(true, Ordering::Relaxed);
            return decide_only(None, f);
        }
        shared.states.measure_and_replace(&key.address, f)
    }
}

impl ShrinkableKeyedStateStore<Decision> for BoundedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        let drop_below = drop_below.as_u64();
        self.0
            .states
            .retain(|_, state| arrival_time(state) > drop_below);
    }

    fn shrink_to_fit(&self) {
        self.0.states.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.states.len()
    }

    fn is_empty(&self) -> bool {
        self.0.states.is_empty()
    }
}

/// Over the limit: how long until the next request can pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl From<RetryAfter> for ApiError {
    fn from(retry: RetryAfter) -> Self {
        KnownError::RateLimited {
            // At least 1 ms, so a client never reads "retry after 0".
            retry_after_millis: (retry.0.as_millis() as u64).max(1),
        }
        .into()
    }
}

/// One per-address limit, bounded in memory.
pub struct AddressLimiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<Decision, BoundedStore, C, NoOpMiddleware<C::Instant>>,
    store: Arc<StoreShared>,
    name: &'static str,
    created: C::Instant,
    /// Nanoseconds after `created` of the last prune.
    last_prune: AtomicU64,
}

impl<C: Clock> fmt::Debug for AddressLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressLimiter")
            .field("name", &self.name)
            .field("tracked", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl<C: Clock> AddressLimiter<C> {
    /// A limiter of `rate` remembering at most `max_addresses`, or `None` when either is 0.
    pub fn new(name: &'static str, rate: Rate, max_addresses: usize, clock: C) -> Option<Self> {
        let quota = rate.quota()?;
        if max_addresses == 0 {
            return None;
        }
        let store = Arc::new(StoreShared {
            states: DashMap::new(),
            max_addresses,
            overflowed: AtomicBool::new(false),
        });
        let created = clock.now();
        Some(AddressLimiter {
            limiter: RateLimiter::new(quota, BoundedStore(Arc::clone(&store)), clock),
            store,
            name,
            created,
            last_prune: AtomicU64::new(0),
        })
    }

    /// Records one request (or failure) of `address`; `Err` when it is over the limit.
    pub fn check(&self, address: AddressKey) -> Result<(), RetryAfter> {
        self.decide(address, true)
    }

    /// Whether one more request (or failure) of `address` would pass, without recording it.
    pub fn peek(&self, address: AddressKey) -> Result<(), RetryAfter> {
        self.decide(address, false)
    }

    /// How many addresses are remembered.
    pub fn tracked_addresses(&self) -> usize {
        self.limiter.len()
    }

    fn decide(&self, address: AddressKey, record: bool) -> Result<(), RetryAfter> {
        self.prune_when_due();
        self.limiter
            .check_key(&Decision { address, record })
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.limiter.clock().now())))
    }

    /// Drops stale addresses every [`PRUNE_INTERVAL`], or every [`FULL_PRUNE_INTERVAL`] while
    /// the store is full; one caller prunes, the others go on.
    fn prune_when_due(&self) {
        let now = self
            .limiter
            .clock()
            .now()
            .duration_since(self.created)
            .as_u64();
        let last = self.last_prune.load(Ordering::Relaxed);
        let interval = if self.limiter.len() >= self.store.max_addresses {
            FULL_PRUNE_INTERVAL
        } else {
            PRUNE_INTERVAL
        };
        if now.saturating_sub(last) < interval.as_nanos() as u64 {
            return;
        }
        if self
            .last_prune
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.prune();
    }

    /// Drops every address whose state is indistinguishable from a fresh one.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        if self.store.overflowed.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                limit = self.name,
                max_tracked_addresses = self.store.max_addresses,
                "rate limit store was full: new addresses went unlimited (raise rate_limits.max_tracked_addresses?)"
            );
        }
    }
}

/// Which per-route limit a route has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedRoute {
    /// `POST /api/v1/auth/oauth/token`.
    OAuthToken,
    /// `POST /api/v1/integrations/credential-scanning/revoke`.
    CredentialScanning,
}

/// Every rate limit of this node (the HTTP state holds one).
#[derive(Debug)]
pub struct RateLimits {
    oauth_token: Option<AddressLimiter>,
    credential_scanning: Option<AddressLimiter>,
    failed_auth: Option<AddressLimiter>,
    trusted_proxies: TrustedProxies,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new(&RateLimitSettings::default())
    }
}

impl RateLimits {
    /// The limits `settings` describe.
    pub fn new(settings: &RateLimitSettings) -> Self {
        let limiter = |name, rate| {
            AddressLimiter::new(
                name,
                rate,
                settings.max_tracked_addresses,
                DefaultClock::default(),
            )
        };
        RateLimits {
            oauth_token: limiter("oauth_token", settings.oauth_token),
            credential_scanning: limiter("credential_scanning", settings.credential_scanning),
            failed_auth: limiter("failed_auth", settings.failed_auth),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// The limited key of the request's client, or `None` without a peer address.
    pub fn client_of(&self, request: &HttpRequest) -> Option<AddressKey> {
        self.client_address_of(request).map(AddressKey::of)
    }

    /// The request's client address (see [`TrustedProxies::client_address`]), or `None`
    /// without a peer address.
    pub fn client_address_of(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr()?.ip();
        Some(self.trusted_proxies.client_address(peer, request.headers()))
    }

    /// Records one request to `route` from the request's client.
    pub fn check_route(&self, route: LimitedRoute, request: &HttpRequest) -> Result<(), ApiError> {
        let limiter = match route {
            LimitedRoute::OAuthToken => &self.oauth_token,
            LimitedRoute::CredentialScanning => &self.credential_scanning,
        };
        match (limiter, self.client_of(request)) {
            (Some(limiter), Some(client)) => limiter.check(client).map_err(|retry| {
                tracing::info!(%client, ?route, "rate limited");
                retry.into()
            }),
            _ => Ok(()),
        }
    }

    /// Before a credential is checked: refuses a client whose failed authentications are
    /// already over the budget (without recording anything).
    pub fn check_failed_auth_budget(&self, request: &HttpRequest) -> Result<(), ApiError> {
        match (&self.failed_auth, self.client_of(request)) {
            (Some(limiter), Some(client)) => limiter.peek(client).map_err(|retry| {
                tracing::info!(%client, "authentication refused: too many failures from this address");
                retry.into()
            }),
            _ => Ok(()),
        }
    }

    /// After a credential was refused: records the failure against the request's client.
    pub fn record_failed_auth(&self, request: &HttpRequest) {
        if let (Some(limiter), Some(client)) = (&self.failed_auth, self.client_of(request)) {
            // Over the budget already: the next attempt is refused by the peek.
            let _ = limiter.check(client);
        }
    }
}

/// Middleware of a rate-limited route (`.wrap(from_fn(limit_oauth_token))`): over the limit,
/// answers 429 before the body is read.
pub async fn limit_oauth_token(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    limit_route(LimitedRoute::OAuthToken, request, next).await
}

/// Middleware of the credential-scanning report (see [`limit_oauth_token`]).
pub async fn limit_credential_scanning(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    limit_route(LimitedRoute::CredentialScanning, request, next).await
}

async fn limit_route<B: MessageBody + 'static>(
    route: LimitedRoute,
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let verdict = app_state(request.request())
        .and_then(|state| state.rate_limits().check_route(route, request.request()));
    match verdict {
        Ok(()) => Ok(next.call(request).await?.map_into_left_body()),
        Err(error) => Ok(request
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

#[cfg(test)]
mod tests;
