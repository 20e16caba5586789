//! actix-web integration: the [`ApiKeyOwner`] extractor hands a handler the verified key of the
//! request, or answers for it as a public API should (the answers: [`crate::auth`]).
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer, Responder};
//! use keygate_client::actix::ApiKeyOwner;
//! use keygate_client::{KeygateAuth, KeygateClient};
//!
//! async fn whoami(caller: ApiKeyOwner) -> impl Responder {
//!     format!("{:?}", caller.owner)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let keygate = KeygateClient::builder("https://keys.example.com", "project-id", "ssk_…").build().unwrap();
//! let auth = web::Data::new(KeygateAuth::user_keys(keygate));
//! HttpServer::new(move || App::new().app_data(auth.clone()).route("/whoami", web::get().to(whoami)))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! The [`KeygateAuth`] is the app's data (`web::Data`); a resource or scope can carry its own,
//! e.g. one that requires a scope: the innermost wins.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::auth::{AuthError, KeygateAuth};
use crate::objects::VerifiedKey;

/// The verified key of a request: extract it in a handler. Dereferences to [`VerifiedKey`].
#[derive(Debug, Clone)]
pub struct ApiKeyOwner(pub VerifiedKey);

impl std::ops::Deref for ApiKeyOwner {
    type Target = VerifiedKey;
    fn deref(&self) -> &VerifiedKey {
        &self.0
    }
}

impl FromRequest for ApiKeyOwner {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let Some(auth) = request.app_data::<web::Data<KeygateAuth>>().cloned() else {
                return Err(AuthError::NotConfigured);
            };
            let presented = auth.presented(|name| request.headers().get(name)?.to_str().ok());
            auth.verify(presented).await.map(ApiKeyOwner)
        })
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let answer = self.answer();
        let mut response = HttpResponse::build(self.status_code());
        for (name, value) in answer.headers {
            response.insert_header((name, value));
        }
        response.json(answer.body)
    }
}
