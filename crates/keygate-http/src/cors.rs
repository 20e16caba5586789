//! CORS for the client API, with allowed origins set per project, so the prebuilt components (and
//! a customer's own frontend) can call keygate from the customer's site.
//!
//! Rules, for paths under `/api/`:
//!
//! * An origin is **allowed for a project** when it is one of the project's trusted domains
//!   (upstream's `domains`), or when it is a localhost origin (`localhost`, `*.localhost`,
//!   `127.x.y.z`, `[::1]`, any port) and the project has `allow_localhost`.
//! * **Actual requests** name their project in `x-stack-project-id` (or the `x-hexclave-`
//!   alias); the response carries `access-control-allow-origin: <that origin>` (never `*`) and
//!   exposes upstream's response headers, when the origin is allowed for that project and the
//!   access type is `client` (or absent, as in the OAuth refresh grant, which names its project in
//!   the form body: there the origin must be allowed by some project). Secret server and admin
//!   keys never belong in a browser, so their responses get no CORS headers at all.
//! * **Preflight requests** (`OPTIONS` with `access-control-request-method`) cannot say which
//!   project they are for (browsers send header names, not values, and keygate's API names its
//!   project in a header), so they are answered `204` with CORS headers when some project allows
//!   the origin; the actual request is then judged on its own project, and a page can read the
//!   answer only when that project trusts its origin. Such a request carries no authority of the
//!   browser's user either: keygate authenticates with headers, never cookies. Allowed request
//!   headers are every header upstream's client SDKs send — `content-type`,
//!   `ngrok-skip-browser-warning` and every `x-stack-*` / `x-hexclave-*` header — except the
//!   secret server and super-secret admin keys: a preflight that asks for one of those gets no CORS
//!   headers at all, so no browser ever sends them cross-origin. Allowed methods
//!   `GET, POST, PATCH, DELETE`.
//! * **Settings are cached** per node like project authentication
//!   ([`keygate_service::cors_cache`]), so a request with an `Origin` costs no database work.
//! * Origins not allowed get no CORS headers (the browser then refuses to hand the answer to the
//!   page). Every `/api/` response varies on `Origin`. keygate never sends
//!   `access-control-allow-credentials`: the API authenticates with headers, not cookies.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use keygate_domain::ProjectId;
use keygate_service::records::TrustedDomain;
use serde_json::Value;

use crate::stack_headers::{
    stack_header, ACCESS_TYPE, PROJECT_ID, SECRET_SERVER_KEY, SUPER_SECRET_ADMIN_KEY,
};
use crate::state::AppState;
use crate::validation::{FieldContext, FieldValue, Rejection};

/// Methods a cross-origin page may use.
pub const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE";

/// Response headers a cross-origin page may read (upstream's SDK reads them).
pub const EXPOSED_HEADERS: &str = "x-stack-request-id, x-stack-known-error, x-stack-actual-status";

/// How long a browser may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE_SECONDS: u32 = 600;

/// `vary` of preflight answers.
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// The normalised web origin (`scheme://host[:port]`, lowercase host, default port left out) of
/// an `Origin` header or a configured domain; `None` for anything that is not an `http(s)` URL.
pub fn normalize_origin(text: &str) -> Option<String> {
    let url = url::Url::parse(text.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Whether a normalised origin is a localhost origin.
pub fn is_localhost_origin(origin: &str) -> bool {
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| is_loopback_host(authority))
}

/// Whether `host` (`name[:port]`, `[v6][:port]`) is a loopback name or address.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, _)) => inner,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The most trusted domains a project may list.
pub const MAX_TRUSTED_DOMAINS: usize = 100;

/// The handler path of a trusted domain that does not name one (upstream's default).
pub const DEFAULT_HANDLER_PATH: &str = "/handler";

/// A project config's `domains` (upstream's trusted domains): a JSON array of
/// `{"domain": "https://app.example.com", "handler_path": "/handler"}`, `handler_path` optional.
/// Each domain must be an `http(s)` URL; its origin is what requests are matched on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedDomains(pub Vec<TrustedDomain>);

impl FieldValue for TrustedDomains {
    const TYPE_NAME: &'static str = "array";

    fn placeholder() -> Self {
        TrustedDomains::default()
    }

    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        let items = value.as_array().ok_or(Rejection::NotType)?;
        if items.len() > MAX_TRUSTED_DOMAINS {
            return Err(Rejection::Invalid(format!(
                "must have at most {MAX_TRUSTED_DOMAINS} items"
            )));
        }
        let mut domains: Vec<TrustedDomain> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let invalid = |what: &str| Rejection::Invalid(format!("[{index}] {what}"));
            let object = item
                .as_object()
                .ok_or_else(|| invalid("must be an object {domain, handler_path}"))?;
            if let Some(unknown) = object
                .keys()
                .find(|key| !matches!(key.as_str(), "domain" | "handler_path"))
            {
                return Err(invalid(&format!("contains unknown properties: {unknown}")));
            }
            let domain = object
                .get("domain")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("needs a domain (a string)"))?;
            let origin = normalize_origin(domain)
                .filter(|_| domain.len() <= 2048)
                .ok_or_else(|| invalid("domain must be a URL starting with http:// or https://"))?;
            let handler_path = match object.get("handler_path") {
                None | Some(Value::Null) => DEFAULT_HANDLER_PATH.to_owned(),
                Some(Value::String(path))
                    if path.starts_with('/') && path.len() <= 2048 && !path.contains('\0') =>
                {
                    path.clone()
                }
                Some(_) => return Err(invalid("handler_path must be a path starting with /")),
            };
            if domains.iter().any(|known| known.domain == domain) {
                return Err(invalid("repeats a domain"));
            }
            domains.push(TrustedDomain {
                domain: domain.to_owned(),
                handler_path,
                origin,
            });
        }
        Ok(TrustedDomains(domains))
    }

    fn from_text(_: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Err(Rejection::NotType)
    }
}

/// Request headers outside the `x-stack-` / `x-hexclave-` families that upstream's client SDKs
/// send on every request (2.8.x `client-interface`: `fetch` with a JSON body, and a header that
/// skips ngrok's browser warning page).
const OTHER_SDK_REQUEST_HEADERS: [&str; 2] = ["content-type", "ngrok-skip-browser-warning"];

/// Whether a preflight may ask for request header `name` (lowercase, trimmed).
fn is_allowed_request_header(name: &str) -> bool {
    OTHER_SDK_REQUEST_HEADERS.contains(&name)
        || name.starts_with("x-stack-")
        || name.starts_with("x-hexclave-")
}

/// Whether `name` (lowercase, trimmed) carries a key that never belongs in a browser.
fn is_server_only_header(name: &str) -> bool {
    [&SECRET_SERVER_KEY, &SUPER_SECRET_ADMIN_KEY]
        .iter()
        .any(|header| header.names().contains(&name))
}

/// The middleware described in the module documentation; wrap it inside
/// [`wire_conventions`](crate::wire_middleware::wire_conventions).
pub async fn cors(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !request.path().starts_with("/api/") {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .and_then(normalize_origin);
    let state = request
        .app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref().clone());

    if request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let allowed = match (&origin, &state) {
            (Some(origin), Some(state)) => preflight_allows(state, origin).await,
            _ => false,
        };
        let response = preflight_response(request.headers(), origin.filter(|_| allowed));
        return Ok(request.into_response(response));
    }

    let allowed_origin = match (origin, &state) {
        (Some(origin), Some(state)) if !is_same_origin(&request, &origin) => {
            actual_request_allows(state, request.headers(), &origin)
                .await
                .then_some(origin)
        }
        _ => None,
    };
    let mut response = next.call(request).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed_origin {
        if let Ok(value) = HeaderValue::from_str(&origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
    Ok(response)
}

/// Whether the page is on keygate's own origin (no CORS needed, no lookup made).
fn is_same_origin(request: &ServiceRequest, origin: &str) -> bool {
    let info = request.connection_info();
    normalize_origin(&format!("{}://{}", info.scheme(), info.host())).as_deref() == Some(origin)
}

/// The answer to a preflight: CORS headers only for an allowed origin asking for an allowed
/// method and no server-only header.
fn preflight_response(headers: &HeaderMap, allowed_origin: Option<String>) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    response.insert_header((header::VARY, PREFLIGHT_VARY));
    let method_allowed = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|method| ALLOWED_METHODS.split(", ").any(|m| m == method.trim()));
    let requested: Vec<String> = headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    let asks_for_server_keys = requested.iter().any(|name| is_server_only_header(name));
    let origin_value = allowed_origin
        .filter(|_| method_allowed && !asks_for_server_keys)
        .and_then(|origin| HeaderValue::from_str(&origin).ok());
    if let Some(origin) = origin_value {
        let requested: Vec<String> = requested
            .into_iter()
            .filter(|name| is_allowed_request_header(name))
            .collect();
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS))
            .insert_header((
                header::ACCESS_CONTROL_MAX_AGE,
                PREFLIGHT_MAX_AGE_SECONDS.to_string(),
            ));
        if !requested.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&requested.join(", ")) {
                response.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, value));
            }
        }
    }
    response.finish()
}

/// Whether some project allows `origin` (preflights do not name their project).
async fn preflight_allows(state: &AppState, origin: &str) -> bool {
    let localhost = is_localhost_origin(origin);
    state
        .service()
        .origin_allowed(None, origin.to_owned(), localhost)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "could not read CORS settings; answering without CORS headers");
            false
        })
}

/// Whether the actual request's project (or, without one, some project) allows `origin`, for
/// client access or none.
async fn actual_request_allows(state: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    let access_type = stack_header(headers, &ACCESS_TYPE).map(|value| value.into_owned());
    if !matches!(access_type.as_deref(), None | Some("client")) {
        return false;
    }
    let project = match stack_header(headers, &PROJECT_ID) {
        Some(text) => match text.parse::<ProjectId>() {
            Ok(project) => Some(project),
            Err(_) => return false,
        },
        None => None,
    };
    let Some(project) = project else {
        return preflight_allows(state, origin).await;
    };
    let localhost = is_localhost_origin(origin);
    state
        .service()
        .origin_allowed(Some(project), origin.to_owned(), localhost)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "could not read CORS settings; answering without CORS headers");
            false
        })
}

#[cfg(test)]
mod tests;
