//! `GET /api/v1/api-key-changes` (keygate's own; server and admin access): the project's key
//! changes as server-sent events, so that a protected service's client (`keygate-client`) can
//! keep verified key rows and drop each one the moment keygate changes it.
//!
//! The stream opens with `event: ready` (its data: `{"heartbeat_millis": N}`), then sends
//! `event: changed` with the comma-separated ids of the keys that changed or were deleted, and a
//! comment line (`:`) every heartbeat while there is nothing to say. It is fed by
//! [`KeyChangeFeed`](keygate_service::key_change_feed::KeyChangeFeed), which ends it whenever
//! the node might miss a change (its Postgres listener is down, the stream fell behind, the node
//! is shutting down): a client treats the end of the stream, or three heartbeats of silence, as
//! "trust nothing cached" until it has reconnected. While the node cannot follow every change,
//! or serves `key_change_feed.max_subscribers` streams, it answers 503 with `retry-after`.

use std::time::Duration;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream::{self, StreamExt};
use keygate_domain::ApiKeyId;
use keygate_permissions::authorize_key_change_feed;
use keygate_service::key_change_feed::KeyChangeSubscription;

use crate::auth::RequestAuth;
use crate::state::AppState;
use crate::validation::RequestCheck;
use crate::wire_error::ApiError;

/// The route's path.
pub(super) const PATH: &str = "/api/v1/api-key-changes";

/// Opens the project's stream of key changes.
pub(super) async fn follow(
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_key_change_feed(&auth.caller())?;
    let mut check = RequestCheck::new(&request);
    let query = check.query(|_| ());
    check.finish(query)?;

    let feed = state.service().key_change_feed();
    let subscription = feed
        .subscribe(auth.project_id())
        .map_err(|refused| ApiError::unavailable(&refused))?;
    let heartbeat = feed.settings().heartbeat;
    let ready = Bytes::from(format!(
        "retry: 1000\nevent: ready\ndata: {{\"heartbeat_millis\":{}}}\n\n",
        heartbeat.as_millis()
    ));
    let events = stream::once(async move { Ok::<_, actix_web::Error>(ready) })
        .chain(changes(subscription, heartbeat).map(Ok));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        // Proxies such as nginx would otherwise hold events back in their buffers.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events))
}

/// The events after `ready`: each change as it comes, a heartbeat while there is none, and the
/// end of the stream when the subscription ends.
fn changes(
    subscription: KeyChangeSubscription,
    heartbeat: Duration,
) -> impl futures_util::Stream<Item = Bytes> {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold(
        (subscription, ticks),
        |(mut subscription, mut ticks)| async move {
            // `next` is cancel-safe: a heartbeat never loses a change.
            let event = tokio::select! {
                changed = subscription.next() => changed_event(&changed?),
                _ = ticks.tick() => Bytes::from_static(b":\n\n"),
            };
            Some((event, (subscription, ticks)))
        },
    )
}

/// `event: changed` with the ids, comma-separated.
fn changed_event(ids: &[ApiKeyId]) -> Bytes {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Bytes::from(format!("event: changed\ndata: {}\n\n", ids.join(",")))
}
