//! `GET /api/v1/api-key-changes` (issue 15, item 3): a server's stream of its project's key
//! changes — every revoke, rotation and owner deletion, nothing of other projects — and a stream
//! that ends, rather than goes quiet, whenever the node might miss a change.

use std::pin::Pin;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::test as actix_test;
use keygate_service::key_change_feed::KeyChangeFeedSettings;

use super::*;
use crate::app::build_app;
use crate::routes::test_requests::assert_schema_error;
use crate::state::AppState;

const PATH: &str = "/api/v1/api-key-changes";

/// An open stream's events, as a client reads them.
struct EventStream {
    body: BoxBody,
    buffer: String,
}

/// One event: its name and data (`None`, `None` for a heartbeat comment).
#[derive(Debug, PartialEq)]
struct Event {
    name: Option<String>,
    data: Option<String>,
}

impl EventStream {
    /// Opens the stream on an app over `state`; panics unless it answers 200 as an event stream.
    async fn open(state: &AppState, request: TestRequest) -> EventStream {
        let service = actix_test::init_service(build_app(state.clone())).await;
        let response = actix_test::call_service(&service, request.to_request()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
        EventStream {
            body: response.into_body().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event within two seconds; `None` when the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .map(str::to_owned)
                };
                return Some(Event {
                    name: field("event: "),
                    data: field("data: "),
                });
            }
            let chunk = tokio::time::timeout(
                Duration::from_secs(2),
                std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_next(cx)),
            )
            .await
            .expect("the stream says something within two seconds")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    }

    /// The data of the next `changed` event, skipping heartbeats.
    async fn next_change(&mut self) -> String {
        loop {
            let event = self.next().await.expect("the stream goes on");
            if event.name.as_deref() == Some("changed") {
                return event.data.unwrap();
            }
            assert_eq!(
                event,
                Event {
                    name: None,
                    data: None
                },
                "only heartbeats between changes"
            );
        }
    }
}

/// Opens the project's stream with server access and reads its `ready` event.
async fn follow(app: &TestApp, project: &TestProject) -> EventStream {
    let mut stream = EventStream::open(&app.state, project.server(get(PATH))).await;
    let ready = stream.next().await.unwrap();
    assert_eq!(ready.name.as_deref(), Some("ready"));
    assert_eq!(ready.data.as_deref(), Some(r#"{"heartbeat_millis":250}"#));
    stream
}

crate::http_tests! {
    fn a_stream_hears_every_change_of_its_projects_keys_and_nothing_else(app) {
        let project = app.create_open_project();
        let other = app.create_open_project();
        let user = app.create_user(&project);
        let stranger = app.create_user(&other);
        let mut stream = follow(app, &project).await;

        // Creating a key changes nothing a client could have cached.
        let first = server_user_key(app, &project, user.id, "first").await;
        let second = server_user_key(app, &project, user.id, "second").await;
        let theirs = server_user_key(app, &other, stranger.id, "theirs").await;
        let revoke = |id: &str| patch_json(&format!("/api/v1/user-api-keys/{id}"), json!({"revoked": true}));
        app.send(other.server(revoke(&key_id(&theirs)))).await.assert_ok(200);
        app.send(project.server(revoke(&key_id(&first)))).await.assert_ok(200);
        assert_eq!(stream.next_change().await, key_id(&first), "the other project's revoke is not told");

        app.send(project.server(post_json(
            &format!("/api/v1/user-api-keys/{}/rotate", key_id(&second)),
            json!({"grace_period_millis": 0}),
        )))
        .await
        .assert_ok(200);
        assert_eq!(stream.next_change().await, key_id(&second));

        app.send(project.server(patch_json(
            &format!("/api/v1/user-api-keys/{}", key_id(&second)),
            json!({"description": "renamed"}),
        )))
        .await
        .assert_ok(200);
        assert_eq!(stream.next_change().await, key_id(&second));

        // Deleting the owner deletes its keys: each is told.
        let mut ids: Vec<String> = app
            .send(project.server(get(&format!("/api/v1/user-api-keys?user_id={}", user.id))))
            .await
            .assert_ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(key_id)
            .collect();
        app.send(project.server(TestRequest::delete().uri(&format!("/api/v1/users/{}", user.id))))
            .await
            .assert_ok(200);
        let mut told: Vec<String> = stream.next_change().await.split(',').map(str::to_owned).collect();
        ids.sort();
        told.sort();
        assert_eq!(told, ids);
    }

    fn only_server_and_admin_access_follow_and_nothing_else_is_read(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        app.send(project.client(get(PATH))).await.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
        app.send(user.signed_in(project.client(get(PATH))))
            .await
            .assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
        app.send(get(PATH)).await.assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        let answer = app.send(project.server(get(&format!("{PATH}?since=0")))).await;
        assert_schema_error(&answer, "GET", PATH, &["query contains unknown properties: since"]);

        let mut admin = EventStream::open(&app.state, project.admin(get(PATH))).await;
        assert_eq!(admin.next().await.unwrap().name.as_deref(), Some("ready"));
        // And with nothing to tell, it says it is still there.
        assert_eq!(admin.next().await, Some(Event { name: None, data: None }));
    }

    fn a_node_that_may_miss_changes_ends_its_streams_and_opens_none(app) {
        let project = app.create_open_project();
        let mut stream = follow(app, &project).await;
        let feed = app.service().key_change_feed();
        feed.set_following(false);
        assert_eq!(stream.next().await, None, "the stream ends: the client must stop trusting");
        let refused = app.send(project.server(get(PATH))).await;
        assert_eq!(refused.status, 503);
        assert_eq!(refused.header("retry-after"), Some("1"));

        feed.set_following(true);
        let mut again = follow(app, &project).await;
        let user = app.create_user(&project);
        let key = server_user_key(app, &project, user.id, "after").await;
        app.send(project.server(patch_json(&format!("/api/v1/user-api-keys/{}", key_id(&key)), json!({"revoked": true}))))
            .await
            .assert_ok(200);
        assert_eq!(again.next_change().await, key_id(&key));
    }

    fn streams_are_capped_per_node(app) {
        let project = app.create_open_project();
        let state = app.state.clone().with_key_change_feed(KeyChangeFeedSettings {
            max_subscribers: 1,
            ..KeyChangeFeedSettings::default()
        });
        let first = EventStream::open(&state, project.server(get(PATH))).await;
        let refused = app.send_to(&state, project.server(get(PATH))).await;
        assert_eq!(refused.status, 503);
        drop(first);
        let mut second = EventStream::open(&state, project.server(get(PATH))).await;
        assert_eq!(second.next().await.unwrap().name.as_deref(), Some("ready"));
    }
}
