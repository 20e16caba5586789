//! Concurrent creates are committed together (`[key_creates]`), yet each gets the answer a
//! create of its own would have had: stored (and checkable, with its audit event), refused at
//! its owner's cap counting the creates committed with it, or its owner not found. On Postgres
//! the creates that queued while the first ones waited are stored with one insert of keys and
//! one of audit events.

use keygate_service::records::AuditFilter;
use keygate_service::Limits;
use keygate_storage::repo::audit_events;

use super::statement_watch::{hold_back_key_lookups, install_recorder, Watch};
use super::*;
use crate::request_body::BodyLimits;

/// What one create in the burst asks for and expects.
struct Create {
    route: &'static str,
    body: Value,
    owner: &'static str,
}

async fn concurrent_creates_are_committed_together(app: &TestApp) {
    let project = app.create_open_project();
    let capped = app.create_user(&project);
    let other = app.create_user(&project);
    let team = app.create_team(&project, &[(&capped, &["team_admin"])]);
    let state = app.state.clone().with_limits(
        Limits {
            max_keys_per_owner: 3,
            ..Limits::default()
        },
        BodyLimits::default(),
    );
    // Warm: the project's authentication is cached.
    app.send_to(
        &state,
        project.server(post_json(
            "/api/v1/user-api-keys",
            user_key_body(other.id, "warm"),
        )),
    )
    .await
    .assert_ok(200);

    let mut creates = Vec::new();
    for n in 0..5 {
        creates.push(Create {
            route: "user",
            body: user_key_body(capped.id, &format!("capped {n}")),
            owner: "capped",
        });
    }
    for n in 0..2 {
        creates.push(Create {
            route: "user",
            body: user_key_body(other.id, &format!("other {n}")),
            owner: "other",
        });
        creates.push(Create {
            route: "team",
            body: team_key_body(team, &format!("team {n}")),
            owner: "team",
        });
    }
    creates.push(Create {
        route: "user",
        body: user_key_body(UserId::new_random(), "nobody"),
        owner: "missing",
    });

    let watch = Watch::start(app);
    // On Postgres the first creates are held back (api_keys locked by another connection for
    // half a second) until every create has queued, so that the rest go together.
    let held_back = app.database().postgres_url().map(hold_back_key_lookups);
    let answers = futures_util::future::join_all(creates.iter().map(|create| {
        app.send_to(
            &state,
            project.server(post_json(
                &format!("/api/v1/{}-api-keys", create.route),
                create.body.clone(),
            )),
        )
    }))
    .await;
    if let Some(holder) = held_back {
        holder.join().expect("the lock holder");
    }
    let statements = watch.take();

    let mut stored = Vec::new();
    let mut capped_stored = 0;
    for (create, answer) in creates.iter().zip(&answers) {
        match (create.owner, answer.status.as_u16()) {
            ("missing", _) => answer.assert_known_error(404, "USER_NOT_FOUND"),
            ("capped", 409) => answer.assert_known_error(409, "API_KEY_LIMIT_REACHED"),
            (owner, _) => {
                let created = answer.assert_ok(200);
                assert_eq!(created["description"], create.body["description"]);
                capped_stored += usize::from(owner == "capped");
                stored.push((create.route, key_id(&created), key_value(&created)));
            }
        }
    }
    assert_eq!(
        capped_stored, 3,
        "exactly the cap is stored for the capped user"
    );
    assert_eq!(stored.len(), 3 + 2 + 2);

    // Each stored key is what its answer said: it checks, and its creation is audited once.
    let mut conn = app.database().conn();
    for (route, id, value) in &stored {
        let checked = app
            .send(check_request(&project, route, value))
            .await
            .assert_ok(200);
        assert_eq!(checked["id"], id.as_str());
        let events = audit_events::list_page(
            &mut conn,
            project.record.id,
            &AuditFilter {
                object_id: Some(id.clone()),
                ..AuditFilter::default()
            },
            None,
            10,
        )
        .unwrap();
        assert_eq!(events.len(), 1, "{route} key {id}");
        assert_eq!(events[0].action, format!("{route}_api_key.created"));
    }
    let listed = app
        .send(project.server(get(&format!("/api/v1/user-api-keys?user_id={}", capped.id))))
        .await
        .assert_ok(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);

    if app.database().backend() == keygate_storage::Backend::Postgres {
        let inserts = |table: &str| {
            statements
                .iter()
                .filter(|s| s.starts_with(&format!("INSERT INTO \"{table}\"")))
                .count()
        };
        // The two creates that started a runner each waited for the lock alone; every other
        // create queued meanwhile and was stored by one transaction after it.
        assert!(
            inserts("api_keys") <= 3,
            "{} keys took {} inserts: {statements:#?}",
            stored.len(),
            inserts("api_keys")
        );
        assert!(inserts("audit_events") <= 3, "{statements:#?}");
    }
}

mod concurrent_creates_are_committed_together_and_answered_one_by_one {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        install_recorder();
        concurrent_creates_are_committed_together(&TestApp::sqlite()).await;
    }

    #[actix_web::test]
    async fn postgres() {
        install_recorder();
        match TestApp::postgres() {
            Some(app) => concurrent_creates_are_committed_together(&app).await,
            None => eprintln!(
                "skipped {}::postgres: {} is not set",
                module_path!(),
                keygate_storage::testing::POSTGRES_URL_ENV
            ),
        }
    }
}
