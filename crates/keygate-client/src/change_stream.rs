//! Following keygate's stream of the project's key changes (`GET /api/v1/api-key-changes`,
//! server-sent events) for [local verification](crate::local_verification).
//!
//! One task per client, started by its first check: it opens the stream, marks the kept rows
//! trusted at the stream's `ready` event, drops each changed key's row as its `changed` event
//! arrives, and notes every heartbeat. When the stream ends, fails, or stays silent for three
//! heartbeats, it drops every row and reconnects (after 100 ms, doubling up to 5 s while keygate
//! cannot be reached). The task holds the rows only weakly: it ends once the client is dropped.
//! It runs on the runtime of the check that started it; if that runtime stops, the rows are
//! distrusted and the next check starts another task.

use std::sync::{Arc, Weak};
use std::time::Duration;

use keygate_domain::ApiKeyId;
use reqwest::header::{HeaderValue, ACCEPT};
use serde::Deserialize;
use url::Url;

use crate::local_verification::KeptKeys;

/// The stream's path, under the base URL.
pub(crate) const PATH: &str = "api/v1/api-key-changes";

/// How long the stream may take to say `ready`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// The first wait before reconnecting, and the longest.
const RECONNECT_DELAY: Duration = Duration::from_millis(100);
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// The `ready` event's data.
#[derive(Debug, Deserialize)]
struct Ready {
    heartbeat_millis: u64,
}

/// One event of the stream.
#[derive(Debug, PartialEq)]
enum StreamEvent {
    Ready {
        heartbeat: Duration,
    },
    Changed(Vec<ApiKeyId>),
    /// A heartbeat, or an event this client does not know.
    Other,
}

/// Why one session of following ended.
#[derive(Debug, thiserror::Error)]
enum StreamEnd {
    #[error("the client was dropped")]
    ClientGone,
    #[error("keygate ended the stream")]
    Ended,
    #[error("no word from the stream in {0:?}")]
    Silent(Duration),
    #[error("keygate answered {0}")]
    Refused(reqwest::StatusCode),
    #[error("the stream sent something that is not an event stream: {0}")]
    Garbled(String),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// Tells the kept rows when their follower ends, however it ends: returned at the client's
/// drop, or dropped with its runtime.
struct FollowerGuard(Weak<KeptKeys>);

impl Drop for FollowerGuard {
    fn drop(&mut self) {
        if let Some(kept) = self.0.upgrade() {
            kept.follower_stopped();
        }
    }
}

/// Follows the stream at `url` with `http` (whose default headers authenticate) for `rows`,
/// until the client is dropped (or the runtime it runs on stops; the next check starts another).
pub(crate) async fn follow(http: reqwest::Client, url: Url, rows: Weak<KeptKeys>) {
    let _guard = FollowerGuard(rows.clone());
    let mut delay = RECONNECT_DELAY;
    loop {
        let mut opened = false;
        let end = follow_once(&http, &url, &rows, &mut opened).await;
        let Some(kept) = rows.upgrade() else { return };
        kept.closed();
        drop(kept);
        match end {
            StreamEnd::ClientGone => return,
            StreamEnd::Ended => {
                tracing::debug!("keygate ended the key-change stream; reconnecting")
            }
            end => tracing::warn!(
                error = %end,
                "lost keygate's key-change stream: checks go to keygate until it is back"
            ),
        }
        delay = if opened {
            RECONNECT_DELAY
        } else {
            (delay * 2).min(MAX_RECONNECT_DELAY)
        };
        tokio::time::sleep(delay).await;
    }
}

/// One session: connect, read events until the stream ends or fails. `opened` tells whether
/// it got as far as `ready`.
async fn follow_once(
    http: &reqwest::Client,
    url: &Url,
    rows: &Weak<KeptKeys>,
    opened: &mut bool,
) -> StreamEnd {
    let request = http
        .get(url.clone())
        .header(ACCEPT, HeaderValue::from_static("text/event-stream"));
    let mut response = match tokio::time::timeout(OPEN_TIMEOUT, request.send()).await {
        Err(_) => return StreamEnd::Silent(OPEN_TIMEOUT),
        Ok(Err(error)) => return error.into(),
        Ok(Ok(response)) => response,
    };
    if !response.status().is_success() {
        return StreamEnd::Refused(response.status());
    }
    let mut buffer = String::new();
    let mut patience = OPEN_TIMEOUT;
    loop {
        let chunk = match tokio::time::timeout(patience, response.chunk()).await {
            Err(_) => return StreamEnd::Silent(patience),
            Ok(Err(error)) => return error.into(),
            Ok(Ok(None)) => return StreamEnd::Ended,
            Ok(Ok(Some(chunk))) => chunk,
        };
        let Some(kept) = rows.upgrade() else {
            return StreamEnd::ClientGone;
        };
        match std::str::from_utf8(&chunk) {
            Ok(text) => buffer.push_str(text),
            Err(error) => return StreamEnd::Garbled(error.to_string()),
        }
        kept.heard();
        while let Some(event) = next_event(&mut buffer) {
            match event {
                Ok(StreamEvent::Ready { heartbeat }) => {
                    kept.opened(heartbeat);
                    patience = heartbeat * 3;
                    *opened = true;
                }
                Ok(StreamEvent::Changed(ids)) => kept.changed(ids),
                Ok(StreamEvent::Other) => {}
                Err(error) => return StreamEnd::Garbled(error),
            }
        }
        drop::<Arc<KeptKeys>>(kept);
    }
}

/// Takes the first complete event (up to a blank line) out of `buffer`.
fn next_event(buffer: &mut String) -> Option<Result<StreamEvent, String>> {
    let end = buffer.find("\n\n")?;
    let block: String = buffer.drain(..end + 2).collect();
    let mut name = None;
    let mut data = None;
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim());
        } else if let Some(value) = line.strip_prefix("data:") {
            data = Some(value.trim());
        }
    }
    Some(match (name, data) {
        (Some("ready"), Some(data)) => serde_json::from_str::<Ready>(data)
            .map(|ready| StreamEvent::Ready {
                heartbeat: Duration::from_millis(ready.heartbeat_millis),
            })
            .map_err(|error| format!("a ready event: {error}")),
        (Some("changed"), Some(data)) => data
            .split(',')
            .map(|id| id.parse::<ApiKeyId>())
            .collect::<Result<Vec<_>, _>>()
            .map(StreamEvent::Changed)
            .map_err(|error| format!("a changed event: {error}")),
        _ => Ok(StreamEvent::Other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_whole_and_in_order() {
        let (a, b) = (ApiKeyId::new_random(), ApiKeyId::new_random());
        let mut buffer = format!(
            "retry: 1000\nevent: ready\ndata: {{\"heartbeat_millis\":250}}\n\n:\n\nevent: changed\ndata: {a},{b}\n\nevent: chan"
        );
        assert_eq!(
            next_event(&mut buffer),
            Some(Ok(StreamEvent::Ready {
                heartbeat: Duration::from_millis(250)
            }))
        );
        assert_eq!(next_event(&mut buffer), Some(Ok(StreamEvent::Other)));
        assert_eq!(
            next_event(&mut buffer),
            Some(Ok(StreamEvent::Changed(vec![a, b])))
        );
        assert_eq!(
            next_event(&mut buffer),
            None,
            "an event is complete only at its blank line"
        );
        buffer.push_str(&format!("ged\ndata: {a}\n\n"));
        assert_eq!(
            next_event(&mut buffer),
            Some(Ok(StreamEvent::Changed(vec![a])))
        );
    }

    #[test]
    fn an_event_the_client_cannot_read_is_an_error_not_a_skip() {
        let mut buffer = "event: changed\ndata: not-an-id\n\n".to_owned();
        assert!(matches!(next_event(&mut buffer), Some(Err(_))));
    }
}
