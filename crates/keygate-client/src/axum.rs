//! axum integration: the [`require_key`] middleware verifies the request's key and hands the
//! handler the [`VerifiedKey`] as an extension, or answers for it as a public API should (the
//! answers: [`crate::auth`]).
//!
//! ```no_run
//! use axum::{middleware, routing::get, Extension, Router};
//! use keygate_client::axum::require_key;
//! use keygate_client::{KeygateAuth, KeygateClient, VerifiedKey};
//!
//! async fn whoami(Extension(caller): Extension<VerifiedKey>) -> String {
//!     format!("{:?}", caller.owner)
//! }
//!
//! let keygate = KeygateClient::builder("https://keys.example.com", "project-id", "ssk_…").build().unwrap();
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(middleware::from_fn_with_state(KeygateAuth::user_keys(keygate), require_key));
//! ```

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::{AuthError, KeygateAuth};

/// The middleware (for `axum::middleware::from_fn_with_state`): verifies the request's key with
/// `auth` and runs the handler with the [`VerifiedKey`](crate::VerifiedKey) as an extension.
pub async fn require_key(
    State(auth): State<KeygateAuth>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = auth
        .presented(|name| request.headers().get(name)?.to_str().ok())
        .map(str::to_owned);
    match auth.verify(presented.as_deref()).await {
        Ok(verified) => {
            request.extensions_mut().insert(verified);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let answer = self.answer();
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(answer.body)).into_response();
        for (name, value) in answer.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}
