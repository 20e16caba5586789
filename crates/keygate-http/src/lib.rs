//! keygate's HTTP layer: everything between a raw HTTP request and the storage-independent
//! decisions, shaped so that upstream's SDKs and docs work unchanged against keygate.
//!
//! This crate holds the wire conventions every route shares:
//!
//! * [`wire_error`] — upstream's known errors (codes, statuses, exact messages, `details`),
//!   plain-text errors, and [`wire_error::ApiError`], the one error type handlers return;
//! * [`request_body`] and [`validation`] — reading bodies and query strings as upstream does and
//!   validating them with upstream's `SCHEMA_ERROR` text, into typed values;
//! * [`conventions`] — the middleware that stamps request ids and `cache-control`, honours
//!   `x-stack-override-error-status`, turns handler panics into a 500, and the `x-stack-` /
//!   `x-hexclave-` header aliases;
//! * [`access_token`] — the HS256 session tokens the SDK reads.
//!
//! **Key design decisions.** The HTTP layer is a library, not the binary: routes are built into
//! an `actix_web::App` here, so tests run the full HTTP stack in-process (`actix_web::test`)
//! without sockets, and the binary only adds configuration and a listener. And errors become
//! wire responses only here: domain, permission and storage errors are plain Rust values, and
//! this crate alone decides their status codes, bodies and headers — which is how the contract's
//! "never a 5xx for client input" is enforced in one place.

pub mod access_token;
pub mod conventions;
mod js_text;
pub mod request_body;
pub mod validation;
pub mod wire_error;

pub use wire_error::{AccessType, ApiError, KnownError, PlainError};
