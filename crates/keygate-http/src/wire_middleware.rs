//! What every request and response goes through (contract B1 and A6): one middleware.
//!
//! [`wire_conventions`] (wrap it outermost: `App::new().wrap(from_fn(wire_conventions))`):
//!
//! * gives every response a random `x-stack-request-id` (also stored in the request's extensions
//!   as [`RequestId`] and recorded on the request's `tracing` span) and
//!   `cache-control: no-store, max-age=0` (unless the handler chose a cache policy itself) and
//!   `x-content-type-options: nosniff`;
//! * with `x-stack-override-error-status` (or its `x-hexclave-` alias) set to any non-empty
//!   value, turns a 4xx into a 200 carrying `x-stack-actual-status: <status>`, as upstream does
//!   for clients that cannot read error bodies;
//! * catches a panic in a handler and answers 500 with
//!   [`INTERNAL_MESSAGE`](crate::wire_error::INTERNAL_MESSAGE) (and the headers above) instead
//!   of dropping the connection. A panic is a bug (the contract allows no 5xx for client input),
//!   so it is logged at `error` with its message; the worker keeps serving other requests.
//!   Catching is sound here because a request's own state dies with it and handlers share only
//!   state built for concurrent use (pools, configuration); a `std::sync::Mutex` poisoned by the
//!   panic surfaces later as an internal error rather than as silent corruption. The binary must
//!   keep the default `panic = "unwind"` for this to work;
//! * counts and times every answer in the metrics, when they are on ([`crate::metrics`]), with
//!   the handler's status (an error answered as 200 under the override still counts as the
//!   error), errors and panics that escaped every handler included;
//! * logs one line per request with `tracing` (method, path without query, status, duration),
//!   instead of actix's `Logger`, so logs share the process's subscriber and never contain query
//!   values or headers (which may hold keys and tokens).
//!
//! Unknown routes answer [`not_found`](crate::responses::not_found) (upstream's plain-text 404)
//! and a known path with a method it does not serve answers
//! [`method_not_allowed`](crate::responses::method_not_allowed); register them as the app's and
//! each resource's default service.
//!
//! Handlers must read client input only through keygate's own extractors
//! ([`crate::request_body::RequestBody`], [`crate::validation::RequestCheck`]) so that every
//! refusal has upstream's shape; actix's `Json`/`Query`/`Path` extractors answer in their own.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};

use tracing::Instrument;

use crate::metrics::ESCAPED_ROUTE;
use crate::stack_headers::{stack_header, OVERRIDE_ERROR_STATUS};
use crate::state::AppState;
use crate::wire_error::ApiError;

/// Response header with the request's random id.
pub const REQUEST_ID_HEADER: &str = "x-stack-request-id";

/// Response header with the real status when `x-stack-override-error-status` turned it into 200.
pub const ACTUAL_STATUS_HEADER: &str = "x-stack-actual-status";

/// `cache-control` of every response: API answers are never cached.
pub const NO_STORE: &str = "no-store, max-age=0";

/// The random id of one request, as sent in `x-stack-request-id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id: 32 random lowercase hex digits.
    pub fn new_random() -> Self {
        RequestId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id of a request that went through [`wire_conventions`].
    pub fn of(request: &HttpRequest) -> Option<RequestId> {
        request.extensions().get::<RequestId>().cloned()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Polls a future, turning a panic during a poll into an `Err` with the panic payload.
struct CatchUnwind<F: Future> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.get_mut().inner.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            // The inner future is never polled again: this future is complete.
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(non-text panic payload)"
    }
}

/// `x-content-type-options` of every response: browsers must not guess a content type (a
/// plain-text answer echoing a path is never run as HTML or script).
pub const NOSNIFF: &str = "nosniff";

/// Stamps the conventions onto a response: request id, `cache-control`, `nosniff`, error-status
/// override.
fn apply_conventions<B>(
    response: &mut HttpResponse<B>,
    request_id: &RequestId,
    override_errors: bool,
) {
    let status = response.status();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static(NOSNIFF),
    );
    if override_errors && status.is_client_error() {
        headers.insert(
            HeaderName::from_static(ACTUAL_STATUS_HEADER),
            HeaderValue::from(status.as_u16()),
        );
        *response.status_mut() = StatusCode::OK;
    }
}

/// What escaped the app instead of a response: a panic, or an error no handler turned into a
/// response. Rendered by actix's dispatcher through [`ResponseError`], with the conventions
/// applied. (The middleware cannot build a `ServiceResponse` itself here: that needs the
/// request, which it may not keep a handle on while the router still has to match it.)
#[derive(Debug)]
struct EscapedFailure {
    request_id: RequestId,
    override_errors: bool,
    failure: Failure,
}

#[derive(Debug)]
enum Failure {
    Panic,
    Error(actix_web::Error),
}

impl fmt::Display for EscapedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::Panic => f.write_str("a handler panicked"),
            Failure::Error(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl ResponseError for EscapedFailure {
    fn status_code(&self) -> StatusCode {
        self.error_response().status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = match &self.failure {
            Failure::Panic => ApiError::Internal.error_response(),
            Failure::Error(error) => error.error_response(),
        };
        apply_conventions(&mut response, &self.request_id, self.override_errors);
        response
    }
}

/// The middleware described in the module documentation; use with
/// `actix_web::middleware::from_fn(wire_conventions)`.
///
/// A panic, or an error that escaped every handler, comes back as `Err`: actix's dispatcher
/// renders it (500 with [`INTERNAL_MESSAGE`](crate::wire_error::INTERNAL_MESSAGE) for a panic)
/// with the same headers as any other response.
pub async fn wire_conventions(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = RequestId::new_random();
    request.extensions_mut().insert(request_id.clone());
    let override_errors = stack_header(request.headers(), &OVERRIDE_ERROR_STATUS)
        .is_some_and(|value| !value.is_empty());
    let span = tracing::info_span!(
        "request",
        request_id = request_id.as_str(),
        method = %request.method(),
        path = request.path(),
    );
    // Metrics, when on (the route is read from the response's request, after routing).
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.metrics().cloned());

    let outcome = CatchUnwind {
        inner: Box::pin(next.call(request)),
    }
    .instrument(span.clone())
    .await;
    let failure = match outcome {
        Ok(Ok(response)) => {
            let mut response = response.map_into_boxed_body();
            let status = response.status();
            apply_conventions(response.response_mut(), &request_id, override_errors);
            log_finished(&span, status, started);
            if let Some(metrics) = metrics {
                metrics.observe_request(response.request(), status.as_u16(), started);
            }
            return Ok(response);
        }
        Ok(Err(error)) => Failure::Error(error),
        Err(payload) => {
            tracing::error!(
                parent: &span,
                panic = panic_message(payload.as_ref()),
                "handler panicked (a bug); answering 500"
            );
            Failure::Panic
        }
    };
    let escaped = EscapedFailure {
        request_id,
        override_errors,
        failure,
    };
    let status = match &escaped.failure {
        Failure::Panic => StatusCode::INTERNAL_SERVER_ERROR,
        Failure::Error(error) => error.as_response_error().status_code(),
    };
    log_finished(&span, status, started);
    if let Some(metrics) = metrics {
        // The request went with the failure: its route is not known.
        metrics.observe_route(ESCAPED_ROUTE, status.as_u16(), started);
    }
    Err(actix_web::Error::from(escaped))
}

fn log_finished(span: &tracing::Span, status: StatusCode, started: Instant) {
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if status.is_server_error() {
        tracing::warn!(parent: span, status = status.as_u16(), elapsed_ms, "request failed");
    } else {
        tracing::info!(parent: span, status = status.as_u16(), elapsed_ms, "request finished");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responses::{json_response, method_not_allowed, not_found};
    use crate::wire_error::JSON_CONTENT_TYPE;
    use crate::wire_error::{KnownError, INTERNAL_MESSAGE, KNOWN_ERROR_HEADER, TEXT_CONTENT_TYPE};
    use actix_web::middleware::from_fn;
    use actix_web::{test as actix_test, web, App};

    async fn missing_key() -> Result<HttpResponse, ApiError> {
        Err(KnownError::ApiKeyNotFound.into())
    }

    async fn ok() -> Result<HttpResponse, ApiError> {
        json_response(StatusCode::OK, &serde_json::json!({"success": true}))
    }

    async fn cached() -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "max-age=60"))
            .finish()
    }

    async fn boom() -> HttpResponse {
        panic!("boom in a handler")
    }

    async fn outage() -> Result<HttpResponse, ApiError> {
        Err(ApiError::unavailable(&std::io::Error::other(
            "database is down",
        )))
    }

    async fn echo_request_id(request: HttpRequest) -> HttpResponse {
        HttpResponse::Ok().body(RequestId::of(&request).map(|id| id.0).unwrap_or_default())
    }

    macro_rules! app {
        () => {
            actix_test::init_service(
                App::new()
                    .wrap(from_fn(wire_conventions))
                    .service(
                        web::resource("/keys")
                            .route(web::get().to(missing_key))
                            .default_service(web::to(method_not_allowed)),
                    )
                    .route("/ok", web::get().to(ok))
                    .route("/cached", web::get().to(cached))
                    .route("/boom", web::get().to(boom))
                    .route("/outage", web::get().to(outage))
                    .route("/id", web::get().to(echo_request_id))
                    .default_service(web::to(not_found)),
            )
            .await
        };
    }

    fn header<'a>(response: &'a ServiceResponse<impl MessageBody>, name: &str) -> Option<&'a str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[actix_web::test]
    async fn every_response_has_a_request_id_and_no_store() {
        let app = app!();
        let first =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/ok").to_request())
                .await;
        let second =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/ok").to_request())
                .await;
        assert_eq!(first.status(), 200);
        assert_eq!(header(&first, "content-type"), Some(JSON_CONTENT_TYPE));
        assert_eq!(header(&first, "cache-control"), Some(NO_STORE));
        let id = header(&first, REQUEST_ID_HEADER).unwrap().to_owned();
        assert_eq!(id.len(), 32);
        assert_ne!(Some(id.as_str()), header(&second, REQUEST_ID_HEADER));
        assert_eq!(actix_test::read_body(first).await, r#"{"success":true}"#);

        let not_found = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/nope").to_request(),
        )
        .await;
        assert!(header(&not_found, REQUEST_ID_HEADER).is_some());
        assert_eq!(header(&not_found, "cache-control"), Some(NO_STORE));
    }

    #[actix_web::test]
    async fn every_answer_carries_nosniff() {
        let app = app!();
        // A success, a known error, a plain 405 and 404, an outage and a panic.
        for (method, path, status) in [
            ("GET", "/ok", 200),
            ("GET", "/keys", 404),
            ("POST", "/keys", 405),
            ("GET", "/nope", 404),
            ("GET", "/outage", 503),
            ("GET", "/boom", 500),
        ] {
            let request = actix_test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(path)
                .to_request();
            let response = match actix_test::try_call_service(&app, request).await {
                Ok(response) => response.map_into_boxed_body(),
                Err(error) => ServiceResponse::new(
                    actix_test::TestRequest::default().to_http_request(),
                    error.error_response(),
                ),
            };
            assert_eq!(response.status().as_u16(), status, "{method} {path}");
            assert_eq!(
                header(&response, "x-content-type-options"),
                Some(NOSNIFF),
                "{method} {path}"
            );
        }
    }

    #[actix_web::test]
    async fn handlers_see_the_same_request_id() {
        let app = app!();
        let response =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/id").to_request())
                .await;
        let id = header(&response, REQUEST_ID_HEADER).unwrap().to_owned();
        assert_eq!(actix_test::read_body(response).await, id);
    }

    #[actix_web::test]
    async fn a_handlers_own_cache_policy_is_kept() {
        let app = app!();
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/cached").to_request(),
        )
        .await;
        assert_eq!(header(&response, "cache-control"), Some("max-age=60"));
    }

    #[actix_web::test]
    async fn override_error_status_turns_4xx_into_200() {
        let app = app!();
        for name in [
            "x-stack-override-error-status",
            "x-hexclave-override-error-status",
        ] {
            let request = actix_test::TestRequest::get()
                .uri("/keys")
                .insert_header((name, "true"))
                .to_request();
            let response = actix_test::call_service(&app, request).await;
            assert_eq!(response.status(), 200, "{name}");
            assert_eq!(header(&response, ACTUAL_STATUS_HEADER), Some("404"));
            assert_eq!(
                header(&response, KNOWN_ERROR_HEADER),
                Some("API_KEY_NOT_FOUND")
            );
            let json: serde_json::Value = actix_test::read_body_json(response).await;
            assert_eq!(json["code"], "API_KEY_NOT_FOUND");
        }

        let plain = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/keys").to_request(),
        )
        .await;
        assert_eq!(plain.status(), 404);
        assert!(header(&plain, ACTUAL_STATUS_HEADER).is_none());

        let success = actix_test::TestRequest::get()
            .uri("/ok")
            .insert_header(("x-stack-override-error-status", "true"));
        let success = actix_test::call_service(&app, success.to_request()).await;
        assert_eq!(success.status(), 200);
        assert!(header(&success, ACTUAL_STATUS_HEADER).is_none());

        let outage = actix_test::TestRequest::get()
            .uri("/outage")
            .insert_header(("x-stack-override-error-status", "true"));
        let outage = actix_test::call_service(&app, outage.to_request()).await;
        assert_eq!(outage.status(), 503, "only client errors are overridden");
    }

    #[actix_web::test]
    async fn unknown_routes_and_methods_answer_in_plain_text() {
        let app = app!();
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/api/v1/nope?x=1")
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), 404);
        assert_eq!(header(&response, "content-type"), Some(TEXT_CONTENT_TYPE));
        assert!(header(&response, KNOWN_ERROR_HEADER).is_none());
        let text = String::from_utf8(actix_test::read_body(response).await.to_vec()).unwrap();
        assert!(
            text.starts_with("404 — this page does not exist in keygate's API."),
            "{text}"
        );
        assert!(text.ends_with("/api/v1/nope?x=1"), "{text}");

        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::delete().uri("/keys").to_request(),
        )
        .await;
        assert_eq!(response.status(), 405);
        assert_eq!(actix_test::read_body(response).await, "Method not allowed");
    }

    #[actix_web::test]
    async fn a_panicking_handler_becomes_a_500_with_the_usual_headers() {
        let app = app!();
        let request = actix_test::TestRequest::get()
            .uri("/boom")
            .insert_header(("x-stack-override-error-status", "true"))
            .to_request();
        let Err(error) = actix_test::try_call_service(&app, request).await else {
            panic!("the panic escapes as an error");
        };
        let response = error.error_response();
        assert_eq!(response.status(), 500, "a 5xx is never overridden");
        assert_eq!(error.as_response_error().status_code(), 500);
        assert!(response.headers().get(REQUEST_ID_HEADER).is_some());
        assert_eq!(
            response.headers().get(header::CACHE_CONTROL).unwrap(),
            NO_STORE
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(body, INTERNAL_MESSAGE);

        let after =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/ok").to_request())
                .await;
        assert_eq!(after.status(), 200);
    }

    /// Sends one raw HTTP/1.1 request and returns the whole response text.
    fn raw_get(address: std::net::SocketAddr, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn a_real_client_gets_the_500_and_the_single_worker_keeps_serving() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (handle_sender, handle_receiver) = std::sync::mpsc::channel();
        let server_thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(|| {
                    App::new()
                        .wrap(from_fn(wire_conventions))
                        .route("/boom", web::get().to(boom))
                        .route("/ok", web::get().to(ok))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                handle_sender.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = handle_receiver.recv().unwrap();

        let panicked = raw_get(address, "/boom");
        assert!(panicked.starts_with("HTTP/1.1 500"), "{panicked}");
        let lower = panicked.to_ascii_lowercase();
        assert!(lower.contains("x-stack-request-id: "), "{panicked}");
        assert!(
            lower.contains("cache-control: no-store, max-age=0"),
            "{panicked}"
        );
        assert!(panicked.ends_with(INTERNAL_MESSAGE), "{panicked}");

        for _ in 0..3 {
            let fine = raw_get(address, "/ok");
            assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");
        }

        actix_web::rt::System::new().block_on(handle.stop(true));
        server_thread.join().unwrap();
    }
}
