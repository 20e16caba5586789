//! A real keygate for the client's tests: keygate's own HTTP app (`keygate_http::app`) served on
//! a local port over a fresh SQLite database, with an open project.

// Each test crate uses a part of it.
#![allow(dead_code)]

use actix_web::HttpServer;
use keygate_client::KeygateClient;
use keygate_http::testing::{TestApp, TestProject};

/// keygate listening on a port, and a project in it.
#[derive(Debug)]
pub struct Keygate {
    /// The app (its clock, database and direct requests).
    pub app: TestApp,
    /// The open project the client acts for.
    pub project: TestProject,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    server: actix_web::dev::ServerHandle,
}

impl Keygate {
    /// Starts keygate on a free port (call inside an actix runtime).
    pub fn start() -> Keygate {
        let app = TestApp::sqlite();
        let project = app.create_open_project();
        let state = app.state.clone();
        let server = HttpServer::new(move || keygate_http::app::build_app(state.clone()))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind a port");
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Keygate {
            app,
            project,
            base_url: format!("http://{address}"),
            server: handle,
        }
    }

    /// Stops the server at once, closing every connection.
    pub async fn stop(&self) {
        self.server.stop(false).await;
    }

    /// Declares the project's scope catalogue (admin access).
    pub async fn declare_scopes(&self, scopes: &[&str]) {
        let catalogue: Vec<serde_json::Value> = scopes
            .iter()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        self.app
            .send(
                self.project.admin(
                    actix_web::test::TestRequest::patch()
                        .uri("/api/v1/internal/projects/current")
                        .set_json(serde_json::json!({"config": {"api_key_scopes": catalogue}})),
                ),
            )
            .await
            .assert_ok(200);
    }

    /// A client of this keygate for the project.
    pub fn client(&self) -> KeygateClient {
        KeygateClient::builder(
            self.base_url.clone(),
            self.project.id().to_string(),
            self.project.secret_server_key.clone(),
        )
        .build()
        .expect("a client")
    }
}
