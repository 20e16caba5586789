//! Strict request validation that fails exactly like upstream's yup schemas.
//!
//! A handler declares what it accepts from the body, the path parameters and the query string,
//! field by field, and gets typed values back. Every problem is collected (yup runs with
//! `abortEarly: false`), and [`RequestCheck::finish`] either releases the values or answers
//! `400 SCHEMA_ERROR` with upstream's text in both `error` and `details.message`:
//!
//! ```text
//! Request validation failed on PATCH /api/v1/user-api-keys/123:
//!   - body.revoked must be one of the following values: true
//!   - params.api_key_id must be a valid UUID
//! ```
//!
//! Lines are grouped body, then params, then query (upstream's schema order); within a group
//! they follow the order the handler declared its fields, and an object's
//! `… contains unknown properties: a, b` line comes after its field lines. Unknown properties are
//! rejected, never stripped.
//!
//! Messages are yup's: `… must be defined`, `… cannot be null`, ``… must be a `string` type, but
//! the final value was: `123`.``, `… must be a valid UUID`, `… must be an integer`,
//! `… must be at most N characters`, `… must be one of the following values: …`,
//! `… must be less than or equal to N`; keygate's own bound on a JSON value's size (metadata) says
//! `… must be at most N bytes as JSON`. The sizes that bound what a client may store come from
//! `keygate_service::Limits` in the app's state ([`FieldReader::limits`]).
//!
//! # Strict JSON, coerced text
//!
//! JSON bodies are checked strictly: `"description": 123` is a type error, where upstream's
//! non-strict yup would quietly store `"123"`. keygate prefers telling the client. Query strings,
//! path parameters and form bodies are text by nature, so there keygate casts like yup does:
//! `"true"`/`"1"`/`"false"`/`"0"` (any case) are booleans and numbers are read like JavaScript's
//! unary `+` (`?n=abc` fails with ``must be a `number` type, but the final value was: `NaN` (cast
//! from the value `"abc"`).``).
//!
//! # `me`
//!
//! A [`UserIdOrMe`] field accepts a UUID or `me`, which is replaced by the session user given to
//! [`RequestCheck::with_current_user`]. `me` without a session user makes the whole check fail
//! with `CANNOT_GET_OWN_USER_WITHOUT_USER`, taking precedence over schema problems (as upstream,
//! where it aborts validation).
//!
//! # Declaring fields
//!
//! Values come back even when they are invalid (as a placeholder), so a handler can build its
//! struct in one expression without short-circuiting; only [`RequestCheck::finish`] hands them
//! out, and only when nothing failed.
//!
//! ```
//! use actix_web::test::TestRequest;
//! use keygate_domain::UserId;
//! use keygate_http::request_body::RequestBody;
//! use keygate_http::validation::{RequestCheck, UserIdOrMe};
//!
//! #[derive(Debug)]
//! struct UpdateBody { description: Option<String>, revoked: Option<bool> }
//!
//! let request = TestRequest::patch().uri("/api/v1/user-api-keys/x?user_id=me").to_http_request();
//! let body = RequestBody::from_parts(
//!     request.method(), Some("application/json"), br#"{"revoked": false}"#,
//! ).unwrap();
//!
//! let session_user = UserId::new_random();
//! let mut check = RequestCheck::new(&request).with_current_user(Some(session_user));
//! let body = check.body(&body, |o| UpdateBody {
//!     description: o.field::<String>("description").max_chars(1000).optional(),
//!     revoked: o.field::<bool>("revoked").one_of(&[true]).optional(),
//! });
//! let query = check.query(|o| o.field::<UserIdOrMe>("user_id").optional());
//!
//! let error = check.finish((body, query)).unwrap_err();
//! assert!(error.to_string().contains("body.revoked must be one of the following values: true"));
//! ```

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use actix_web::{web, HttpRequest};
use keygate_domain::{ApiKeyId, ProjectId, TeamId, UserId};
use keygate_service::Limits;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::js_text::{js_length, js_string_to_number, print_text, print_value};
use crate::request_body::{RequestBody, TextFields};
use crate::state::AppState;
use crate::wire_error::{ApiError, KnownError};

/// The parts of a request, in the order upstream lists their problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Body,
    Params,
    Query,
}

/// What a field parser may need beyond the raw value.
#[derive(Debug, Clone, Default)]
pub struct FieldContext {
    current_user: Option<UserId>,
    limits: Limits,
}

impl FieldContext {
    /// The caps on stored fields (`keygate_service::Limits`), from the app's state.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The session user, which `me` stands for.
    pub fn current_user(&self) -> Option<UserId> {
        self.current_user
    }
}

/// Why a value was refused; the reader turns it into yup's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Wrong type; the message quotes the value as sent.
    NotType,
    /// Wrong type after yup's cast (e.g. text to `NaN`); the message quotes both.
    NotTypeAfterCast {
        /// The cast value as yup prints it, e.g. `NaN`.
        final_value: String,
    },
    /// Right type, invalid value; the text follows the path, e.g. `must be a valid UUID`.
    Invalid(String),
    /// Right type, invalid value, with a whole message that does not name the path (a yup test
    /// with a fixed message, e.g. upstream's permission-id pattern).
    Message(String),
    /// `me` without a session user.
    MeWithoutUser,
}

/// A type a request field can be read as.
pub trait FieldValue: Sized {
    /// The type yup names in ``must be a `TYPE` type`` messages.
    const TYPE_NAME: &'static str;
    /// Whether JSON `null` is accepted (`Option<T>`); otherwise it is ``cannot be null``.
    const NULLABLE: bool = false;

    /// The value handed back while a problem is pending (never released by `finish`).
    fn placeholder() -> Self;
    /// Reads a JSON value (strictly typed). Never called with `null` unless `NULLABLE`.
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection>;
    /// Reads a text value (query string, path, form), casting like yup.
    fn from_text(text: &str, context: &FieldContext) -> Result<Self, Rejection>;
    /// Length in JavaScript string units, for `max_chars`; `None` for non-strings.
    fn js_len(&self) -> Option<usize> {
        None
    }
    /// Length of the value's JSON text in bytes, for `max_json_bytes`; `None` when not measured.
    fn json_bytes(&self) -> Option<usize> {
        None
    }
    /// The value as an integer, for `range`; `None` for non-integers.
    fn as_integer(&self) -> Option<i64> {
        None
    }
}

/// The message for text containing U+0000, which Postgres cannot store in a text column.
pub const NUL_CHARACTER: &str = "must not contain NUL characters";

/// Text; a NUL character is refused (keygate's own rule: Postgres cannot store it, and no
/// client input may end in a 5xx).
impl FieldValue for String {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        String::new()
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let text = value.as_str().ok_or(Rejection::NotType)?;
        Self::from_text(text, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        if text.contains('\0') {
            return Err(Rejection::Invalid(NUL_CHARACTER.to_owned()));
        }
        Ok(text.to_owned())
    }
    fn js_len(&self) -> Option<usize> {
        Some(js_length(self))
    }
}

impl FieldValue for bool {
    const TYPE_NAME: &'static str = "boolean";
    fn placeholder() -> Self {
        false
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        value.as_bool().ok_or(Rejection::NotType)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Rejection::NotType),
        }
    }
}

fn number_from_text(text: &str) -> Result<f64, Rejection> {
    let number = js_string_to_number(text);
    if number.is_nan() {
        Err(Rejection::NotTypeAfterCast {
            final_value: "NaN".to_owned(),
        })
    } else {
        Ok(number)
    }
}

impl FieldValue for f64 {
    const TYPE_NAME: &'static str = "number";
    fn placeholder() -> Self {
        0.0
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        value.as_f64().ok_or(Rejection::NotType)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        number_from_text(text)
    }
}

/// JavaScript's `Number.MAX_SAFE_INTEGER`: the largest integer a JSON client can send exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

fn safe_integer(number: f64) -> Result<i64, Rejection> {
    if !number.is_finite() || number.fract() != 0.0 {
        return Err(Rejection::Invalid("must be an integer".to_owned()));
    }
    if number > MAX_SAFE_INTEGER as f64 {
        return Err(Rejection::Invalid(format!(
            "must be less than or equal to {MAX_SAFE_INTEGER}"
        )));
    }
    if number < -(MAX_SAFE_INTEGER as f64) {
        return Err(Rejection::Invalid(format!(
            "must be greater than or equal to -{MAX_SAFE_INTEGER}"
        )));
    }
    Ok(number as i64)
}

/// An integral number within JavaScript's safe range (e.g. epoch milliseconds).
impl FieldValue for i64 {
    const TYPE_NAME: &'static str = "number";
    fn placeholder() -> Self {
        0
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) => Ok(i),
                _ => safe_integer(n.as_f64().unwrap_or(f64::NAN)),
            },
            _ => Err(Rejection::NotType),
        }
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        safe_integer(number_from_text(text)?)
    }
    fn as_integer(&self) -> Option<i64> {
        Some(*self)
    }
}

/// Any JSON value (metadata fields); `null` included.
impl FieldValue for Value {
    const TYPE_NAME: &'static str = "mixed";
    const NULLABLE: bool = true;
    fn placeholder() -> Self {
        Value::Null
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        Ok(value.clone())
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Ok(Value::String(text.to_owned()))
    }
    fn json_bytes(&self) -> Option<usize> {
        Some(json_text_length(self))
    }
}

/// The length of `value`'s compact JSON text, counted without building it.
fn json_text_length(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// A nullable field: JSON `null` reads as `None`.
impl<T: FieldValue> FieldValue for Option<T> {
    const TYPE_NAME: &'static str = T::TYPE_NAME;
    const NULLABLE: bool = true;
    fn placeholder() -> Self {
        None
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        if value.is_null() {
            Ok(None)
        } else {
            T::from_json(value, context).map(Some)
        }
    }
    fn from_text(text: &str, context: &FieldContext) -> Result<Self, Rejection> {
        T::from_text(text, context).map(Some)
    }
    fn js_len(&self) -> Option<usize> {
        self.as_ref().and_then(FieldValue::js_len)
    }
    fn json_bytes(&self) -> Option<usize> {
        self.as_ref().and_then(FieldValue::json_bytes)
    }
    fn as_integer(&self) -> Option<i64> {
        self.as_ref().and_then(FieldValue::as_integer)
    }
}

/// yup's `string().uuid()`: RFC 4122 versions 1–5 (or the nil UUID), any letter case.
fn is_yup_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return false;
    }
    if text == "00000000-0000-0000-0000-000000000000" {
        return true;
    }
    let hex_at = |i: usize| bytes[i].is_ascii_hexdigit();
    bytes.iter().enumerate().all(|(i, &b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        14 => (b'1'..=b'5').contains(&b),
        19 => matches!(b.to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b'),
        _ => hex_at(i),
    })
}

/// The message tail for a string that is not a UUID.
const NOT_A_UUID: &str = "must be a valid UUID";

fn uuid_from_text(text: &str) -> Result<Uuid, Rejection> {
    if !is_yup_uuid(text) {
        return Err(Rejection::Invalid(NOT_A_UUID.to_owned()));
    }
    Uuid::try_parse(text).map_err(|_| Rejection::Invalid(NOT_A_UUID.to_owned()))
}

macro_rules! uuid_field {
    ($id:ty) => {
        /// A UUID string (yup's `string().uuid()`).
        impl FieldValue for $id {
            const TYPE_NAME: &'static str = "string";
            fn placeholder() -> Self {
                <$id>::from_uuid(Uuid::nil())
            }
            fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
                let text = value.as_str().ok_or(Rejection::NotType)?;
                Self::from_text(text, context)
            }
            fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
                uuid_from_text(text).map(<$id>::from_uuid)
            }
        }
    };
}

uuid_field!(ProjectId);
uuid_field!(UserId);
uuid_field!(TeamId);
uuid_field!(ApiKeyId);

/// A UUID string for ids without a type of their own (project credentials').
impl FieldValue for Uuid {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        Uuid::nil()
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let text = value.as_str().ok_or(Rejection::NotType)?;
        Self::from_text(text, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        uuid_from_text(text)
    }
}

/// A user id given as a UUID or as `me` (upstream's `userIdOrMeSchema`); `me` has already been
/// replaced by the session user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserIdOrMe(pub UserId);

impl FieldValue for UserIdOrMe {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        UserIdOrMe(UserId::from_uuid(Uuid::nil()))
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let text = value.as_str().ok_or(Rejection::NotType)?;
        Self::from_text(text, context)
    }
    fn from_text(text: &str, context: &FieldContext) -> Result<Self, Rejection> {
        if text == "me" {
            return context
                .current_user
                .map(UserIdOrMe)
                .ok_or(Rejection::MeWithoutUser);
        }
        uuid_from_text(text).map(|uuid| UserIdOrMe(UserId::from_uuid(uuid)))
    }
}

/// A value read from a request whose check is still open; [`RequestCheck::finish`] releases it.
#[derive(Debug)]
#[must_use = "pass it to RequestCheck::finish"]
pub struct Pending<T>(T);

/// What [`RequestCheck::finish`] can release: one [`Pending`] or a tuple of them.
pub trait PendingSet {
    /// The released values.
    type Output;
    /// Unwraps the values (only `finish` calls this, after a clean check).
    fn release(self) -> Self::Output;
}

impl<A> PendingSet for Pending<A> {
    type Output = A;
    fn release(self) -> A {
        self.0
    }
}

impl<A, B> PendingSet for (Pending<A>, Pending<B>) {
    type Output = (A, B);
    fn release(self) -> (A, B) {
        (self.0 .0, self.1 .0)
    }
}

impl<A, B, C> PendingSet for (Pending<A>, Pending<B>, Pending<C>) {
    type Output = (A, B, C);
    fn release(self) -> (A, B, C) {
        (self.0 .0, self.1 .0, self.2 .0)
    }
}

/// Problems found so far, shared by every reader of one check.
#[derive(Debug, Default)]
struct Findings {
    context: FieldContext,
    problems: Vec<(Section, String)>,
    me_without_user: bool,
}

/// The validation of one request: body, path parameters and query string.
#[derive(Debug)]
pub struct RequestCheck {
    method: String,
    path: String,
    query: TextFields,
    params: TextFields,
    findings: Findings,
}

impl RequestCheck {
    /// Starts the check of `request` (its method, path as requested, query and path parameters).
    pub fn new(request: &HttpRequest) -> Self {
        let mut findings = Findings::default();
        if let Some(state) = request.app_data::<web::Data<AppState>>() {
            findings.context.limits = *state.service().limits();
        }
        RequestCheck {
            method: request.method().as_str().to_owned(),
            path: request.path().to_owned(),
            query: TextFields::parse_urlencoded(request.query_string()),
            params: TextFields::from_path(request),
            findings,
        }
    }

    /// Starts a check from loose parts (for code that has no `HttpRequest`).
    pub fn from_parts(method: &str, path: &str, query_string: &str, params: TextFields) -> Self {
        RequestCheck {
            method: method.to_owned(),
            path: path.to_owned(),
            query: TextFields::parse_urlencoded(query_string),
            params,
            findings: Findings::default(),
        }
    }

    /// Sets the session user that `me` stands for (none: `me` is refused).
    pub fn with_current_user(mut self, user: Option<UserId>) -> Self {
        self.findings.context.current_user = user;
        self
    }

    /// Reads the body, which must be a JSON object (or a form). Call each section at most once
    /// per check: properties `read` does not declare are reported as unknown.
    pub fn body<T>(
        &mut self,
        body: &RequestBody,
        read: impl FnOnce(&mut FieldReader<'_>) -> T,
    ) -> Pending<T> {
        let not_object = |printed: String| {
            format!("body must be a `object` type, but the final value was: `{printed}`.")
        };
        let source = match body {
            RequestBody::Absent => Err("body must be defined".to_owned()),
            RequestBody::Json(json) => match json.object() {
                Some((map, order)) => Ok(Source::Json {
                    map,
                    order: Cow::Borrowed(order),
                }),
                None if json.value().is_null() => Err("body cannot be null".to_owned()),
                None => Err(not_object(print_value(json.value()))),
            },
            RequestBody::Form(fields) => Ok(Source::Text(fields)),
            RequestBody::Text(text) => Err(not_object(print_text(text))),
            // yup prints an ArrayBuffer through JSON.stringify, which gives `{}`.
            RequestBody::Binary => Err(not_object("{}".to_owned())),
        };
        let source = source.unwrap_or_else(|problem| {
            self.findings.problems.push((Section::Body, problem));
            Source::Nothing
        });
        Pending(run_reader(
            &mut self.findings,
            Section::Body,
            "body",
            source,
            read,
        ))
    }

    /// Reads the path parameters (at most once per check).
    pub fn params<T>(&mut self, read: impl FnOnce(&mut FieldReader<'_>) -> T) -> Pending<T> {
        let source = Source::Text(&self.params);
        Pending(run_reader(
            &mut self.findings,
            Section::Params,
            "params",
            source,
            read,
        ))
    }

    /// Reads a UUID path parameter `name` and refuses any query parameter: the routes of one
    /// object of keygate's own (a webhook endpoint, a project credential).
    pub fn id_alone(&mut self, name: &str) -> (Pending<uuid::Uuid>, Pending<()>) {
        let id = self.params(|o| o.field::<uuid::Uuid>(name).required());
        let query = self.query(|_| ());
        (id, query)
    }

    /// Reads the query string (at most once per check). A route that accepts no query must
    /// still call `check.query(|_| ())` to refuse unknown parameters, as upstream's CRUD routes
    /// do; a section never read is not checked at all.
    pub fn query<T>(&mut self, read: impl FnOnce(&mut FieldReader<'_>) -> T) -> Pending<T> {
        let source = Source::Text(&self.query);
        Pending(run_reader(
            &mut self.findings,
            Section::Query,
            "query",
            source,
            read,
        ))
    }

    /// Ends the check: the values when nothing failed, otherwise
    /// `CANNOT_GET_OWN_USER_WITHOUT_USER` or `SCHEMA_ERROR` with upstream's text.
    pub fn finish<P: PendingSet>(self, pending: P) -> Result<P::Output, ApiError> {
        if self.findings.me_without_user {
            return Err(KnownError::CannotGetOwnUserWithoutUser.into());
        }
        if self.findings.problems.is_empty() {
            return Ok(pending.release());
        }
        let mut problems = self.findings.problems;
        problems.sort_by_key(|(section, _)| *section);
        let lines: Vec<String> = problems
            .iter()
            .map(|(_, text)| format!("- {text}"))
            .collect();
        // Upstream's `deindent` indents every line of the list, including continuation lines
        // of multi-line messages, by two spaces.
        let list = lines.join("\n").replace('\n', "\n  ");
        Err(ApiError::schema(format!(
            "Request validation failed on {} {}:\n  {list}",
            self.method, self.path
        )))
    }
}

fn run_reader<T>(
    findings: &mut Findings,
    section: Section,
    path: &str,
    source: Source<'_>,
    read: impl FnOnce(&mut FieldReader<'_>) -> T,
) -> T {
    let mut reader = FieldReader {
        findings,
        section,
        path: path.to_owned(),
        source,
        declared: HashSet::new(),
    };
    let value = read(&mut reader);
    reader.report_unknown_properties();
    value
}

/// Where a reader's fields come from.
enum Source<'a> {
    /// A JSON object and its keys in sent order.
    Json {
        map: &'a Map<String, Value>,
        order: Cow<'a, [String]>,
    },
    /// Text fields (query, path, form).
    Text(&'a TextFields),
    /// The object itself was missing or of the wrong type (already reported): every field
    /// reads as its placeholder and nothing more is reported.
    Nothing,
}

/// One raw field value.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl Raw<'_> {
    fn printed(&self) -> String {
        match self {
            Raw::Json(value) => print_value(value),
            Raw::Text(text) => print_text(text),
        }
    }
}

/// Reads the fields of one object (the body, the query, the params, or a nested object).
pub struct FieldReader<'a> {
    findings: &'a mut Findings,
    section: Section,
    path: String,
    source: Source<'a>,
    /// The names declared so far (a set: an object may have up to `MAX_BODY_FIELDS` names).
    declared: HashSet<String>,
}

impl fmt::Debug for FieldReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldReader")
            .field("path", &self.path)
            .field("declared", &self.declared)
            .finish_non_exhaustive()
    }
}

impl<'a> FieldReader<'a> {
    /// Declares the field `name`, read as `T`; finish with `.required()` or `.optional()`.
    pub fn field<T: FieldValue + 'static>(&mut self, name: &str) -> Field<'_, 'a, T> {
        Field {
            reader: self,
            name: name.to_owned(),
            bounds: Bounds::default(),
            one_of: None,
        }
    }

    /// The caps on stored fields, for declaring a field's bound.
    pub fn limits(&self) -> Limits {
        self.findings.context.limits
    }

    /// A nested object that may be absent; `read` declares its fields.
    pub fn optional_object<T>(
        &mut self,
        name: &str,
        read: impl FnOnce(&mut FieldReader<'_>) -> T,
    ) -> Option<T> {
        let present = self.raw(name).is_some();
        match self.nested_source(name, false) {
            Some(source) => Some(self.run_nested(name, source, read)),
            // Absent: nothing to read. Present but invalid: already reported.
            None if present => Some(self.run_nested(name, Source::Nothing, read)),
            None => None,
        }
    }

    fn run_nested<T>(
        &mut self,
        name: &str,
        source: Source<'_>,
        read: impl FnOnce(&mut FieldReader<'_>) -> T,
    ) -> T {
        let path = format!("{}.{name}", self.path);
        let mut nested = FieldReader {
            findings: &mut *self.findings,
            section: self.section,
            path,
            source,
            declared: HashSet::new(),
        };
        let value = read(&mut nested);
        nested.report_unknown_properties();
        value
    }

    /// The source of a nested object, or `None` after reporting why there is none.
    fn nested_source(&mut self, name: &str, required: bool) -> Option<Source<'a>> {
        self.declared.insert(name.to_owned());
        let path = format!("{}.{name}", self.path);
        let raw = self.raw(name);
        let problem = match raw {
            None if matches!(self.source, Source::Nothing) => return None,
            None if required => format!("{path} must be defined"),
            None => return None,
            Some(Raw::Json(Value::Object(map))) => {
                let order: Vec<String> = map.keys().cloned().collect();
                return Some(Source::Json {
                    map,
                    order: Cow::Owned(order),
                });
            }
            Some(Raw::Json(Value::Null)) => format!("{path} cannot be null"),
            Some(other) => format!(
                "{path} must be a `object` type, but the final value was: `{}`.",
                other.printed()
            ),
        };
        self.problem(problem);
        None
    }

    fn raw(&self, name: &str) -> Option<Raw<'a>> {
        match &self.source {
            Source::Json { map, .. } => {
                let map: &'a Map<String, Value> = map;
                map.get(name).map(Raw::Json)
            }
            Source::Text(fields) => {
                let fields: &'a TextFields = fields;
                fields.get(name).map(Raw::Text)
            }
            Source::Nothing => None,
        }
    }

    fn problem(&mut self, text: String) {
        self.findings.problems.push((self.section, text));
    }

    fn read<T: FieldValue>(
        &mut self,
        name: &str,
        required: bool,
        bounds: Bounds,
        one_of: Option<&OneOf<T>>,
    ) -> Option<T> {
        self.declared.insert(name.to_owned());
        if matches!(self.source, Source::Nothing) {
            return None;
        }
        let path = format!("{}.{name}", self.path);
        let Some(raw) = self.raw(name) else {
            if required {
                self.problem(format!("{path} must be defined"));
            }
            return None;
        };
        let parsed = match raw {
            Raw::Json(Value::Null) if !T::NULLABLE => {
                self.problem(format!("{path} cannot be null"));
                return None;
            }
            Raw::Json(value) => T::from_json(value, &self.findings.context),
            Raw::Text(text) => T::from_text(text, &self.findings.context),
        };
        let value = match parsed {
            Ok(value) => value,
            Err(rejection) => {
                let message = match rejection {
                    Rejection::MeWithoutUser => {
                        self.findings.me_without_user = true;
                        return None;
                    }
                    Rejection::NotType => format!(
                        "{path} must be a `{}` type, but the final value was: `{}`.",
                        T::TYPE_NAME,
                        raw.printed()
                    ),
                    Rejection::NotTypeAfterCast { final_value } => format!(
                        "{path} must be a `{}` type, but the final value was: `{final_value}` (cast from the value `{}`).",
                        T::TYPE_NAME,
                        raw.printed()
                    ),
                    Rejection::Invalid(tail) => format!("{path} {tail}"),
                    Rejection::Message(message) => message,
                };
                self.problem(message);
                return None;
            }
        };
        if let (Some(max), Some(length)) = (bounds.max_chars, value.js_len()) {
            if length > max {
                self.problem(format!("{path} must be at most {max} characters"));
                return None;
            }
        }
        if let (Some(max), Some(length)) = (bounds.max_json_bytes, value.json_bytes()) {
            if length > max {
                self.problem(format!("{path} must be at most {max} bytes as JSON"));
                return None;
            }
        }
        if let (Some((min, max)), Some(number)) = (bounds.range, value.as_integer()) {
            if number < min {
                self.problem(format!("{path} must be greater than or equal to {min}"));
                return None;
            }
            if number > max {
                self.problem(format!("{path} must be less than or equal to {max}"));
                return None;
            }
        }
        if let Some(one_of) = one_of {
            if !one_of
                .values
                .iter()
                .any(|allowed| (one_of.equals)(allowed, &value))
            {
                self.problem(format!(
                    "{path} must be one of the following values: {}",
                    one_of.rendered
                ));
                return None;
            }
        }
        Some(value)
    }

    fn report_unknown_properties(&mut self) {
        let unknown: Vec<&str> = match &self.source {
            Source::Json { order, .. } => order
                .iter()
                .map(String::as_str)
                .filter(|key| !self.declared.contains(*key))
                .collect(),
            Source::Text(fields) => fields
                .names()
                .filter(|key| !self.declared.contains(*key))
                .collect(),
            Source::Nothing => Vec::new(),
        };
        if !unknown.is_empty() {
            let text = format!(
                "{} contains unknown properties: {}",
                self.path,
                unknown.join(", ")
            );
            self.problem(text);
        }
    }
}

/// The allowed values of a field (yup's `oneOf`).
struct OneOf<T: 'static> {
    values: &'static [T],
    rendered: String,
    equals: fn(&T, &T) -> bool,
}

/// The size and range bounds of a field (yup's `max` on strings and numbers, `min` on numbers,
/// and keygate's own bound on a JSON value's size).
#[derive(Debug, Clone, Copy, Default)]
struct Bounds {
    max_chars: Option<usize>,
    max_json_bytes: Option<usize>,
    range: Option<(i64, i64)>,
}

/// A field being declared; finish with [`Field::required`] or [`Field::optional`].
pub struct Field<'r, 'a, T: FieldValue + 'static> {
    reader: &'r mut FieldReader<'a>,
    name: String,
    bounds: Bounds,
    one_of: Option<OneOf<T>>,
}

impl<T: FieldValue> fmt::Debug for Field<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name)
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

impl<T: FieldValue + 'static> Field<'_, '_, T> {
    /// Refuses strings longer than `max` (counted like JavaScript's `length`).
    pub fn max_chars(mut self, max: usize) -> Self {
        self.bounds.max_chars = Some(max);
        self
    }

    /// Refuses values whose compact JSON text is longer than `max` bytes (metadata).
    pub fn max_json_bytes(mut self, max: usize) -> Self {
        self.bounds.max_json_bytes = Some(max);
        self
    }

    /// Refuses integers outside `min..=max` with yup's `min` / `max` messages.
    pub fn range(mut self, min: i64, max: i64) -> Self {
        self.bounds.range = Some((min, max));
        self
    }

    /// Accepts only these values (e.g. `revoked` accepts only `true`).
    pub fn one_of(mut self, values: &'static [T]) -> Self
    where
        T: PartialEq + fmt::Display,
    {
        let rendered = values
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        self.one_of = Some(OneOf {
            values,
            rendered,
            equals: T::eq,
        });
        self
    }

    /// The field must be present (yup's `defined()`).
    pub fn required(self) -> T {
        self.reader
            .read(&self.name, true, self.bounds, self.one_of.as_ref())
            .unwrap_or_else(T::placeholder)
    }

    /// The field may be absent: `None` then.
    pub fn optional(self) -> Option<T> {
        if self.reader.raw(&self.name).is_none() {
            self.reader.declared.insert(self.name);
            return None;
        }
        Some(
            self.reader
                .read(&self.name, false, self.bounds, self.one_of.as_ref())
                .unwrap_or_else(T::placeholder),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::Method;
    use actix_web::{test as actix_test, web, App, HttpResponse};

    fn json_body(text: &str) -> RequestBody {
        RequestBody::from_parts(&Method::POST, Some("application/json"), text.as_bytes())
            .expect("valid JSON")
    }

    fn check(method: &str, path: &str, query: &str) -> RequestCheck {
        RequestCheck::from_parts(method, path, query, TextFields::default())
    }

    fn schema_message<T: fmt::Debug>(result: Result<T, ApiError>) -> String {
        match result {
            Err(ApiError::Known(KnownError::SchemaError { message })) => message,
            other => panic!("expected SCHEMA_ERROR, got {other:?}"),
        }
    }

    #[derive(Debug, PartialEq)]
    struct CreateUserKey {
        description: String,
        expires_at_millis: Option<i64>,
        is_public: Option<bool>,
        user_id: UserIdOrMe,
    }

    fn read_create(o: &mut FieldReader<'_>) -> CreateUserKey {
        CreateUserKey {
            description: o.field::<String>("description").required(),
            expires_at_millis: o.field::<Option<i64>>("expires_at_millis").required(),
            is_public: o.field::<bool>("is_public").optional(),
            user_id: o.field::<UserIdOrMe>("user_id").required(),
        }
    }

    #[test]
    fn a_valid_body_yields_typed_values() {
        let user = UserId::new_random();
        let mut c = check("POST", "/api/v1/user-api-keys", "").with_current_user(Some(user));
        let body = c.body(
            &json_body(r#"{"description":"","expires_at_millis":null,"user_id":"me"}"#),
            read_create,
        );
        assert_eq!(
            c.finish(body).unwrap(),
            CreateUserKey {
                description: String::new(),
                expires_at_millis: None,
                is_public: None,
                user_id: UserIdOrMe(user),
            }
        );
    }

    #[test]
    fn every_problem_is_listed_in_upstreams_format() {
        let mut c = check("POST", "/api/v1/user-api-keys", "");
        let body = c.body(
            &json_body(r#"{"zeta":1,"description":123,"user_id":"nope","alpha":true}"#),
            read_create,
        );
        assert_eq!(
            schema_message(c.finish(body)),
            "Request validation failed on POST /api/v1/user-api-keys:\n  - body.description must be a `string` type, but the final value was: `123`.\n  - body.expires_at_millis must be defined\n  - body.user_id must be a valid UUID\n  - body contains unknown properties: zeta, alpha"
        );
    }

    #[test]
    fn sections_are_ordered_body_params_query() {
        let mut c = RequestCheck::from_parts(
            "PATCH",
            "/api/v1/team-api-keys/x",
            "user_id=1",
            TextFields::from_pairs([("api_key_id".to_owned(), "x".to_owned())]),
        );
        // Declared in the "wrong" order on purpose.
        let query = c.query(|o| o.field::<TeamId>("team_id").required());
        let params = c.params(|o| o.field::<ApiKeyId>("api_key_id").required());
        let body = c.body(&json_body(r#"{"revoked":false}"#), |o| {
            o.field::<bool>("revoked").one_of(&[true]).optional()
        });
        assert_eq!(
            schema_message(c.finish((body, params, query))),
            "Request validation failed on PATCH /api/v1/team-api-keys/x:\n  - body.revoked must be one of the following values: true\n  - params.api_key_id must be a valid UUID\n  - query.team_id must be defined\n  - query contains unknown properties: user_id"
        );
    }

    #[test]
    fn null_is_refused_unless_nullable() {
        let mut c = check("POST", "/p", "");
        let body = c.body(
            &json_body(r#"{"description":null,"expires_at_millis":null}"#),
            |o| {
                (
                    o.field::<String>("description").required(),
                    o.field::<Option<i64>>("expires_at_millis").required(),
                )
            },
        );
        assert_eq!(
            schema_message(c.finish(body)),
            "Request validation failed on POST /p:\n  - body.description cannot be null"
        );
    }

    #[test]
    fn bodies_that_are_not_objects_are_refused_like_yup() {
        let cases = [
            (RequestBody::Absent, "body must be defined"),
            (json_body("null"), "body cannot be null"),
            (
                json_body("123"),
                "body must be a `object` type, but the final value was: `123`.",
            ),
            (
                json_body("[1]"),
                "body must be a `object` type, but the final value was: `[\n    \"1\"\n  ]`.",
            ),
            (
                RequestBody::Text("hi".into()),
                "body must be a `object` type, but the final value was: `\"hi\"`.",
            ),
        ];
        for (body, expected) in cases {
            let mut c = check("POST", "/p", "");
            let read = c.body(&body, read_create);
            assert_eq!(
                schema_message(c.finish(read)),
                format!("Request validation failed on POST /p:\n  - {expected}")
            );
        }
    }

    #[test]
    fn me_without_a_session_user_wins_over_schema_problems() {
        let mut c = check("POST", "/p", "");
        let body = c.body(&json_body(r#"{"user_id":"me","extra":1}"#), read_create);
        assert!(matches!(
            c.finish(body),
            Err(ApiError::Known(KnownError::CannotGetOwnUserWithoutUser))
        ));
    }

    #[test]
    fn integers_numbers_and_lengths() {
        let mut c = check("POST", "/p", "");
        let body = c.body(
            &json_body(r#"{"a":1.5,"b":1e300,"c":"12345","d":2.5,"e":-0}"#),
            |o| {
                (
                    o.field::<i64>("a").required(),
                    o.field::<i64>("b").required(),
                    o.field::<String>("c").max_chars(4).required(),
                    o.field::<f64>("d").required(),
                    o.field::<i64>("e").required(),
                )
            },
        );
        assert_eq!(
            schema_message(c.finish(body)),
            "Request validation failed on POST /p:\n  - body.a must be an integer\n  - body.b must be less than or equal to 9007199254740991\n  - body.c must be at most 4 characters"
        );
    }

    #[test]
    fn query_values_are_cast_like_yup() {
        let mut c = check(
            "GET",
            "/q",
            "recursive=TRUE&n=abc&flag=yes&count=0x10&user_id=",
        );
        let query = c.query(|o| {
            (
                o.field::<bool>("recursive").required(),
                o.field::<i64>("n").optional(),
                o.field::<bool>("flag").optional(),
                o.field::<i64>("count").required(),
                o.field::<UserIdOrMe>("user_id").optional(),
            )
        });
        assert_eq!(
            schema_message(c.finish(query)),
            "Request validation failed on GET /q:\n  - query.n must be a `number` type, but the final value was: `NaN` (cast from the value `\"abc\"`).\n  - query.flag must be a `boolean` type, but the final value was: `\"yes\"`.\n  - query.user_id must be a valid UUID"
        );

        let mut ok = check("GET", "/q", "recursive=1&count=0x10");
        let query = ok.query(|o| {
            (
                o.field::<bool>("recursive").required(),
                o.field::<i64>("count").required(),
            )
        });
        assert_eq!(ok.finish(query).unwrap(), (true, 16));
    }

    #[test]
    fn uuids_follow_yups_pattern() {
        assert!(is_yup_uuid("3241a285-8329-4d69-8f3d-316e08cf140c"));
        assert!(is_yup_uuid("3241A285-8329-4D69-8F3D-316E08CF140C"));
        assert!(is_yup_uuid("00000000-0000-0000-0000-000000000000"));
        assert!(
            !is_yup_uuid("3241a285-8329-7d69-8f3d-316e08cf140c"),
            "version 7"
        );
        assert!(
            !is_yup_uuid("3241a285-8329-4d69-cf3d-316e08cf140c"),
            "variant"
        );
        assert!(!is_yup_uuid("3241a28583294d698f3d316e08cf140c"));
        assert!(!is_yup_uuid("{3241a285-8329-4d69-8f3d-316e08cf140c}"));
        let mut c = check("GET", "/q", "id=3241A285-8329-4D69-8F3D-316E08CF140C");
        let query = c.query(|o| o.field::<UserId>("id").required());
        assert_eq!(
            c.finish(query).unwrap().to_string(),
            "3241a285-8329-4d69-8f3d-316e08cf140c"
        );
    }

    #[test]
    fn nested_objects_are_checked_with_their_path() {
        let mut c = check("POST", "/api/v1/internal/projects", "");
        let body = c.body(
            &json_body(r#"{"display_name":"x","config":{"allow_user_api_keys":"yes","bogus":1}}"#),
            |o| {
                let display_name = o.field::<String>("display_name").required();
                let config = o.optional_object("config", |c| {
                    c.field::<bool>("allow_user_api_keys").optional()
                });
                (display_name, config)
            },
        );
        assert_eq!(
            schema_message(c.finish(body)),
            "Request validation failed on POST /api/v1/internal/projects:\n  - body.config.allow_user_api_keys must be a `boolean` type, but the final value was: `\"yes\"`.\n  - body.config contains unknown properties: bogus"
        );

        let mut c = check("POST", "/p", "");
        let body = c.body(&json_body(r#"{"config":[]}"#), |o| {
            o.optional_object("config", |c| c.field::<bool>("a").optional())
        });
        assert_eq!(
            schema_message(c.finish(body)),
            "Request validation failed on POST /p:\n  - body.config must be a `object` type, but the final value was: `[]`."
        );

        let mut c = check("POST", "/p", "");
        let body = c.body(&json_body("{}"), |o| {
            o.optional_object("config", |c| c.field::<bool>("a").optional())
        });
        assert_eq!(c.finish(body).unwrap(), None);
    }

    #[test]
    fn form_bodies_are_read_as_text() {
        let body = RequestBody::from_parts(
            &Method::POST,
            Some("application/x-www-form-urlencoded"),
            b"grant_type=refresh_token&expires=5",
        )
        .unwrap();
        let mut c = check("POST", "/token", "");
        let read = c.body(&body, |o| {
            (
                o.field::<String>("grant_type").required(),
                o.field::<i64>("expires").required(),
            )
        });
        assert_eq!(c.finish(read).unwrap(), ("refresh_token".to_owned(), 5));
    }

    #[test]
    fn any_json_field_accepts_everything() {
        let mut c = check("POST", "/p", "");
        let body = c.body(&json_body(r#"{"client_metadata":{"a":[1,null]}}"#), |o| {
            o.field::<Value>("client_metadata").optional()
        });
        assert_eq!(
            c.finish(body).unwrap(),
            Some(serde_json::json!({"a": [1, null]}))
        );
    }

    async fn read_key(request: HttpRequest) -> Result<HttpResponse, ApiError> {
        let mut c = RequestCheck::new(&request);
        let params = c.params(|o| o.field::<ApiKeyId>("api_key_id").required());
        let query = c.query(|o| o.field::<UserIdOrMe>("user_id").optional());
        let (id, _user) = c.finish((params, query))?;
        Ok(HttpResponse::Ok().body(id.to_string()))
    }

    #[actix_web::test]
    async fn a_handler_validates_path_and_query_from_the_request() {
        let app = actix_test::init_service(App::new().route(
            "/api/v1/user-api-keys/{api_key_id}",
            web::get().to(read_key),
        ))
        .await;
        let request = actix_test::TestRequest::get()
            .uri("/api/v1/user-api-keys/not-a-uuid?team_id=x")
            .to_request();
        let response = actix_test::call_service(&app, request).await;
        assert_eq!(response.status(), 400);
        let json: Value = actix_test::read_body_json(response).await;
        let expected = "Request validation failed on GET /api/v1/user-api-keys/not-a-uuid:\n  - params.api_key_id must be a valid UUID\n  - query contains unknown properties: team_id";
        assert_eq!(json["error"], expected);
        assert_eq!(json["details"]["message"], expected);

        let id = ApiKeyId::new_random();
        let request = actix_test::TestRequest::get()
            .uri(&format!("/api/v1/user-api-keys/{id}"))
            .to_request();
        let response = actix_test::call_service(&app, request).await;
        assert_eq!(response.status(), 200);
        assert_eq!(actix_test::read_body(response).await, id.to_string());
    }
}
