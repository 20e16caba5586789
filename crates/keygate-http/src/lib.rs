//! keygate's HTTP layer: everything between a raw HTTP request and the storage-independent
//! decisions, shaped so that upstream's SDKs and docs work unchanged against keygate.
//!
//! This crate holds the wire conventions every route shares:
//!
//! * [`wire_error`] — upstream's known errors (codes, statuses, exact messages, `details`),
//!   plain-text errors, and [`wire_error::ApiError`], the one error type handlers return;
//! * [`request_body`] and [`validation`] — reading bodies and query strings as upstream does and
//!   validating them with upstream's `SCHEMA_ERROR` text, into typed values;
//! * [`wire_middleware`] — the middleware that stamps request ids and `cache-control`, honours
//!   `x-stack-override-error-status` and turns handler panics into a 500;
//! * [`stack_headers`] — upstream's request headers under both their `x-stack-` and
//!   `x-hexclave-` names;
//! * [`responses`] — JSON answers and the plain-text 404 and 405;
//! * [`access_token`] — the HS256 session tokens the SDK reads;
//! * [`auth`] — who is calling (project, access type, session user) and the operator;
//! * [`app`] and [`routes`] — the actix application and every endpoint;
//! * [`cors`] — CORS for the client API, with allowed origins set per project;
//! * [`server`] — the HTTP/1.1 server, whose own refusals (unparsable requests, URIs over
//!   64 KiB, too many headers) carry the same conventions as every other answer;
//! * [`rate_limits`] — per-address limits on the unauthenticated routes and on failed
//!   authentications;
//! * [`project_objects`] — projects and credentials as the API (and the CLI) shows them;
//! * [`key_objects`] — user and team keys and list cursors as the API (and the CLI) shows them;
//! * [`ui`] — the prebuilt web components, the hosted account-settings page and the demo
//!   sign-in.
//!
//! **Key design decisions.** The HTTP layer is a library, not the binary: routes are built into
//! an `actix_web::App` here, so tests run the full HTTP stack in-process (`actix_web::test`)
//! without sockets, and the binary only adds configuration and a listener. And errors become
//! wire responses only here: domain, permission and storage errors are plain Rust values, and
//! this crate alone decides their status codes, bodies and headers — which is how the contract's
//! "never a 5xx for client input" is enforced in one place.

pub mod access_token;
pub mod app;
pub mod audit_objects;
pub mod auth;
pub mod cors;
mod error_mapping;
mod js_text;
pub mod key_objects;
pub mod metrics;
pub mod openapi;
mod page_cursor;
pub mod project_objects;
pub mod rate_limits;
mod ratelimit_headers;
pub mod request_body;
pub mod responses;
pub mod route_table;
pub mod routes;
pub mod server;
pub mod stack_headers;
pub mod state;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod ui;
pub mod validation;
pub mod wire_error;
pub mod wire_middleware;

pub use app::build_app;
pub use state::{AppConfig, AppState};
pub use wire_error::{AccessType, ApiError, KnownError, PlainError};
