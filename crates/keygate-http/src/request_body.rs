//! Reading and parsing request bodies and query strings, the way upstream does, before any
//! validation.
//!
//! Upstream decides by the `content-type` (only its part before `;`): no type means no body,
//! `application/json` is parsed (`BODY_PARSING_ERROR "Invalid JSON in request body"` when it is
//! not JSON), `text/plain` is a string, `application/x-www-form-urlencoded` is an object of
//! strings, `application/octet-stream` is binary, and anything else is
//! `BODY_PARSING_ERROR "Unknown content type in request body: <type>"`. `GET` never has a body.
//! keygate compares the media type case-insensitively and ignores surrounding spaces, which
//! upstream does not; no client depends on being refused for `Application/JSON`.
//!
//! Bodies are limited in size ([`BodyLimits`], settings `limits.max_body_bytes`, default
//! [`DEFAULT_BODY_LIMIT_BYTES`]; routes marked [`SmallBody`], whose bodies are a few fields such as
//! the key check, `limits.max_small_body_bytes`, default [`SMALL_BODY_LIMIT_BYTES`]); a larger one
//! is refused with a plain-text 413 without buffering more than the limit. A
//! `content-encoding` of the request is not decoded (no SDK compresses requests).
//!
//! **No body can stall a worker.** Parsing is linear in the body's size: repeated names are found
//! through a hash index, never by scanning what was read so far. A JSON object or form with more
//! than `limits.max_body_fields` (default [`MAX_BODY_FIELDS`]) top-level fields is refused with `BODY_PARSING_ERROR` before any
//! validation, so no route ever validates (or lists as unknown) more names than that.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::wire_error::{ApiError, KnownError, PlainError};

/// Default largest accepted body: 4 MiB (upstream's host allows about 4.5 MB; a profile image
/// given as a data URL may be 1,000,000 characters).
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Largest accepted body of the routes whose bodies are a few short fields (the key check, the
/// credential-scanning report, the OAuth token endpoint): 16 KiB.
pub const SMALL_BODY_LIMIT_BYTES: usize = 16 * 1024;

/// Most top-level fields a JSON object or form body may have; no route declares more than a
/// few dozen.
pub const MAX_BODY_FIELDS: usize = 256;

/// The body limits, from the `[limits]` settings; [`build_app`](crate::app::build_app) puts them
/// in the app data (from [`AppState::body_limits`](crate::state::AppState::body_limits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest accepted body in bytes (default [`DEFAULT_BODY_LIMIT_BYTES`]).
    pub max_body_bytes: usize,
    /// Largest accepted body of a [`SmallBody`] route (default [`SMALL_BODY_LIMIT_BYTES`]).
    pub max_small_body_bytes: usize,
    /// Most top-level fields of a JSON object or form body (default [`MAX_BODY_FIELDS`]).
    pub max_body_fields: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_body_bytes: DEFAULT_BODY_LIMIT_BYTES,
            max_small_body_bytes: SMALL_BODY_LIMIT_BYTES,
            max_body_fields: MAX_BODY_FIELDS,
        }
    }
}

/// Marks a resource whose bodies are a few short fields (put it in the resource's app data): its
/// bodies are limited to [`BodyLimits::max_small_body_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmallBody;

/// Named text values (query string, form body, path parameters): JavaScript
/// `Object.fromEntries` semantics — a repeated name keeps its first position and its last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFields {
    /// The fields in order of first appearance.
    fields: Vec<(String, String)>,
    /// Where each name sits in `fields`.
    index: HashMap<String, usize>,
}

impl TextFields {
    /// Builds from pairs, applying the repeated-name rule, in time linear in the pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (name, value) in pairs {
            match index.get(&name) {
                Some(&slot) => fields[slot].1 = value,
                None => {
                    index.insert(name.clone(), fields.len());
                    fields.push((name, value));
                }
            }
        }
        TextFields { fields, index }
    }

    /// How many distinct names there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Parses `application/x-www-form-urlencoded` text (a query string without `?`, or a form
    /// body). Never fails: bad percent-escapes are kept as text, invalid UTF-8 is replaced.
    pub fn parse_urlencoded(text: &str) -> Self {
        // `web::Query` parses with serde_urlencoded, which decodes `+` and `%XX` like
        // URLSearchParams and accepts any input for a list of string pairs.
        let pairs = web::Query::<Vec<(String, String)>>::from_query(text)
            .map(web::Query::into_inner)
            .unwrap_or_default();
        Self::from_pairs(pairs)
    }

    /// The path parameters the router matched.
    pub fn from_path(request: &HttpRequest) -> Self {
        Self::from_pairs(
            request
                .match_info()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned())),
        )
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.index
            .get(name)
            .map(|&slot| self.fields[slot].1.as_str())
    }

    /// Names in order of first appearance.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| n.as_str())
    }
}

/// A parsed JSON body, remembering the order of its top-level keys (serde_json's map is sorted;
/// upstream lists unknown properties in the order the client sent them).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonBody {
    value: Value,
    top_level_keys: Vec<String>,
}

impl JsonBody {
    /// Parses JSON text; `None` when it is not JSON. Callers refuse objects with more than
    /// [`MAX_BODY_FIELDS`] keys ([`JsonBody::field_count`]).
    pub fn parse(text: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(text).ok()?;
        let top_level_keys = if value.is_object() {
            serde_json::from_str::<KeyOrder>(text).ok()?.0
        } else {
            Vec::new()
        };
        Some(JsonBody {
            value,
            top_level_keys,
        })
    }

    /// How many distinct top-level keys the body has (0 when it is not an object).
    pub fn field_count(&self) -> usize {
        self.top_level_keys.len()
    }

    /// The parsed value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The top-level object with its keys in sent order, if the body is an object.
    pub(crate) fn object(&self) -> Option<(&Map<String, Value>, &[String])> {
        self.value
            .as_object()
            .map(|map| (map, self.top_level_keys.as_slice()))
    }
}

/// The top-level keys of a JSON object in document order (duplicates once, at first position).
struct KeyOrder(Vec<String>);

impl<'de> Deserialize<'de> for KeyOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
                let mut keys: Vec<String> = Vec::new();
                let mut seen: HashSet<String> = HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    if seen.insert(key.clone()) {
                        keys.push(key);
                    }
                }
                Ok(KeyOrder(keys))
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

/// A request body as upstream sees it before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// No body (no `content-type`, or a `GET`).
    Absent,
    /// `application/json`.
    Json(JsonBody),
    /// `text/plain`.
    Text(String),
    /// `application/x-www-form-urlencoded`.
    Form(TextFields),
    /// `application/octet-stream`.
    Binary,
}

impl RequestBody {
    /// Interprets raw bytes given the method and the `content-type` header value, with the
    /// default field cap.
    pub fn from_parts(
        method: &Method,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<Self, ApiError> {
        Self::from_parts_with_field_cap(method, content_type, bytes, MAX_BODY_FIELDS)
    }

    /// [`RequestBody::from_parts`] refusing objects and forms with more than `max_fields`
    /// top-level fields.
    pub fn from_parts_with_field_cap(
        method: &Method,
        content_type: Option<&str>,
        bytes: &[u8],
        max_fields: usize,
    ) -> Result<Self, ApiError> {
        if method == Method::GET {
            return Ok(RequestBody::Absent);
        }
        let media_type = content_type
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        // Upstream decodes with a non-fatal TextDecoder: invalid UTF-8 becomes U+FFFD.
        let text = || String::from_utf8_lossy(bytes);
        match media_type.as_str() {
            "" => Ok(RequestBody::Absent),
            "application/json" => {
                let body = JsonBody::parse(&text())
                    .ok_or_else(|| body_parsing_error("Invalid JSON in request body"))?;
                refuse_too_many_fields(body.field_count(), max_fields)?;
                Ok(RequestBody::Json(body))
            }
            "text/plain" => Ok(RequestBody::Text(text().into_owned())),
            "application/x-www-form-urlencoded" => {
                let fields = TextFields::parse_urlencoded(&text());
                refuse_too_many_fields(fields.len(), max_fields)?;
                Ok(RequestBody::Form(fields))
            }
            "application/octet-stream" => Ok(RequestBody::Binary),
            _ => Err(body_parsing_error(format!(
                "Unknown content type in request body: {}",
                content_type.unwrap_or("").split(';').next().unwrap_or("")
            ))),
        }
    }
}

/// `BODY_PARSING_ERROR` for a body with more than `max_fields` top-level fields.
fn refuse_too_many_fields(count: usize, max_fields: usize) -> Result<(), ApiError> {
    if count > max_fields {
        return Err(body_parsing_error(format!(
            "Too many fields in request body: {count} (at most {max_fields})"
        )));
    }
    Ok(())
}

fn body_parsing_error(message: impl Into<String>) -> ApiError {
    ApiError::Known(KnownError::BodyParsingError {
        message: message.into(),
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::Plain(PlainError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Request body is too large; keygate accepts at most {limit} bytes."),
    ))
}

impl FromRequest for RequestBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let method = req.method().clone();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let limits = req.app_data::<BodyLimits>().copied().unwrap_or_default();
        let limit = if req.app_data::<SmallBody>().is_some() {
            limits.max_small_body_bytes
        } else {
            limits.max_body_bytes
        };
        let max_fields = limits.max_body_fields;
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let payload = web::Payload::from_request(req, payload);
        Box::pin(async move {
            if method == Method::GET {
                return Ok(RequestBody::Absent);
            }
            if declared_length.is_some_and(|length| length > limit as u64) {
                return Err(too_large(limit));
            }
            let Ok(payload) = payload.await else {
                return Err(body_parsing_error("Request body could not be read"));
            };
            let bytes = match payload.to_bytes_limited(limit).await {
                Err(_over_limit) => return Err(too_large(limit)),
                Ok(Err(_broken_stream)) => {
                    return Err(body_parsing_error("Request body could not be read"))
                }
                Ok(Ok(bytes)) => bytes,
            };
            RequestBody::from_parts_with_field_cap(
                &method,
                content_type.as_deref(),
                &bytes,
                max_fields,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    use crate::testing::{form_with_fields, json_object_with_keys};
    use serde_json::json;

    fn parse(content_type: Option<&str>, body: &str) -> Result<RequestBody, ApiError> {
        RequestBody::from_parts(&Method::POST, content_type, body.as_bytes())
    }

    fn parsing_message(result: Result<RequestBody, ApiError>) -> String {
        match result {
            Err(ApiError::Known(KnownError::BodyParsingError { message })) => message,
            other => panic!("expected BODY_PARSING_ERROR, got {other:?}"),
        }
    }

    #[test]
    fn many_form_fields_keep_first_position_and_last_value() {
        // 100,000 names, each sent twice: the index keeps this linear (a scan per name was
        // quadratic: 60,000 fields took 13.9 s).
        let pairs = (0..100_000)
            .map(|i| (format!("n{i}"), "first".to_owned()))
            .chain((0..100_000).map(|i| (format!("n{i}"), format!("last{i}"))));
        let fields = TextFields::from_pairs(pairs);
        assert_eq!(fields.len(), 100_000);
        assert_eq!(fields.names().next(), Some("n0"));
        assert_eq!(fields.names().last(), Some("n99999"));
        assert_eq!(fields.get("n12345"), Some("last12345"));
        assert_eq!(fields.get("n100000"), None);
    }

    #[test]
    fn bodies_with_more_than_the_field_cap_are_refused_before_validation() {
        let at_cap = json_object_with_keys(MAX_BODY_FIELDS);
        assert!(matches!(
            parse(Some("application/json"), &at_cap),
            Ok(RequestBody::Json(body)) if body.field_count() == MAX_BODY_FIELDS
        ));
        // Repeated keys count once.
        let repeated = format!("{{{}}}", vec![r#""k":1"#; 1_000].join(","));
        assert!(parse(Some("application/json"), &repeated).is_ok());

        let message = parsing_message(parse(
            Some("application/json"),
            &json_object_with_keys(100_000),
        ));
        assert_eq!(
            message,
            format!("Too many fields in request body: 100000 (at most {MAX_BODY_FIELDS})")
        );
        assert!(matches!(
            parse(
                Some("application/x-www-form-urlencoded"),
                &form_with_fields(MAX_BODY_FIELDS)
            ),
            Ok(RequestBody::Form(fields)) if fields.len() == MAX_BODY_FIELDS
        ));
        let message = parsing_message(parse(
            Some("application/x-www-form-urlencoded"),
            &form_with_fields(100_000),
        ));
        assert!(
            message.starts_with("Too many fields in request body: 100000"),
            "{message}"
        );
    }

    #[test]
    fn json_bodies_parse_with_their_key_order() {
        let Ok(RequestBody::Json(body)) = parse(
            Some("application/json; charset=utf-8"),
            r#"{"b":1,"a":2,"b":3}"#,
        ) else {
            panic!("JSON body");
        };
        let (map, order) = body.object().expect("object");
        assert_eq!(order, ["b", "a"]);
        assert_eq!(
            map["b"],
            json!(3),
            "the last duplicate wins, like JSON.parse"
        );
    }

    #[test]
    fn non_json_is_a_body_parsing_error() {
        assert_eq!(
            parsing_message(parse(Some("application/json"), "{")),
            "Invalid JSON in request body"
        );
        assert_eq!(
            parsing_message(parse(Some("application/json"), "")),
            "Invalid JSON in request body"
        );
        assert_eq!(
            parsing_message(parse(Some("application/xml"), "<a/>")),
            "Unknown content type in request body: application/xml"
        );
    }

    #[test]
    fn other_content_types_follow_upstream() {
        assert_eq!(parse(None, "{}").unwrap(), RequestBody::Absent);
        assert_eq!(
            parse(Some("text/plain"), "hi").unwrap(),
            RequestBody::Text("hi".into())
        );
        assert_eq!(
            parse(Some("application/octet-stream"), "x").unwrap(),
            RequestBody::Binary
        );
        let Ok(RequestBody::Form(form)) =
            parse(Some("application/x-www-form-urlencoded"), "a=1+2&b=%41")
        else {
            panic!("form body");
        };
        assert_eq!(form.get("a"), Some("1 2"));
        assert_eq!(form.get("b"), Some("A"));
        assert_eq!(
            RequestBody::from_parts(&Method::GET, Some("application/json"), b"{").unwrap(),
            RequestBody::Absent
        );
    }

    #[test]
    fn json_that_is_not_an_object_still_parses() {
        let Ok(RequestBody::Json(body)) = parse(Some("application/json"), "[1]") else {
            panic!("JSON body");
        };
        assert!(body.object().is_none());
        assert_eq!(body.value(), &json!([1]));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            parsing_message(parse(Some("application/json"), &deep)),
            "Invalid JSON in request body"
        );
    }

    #[test]
    fn query_strings_keep_first_position_and_last_value() {
        let fields = TextFields::parse_urlencoded("b=1&a=2&b=3&&=x&c&%zz=%&d=%E2%82%AC");
        let names: Vec<&str> = fields.names().collect();
        assert_eq!(names[..2], ["b", "a"]);
        assert_eq!(fields.get("b"), Some("3"));
        assert_eq!(fields.get("c"), Some(""));
        assert_eq!(fields.get("d"), Some("€"));
    }

    #[actix_web::test]
    async fn extractor_enforces_the_configured_limits() {
        let limits = BodyLimits {
            max_body_bytes: 64,
            max_small_body_bytes: 8,
            max_body_fields: 2,
        };
        let (req, mut payload) = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .app_data(limits)
            .set_payload(r#"{"a":1,"b":2,"c":3}"#)
            .to_http_parts();
        assert_eq!(
            parsing_message(RequestBody::from_request(&req, &mut payload).await),
            "Too many fields in request body: 3 (at most 2)"
        );
        let (req, mut payload) = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .app_data(limits)
            .set_payload(format!(r#"{{"description":"{}"}}"#, "x".repeat(64)))
            .to_http_parts();
        match RequestBody::from_request(&req, &mut payload).await {
            Err(ApiError::Plain(plain)) => assert_eq!(
                plain.message(),
                "Request body is too large; keygate accepts at most 64 bytes."
            ),
            other => panic!("expected 413, got {other:?}"),
        }
        let (req, mut payload) = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .app_data(limits)
            .app_data(SmallBody)
            .set_payload(r#"{"description":"too long"}"#)
            .to_http_parts();
        match RequestBody::from_request(&req, &mut payload).await {
            Err(ApiError::Plain(plain)) => {
                assert_eq!(plain.status(), StatusCode::PAYLOAD_TOO_LARGE);
                assert_eq!(
                    plain.message(),
                    "Request body is too large; keygate accepts at most 8 bytes."
                );
            }
            other => panic!("expected 413, got {other:?}"),
        }
    }

    #[actix_web::test]
    async fn extractor_reads_json() {
        let (req, mut payload) = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(r#"{"description":"ok"}"#)
            .to_http_parts();
        let body = RequestBody::from_request(&req, &mut payload).await.unwrap();
        let RequestBody::Json(json) = body else {
            panic!("JSON body")
        };
        assert_eq!(json.value(), &json!({"description": "ok"}));
    }
}
