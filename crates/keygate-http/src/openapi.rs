//! The OpenAPI 3.1 document of every route (`GET /api/v1/openapi.json`) and the browsable API
//! reference (`GET /api/v1/docs/`).
//!
//! **Key decision:** the document is assembled in Rust with `utoipa`'s typed model, never kept as
//! a hand-written file. Response bodies are the `ToSchema` derives of the very structs that
//! serialize the answers (`routes::api_keys::wire`, `routes::identity_objects`,
//! `project_objects`), so a field added to an answer appears in the document; request bodies and
//! parameters are declared once here, one [`Op`] per route, because keygate validates requests
//! with its own field reader (upstream's `SCHEMA_ERROR` texts) rather than serde. Two checks keep
//! the declarations honest: the unit test below walks the routes as they are registered
//! ([`crate::app::registered_routes`]) and fails when a route is missing from the document or the
//! document names one that is not registered, and Schemathesis (`tests/schemathesis/run.sh`)
//! sends generated requests to the real binary and fails on any answer that does not match.
//! The document is built once per process and served as the same bytes to every request.
//!
//! The reference page is Swagger UI, its files compiled into the binary (`utoipa-swagger-ui`,
//! vendored, embedded in every build): it needs no CDN and works with no internet. Its page is
//! served under a `content-security-policy` that allows only this server.

use std::sync::{Arc, LazyLock};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ComponentsBuilder, KnownFormat, ObjectBuilder,
    OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder,
};
use utoipa::ToSchema;

use crate::audit_objects::AuditEventList;
use crate::project_objects::{
    ClientProjectObject, CredentialListObject, CredentialObject, CredentialReadObject,
    ProjectObject, ScopeList,
};
use crate::responses::not_found;
use crate::route_table::Routes;
use crate::routes::api_keys::wire::{ApiKeyList, ApiKeyObject};
use crate::routes::contact_channels::ContactChannelObject;
use crate::routes::identity_objects::{
    MembershipObject, OAuthErrorObject, OAuthTokenObject, SessionObject, SessionTokensObject,
    SuccessObject, TeamObject, TeamPermissionObject, UserObject,
};
use crate::routes::notification_preferences::NotificationPreferenceObject;
use crate::routes::payments::{BillingObject, ProductListObject};
use crate::routes::team_member_profiles::TeamMemberProfileObject;
use crate::routes::webhooks::{DeliveryList, EndpointList, EndpointObject};
use crate::wire_error::{JSON_CONTENT_TYPE, KNOWN_ERROR_HEADER};
use keygate_domain::{RateLimit, Refill, UsageCredits, MAX_CHECK_COST};

use keygate_service::audit::{ActorType, AuditAction};
use keygate_service::webhooks::EVENT_TYPES;
use keygate_service::Limits;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// The reference page (Swagger UI); its files are served next to it.
pub const DOCS_PATH: &str = "/api/v1/docs/";
/// The reference page without its trailing slash: redirects to [`DOCS_PATH`].
const DOCS_REDIRECT_PATH: &str = "/api/v1/docs";
/// One file of the reference page.
const DOCS_FILE_PATH: &str = "/api/v1/docs/{file}";

/// The reference page's `content-security-policy`: its own scripts and styles (Swagger UI sets
/// inline styles), its inline SVG icons, and requests to this server only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Registers the document, the reference page and its files.
pub fn configure(routes: &mut Routes<'_>) {
    routes.resource(OPENAPI_PATH).get(serve_document).register();
    routes
        .resource(DOCS_REDIRECT_PATH)
        .get(redirect_to_docs)
        .register();
    routes.resource(DOCS_PATH).get(docs_index).register();
    routes.resource(DOCS_FILE_PATH).get(docs_file).register();
}

/// The document as JSON bytes, built on first use (the app builds it at start-up).
pub fn document_json() -> &'static [u8] {
    static JSON: LazyLock<Vec<u8>> =
        LazyLock::new(|| serde_json::to_vec(&document()).expect("the OpenAPI document serializes"));
    &JSON
}

async fn serve_document() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        ))
        .body(document_json())
}

async fn redirect_to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, DOCS_PATH))
        .finish()
}

fn swagger_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
        Arc::new(
            utoipa_swagger_ui::Config::from(OPENAPI_PATH)
                // No call to the public validator: the page talks to this server only.
                .validator_url("none")
                .try_it_out_enabled(false),
        )
    });
    Arc::clone(&CONFIG)
}

async fn docs_index(request: HttpRequest) -> HttpResponse {
    docs_answer(request, "index.html").await
}

async fn docs_file(request: HttpRequest, file: web::Path<String>) -> HttpResponse {
    docs_answer(request, &file.into_inner()).await
}

/// One file of Swagger UI's distribution (`index.html` for the page), or the plain 404.
async fn docs_answer(request: HttpRequest, file: &str) -> HttpResponse {
    match utoipa_swagger_ui::serve(file, swagger_config()) {
        Ok(Some(found)) => {
            let mut response = HttpResponse::Ok();
            response.insert_header((header::CONTENT_TYPE, found.content_type));
            if file == "index.html" {
                response
                    .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP))
                    .insert_header((header::X_FRAME_OPTIONS, "DENY"));
            }
            response.body(found.bytes.into_owned())
        }
        Ok(None) | Err(_) => not_found(request).await,
    }
}

// ---------------------------------------------------------------------------------------------
// The document.

/// Who may call an operation.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// No authentication.
    Public,
    /// Project access of these types (`x-stack-access-type` and the type's key).
    Project(&'static [Kind]),
    /// Admin access, or the operator token with `x-stack-project-id`.
    AdminOrOperator,
    /// The operator token alone.
    Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Client,
    Server,
    Admin,
}

const CSA: &[Kind] = &[Kind::Client, Kind::Server, Kind::Admin];
const SA: &[Kind] = &[Kind::Server, Kind::Admin];
const A: &[Kind] = &[Kind::Admin];

/// How a request body is sent.
#[derive(Debug)]
enum Body {
    /// None read (any body is ignored).
    None,
    /// JSON (an object; `{}` and an empty body read the same).
    Json(RefOr<Schema>),
    /// `application/x-www-form-urlencoded` (the OAuth token endpoint; JSON is read too).
    Form(RefOr<Schema>),
}

/// What a success answers.
// Built once, when the document is: size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Success {
    Json(u16, RefOr<Schema>),
    /// Content types and a description (pages, scripts, metrics).
    Other(u16, &'static [&'static str], &'static str),
}

/// One operation: method, path (as registered), and what it reads and answers.
#[derive(Debug)]
struct Op {
    method: HttpMethod,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
    params: Vec<Param>,
    body: Body,
    success: Success,
    /// Error statuses besides those the access and body imply.
    errors: &'static [u16],
}

#[derive(Debug)]
struct Param {
    name: &'static str,
    location: ParameterIn,
    required: bool,
    schema: RefOr<Schema>,
    description: &'static str,
}

fn path_param(name: &'static str, schema: RefOr<Schema>) -> Param {
    Param {
        name,
        location: ParameterIn::Path,
        required: true,
        schema,
        description: "",
    }
}

fn query(name: &'static str, required: bool, schema: RefOr<Schema>) -> Param {
    Param {
        name,
        location: ParameterIn::Query,
        required,
        schema,
        description: "",
    }
}

fn described(mut param: Param, description: &'static str) -> Param {
    param.description = description;
    param
}

// Schema helpers.

fn typed(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kind)
}

fn string() -> RefOr<Schema> {
    typed(Type::String).into()
}

fn string_max(max: usize) -> RefOr<Schema> {
    typed(Type::String).max_length(Some(max)).into()
}

fn nullable(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([kind, Type::Null]))
}

fn uuid() -> RefOr<Schema> {
    typed(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}

/// A user id or `me` (the session user).
fn uuid_or_me() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(uuid())
        .item(typed(Type::String).enum_values(Some(["me"])))
        .description(Some("A user id, or `me` for the session user."))
        .into()
}

/// A team permission id: lowercase letters, digits, `_` and `:`, or a system permission
/// (`$`-prefixed, one of the catalogue's).
fn permission_id() -> RefOr<Schema> {
    typed(Type::String)
        .pattern(Some("^\\$?[a-z0-9_:]+$"))
        .into()
}

fn boolean() -> RefOr<Schema> {
    typed(Type::Boolean).into()
}

fn integer() -> RefOr<Schema> {
    typed(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .into()
}

fn any_json() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .description(Some(
            "Any JSON value, at most `limits.max_metadata_bytes` (16 KiB) as compact JSON.",
        ))
        .into()
}

fn only_true() -> RefOr<Schema> {
    typed(Type::Boolean).enum_values(Some([true])).into()
}

fn only_false() -> RefOr<Schema> {
    typed(Type::Boolean).enum_values(Some([false])).into()
}

/// A closed object (`additionalProperties: false`: unknown properties are `SCHEMA_ERROR`).
fn object(fields: Vec<(&'static str, bool, RefOr<Schema>)>) -> RefOr<Schema> {
    let mut builder =
        typed(Type::Object).additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for (name, required, schema) in fields {
        builder = builder.property(name, schema);
        if required {
            builder = builder.required(name);
        }
    }
    builder.into()
}

fn empty_object() -> RefOr<Schema> {
    object(Vec::new())
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// `{"items": [...], "is_paginated": false}`.
fn list_of(item: &str) -> RefOr<Schema> {
    typed(Type::Object)
        .property("items", ArrayBuilder::new().items(reference(item)))
        .required("items")
        .property("is_paginated", boolean())
        .required("is_paginated")
        .into()
}

/// The description of a field whose cap is a setting.
const DESCRIPTION_CAP: &str = "At most `limits.max_description_chars` (1,000) characters.";

fn key_create_body(owner: &'static str, owner_schema: RefOr<Schema>) -> RefOr<Schema> {
    object(vec![
        (
            "description",
            true,
            typed(Type::String)
                .description(Some(DESCRIPTION_CAP))
                .into(),
        ),
        (
            "expires_at_millis",
            true,
            nullable(Type::Integer)
                .description(Some("Epoch milliseconds; `null` never expires."))
                .into(),
        ),
        ("is_public", false, boolean()),
        (owner, true, owner_schema),
        (
            "scopes",
            false,
            ArrayBuilder::new()
                .items(scope_id())
                .max_items(Some(100))
                .description(Some("keygate's own: scope ids from the project's `config.api_key_scopes`; fixed for the key's life."))
                .into(),
        ),
        (
            "metadata",
            false,
            typed(Type::Object)
                .description(Some("keygate's own: any JSON object (at most `limits.max_metadata_bytes`), returned by the check; server and admin access only."))
                .into(),
        ),
        (
            "rate_limit",
            false,
            rate_limit_schema(false, "keygate's own: at most `limit` checks per `window_millis` (windows aligned to the epoch); over it the check is `API_KEY_RATE_LIMITED` (429). Server and admin access only; default: the project's `config.api_key_rate_limit`."),
        ),
        (
            "remaining_uses",
            false,
            typed(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(UsageCredits::MAX_REMAINING))
                .description(Some("keygate's own: usage credits; each successful check spends its `cost`, and a key without enough is `API_KEY_USAGE_EXCEEDED` (429). Server and admin access only; absent: unlimited (or the refill's amount with a refill)."))
                .into(),
        ),
        (
            "refill",
            false,
            typed(Type::Object)
                .property(
                    "amount",
                    typed(Type::Integer)
                        .minimum(Some(*Refill::AMOUNTS.start()))
                        .maximum(Some(*Refill::AMOUNTS.end())),
                )
                .required("amount")
                .property(
                    "interval_millis",
                    typed(Type::Integer)
                        .minimum(Some(*Refill::INTERVALS_MILLIS.start()))
                        .maximum(Some(*Refill::INTERVALS_MILLIS.end())),
                )
                .required("interval_millis")
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                .description(Some("keygate's own: the credits are set back to `amount` every `interval_millis`, counted from the key's creation. Server and admin access only."))
                .into(),
        ),
    ])
}

/// A scope id: 1 to 64 letters, digits, `_`, `-`, `.`, `:`.
fn scope_id() -> RefOr<Schema> {
    typed(Type::String)
        .pattern(Some("^[A-Za-z0-9_.:-]{1,64}$"))
        .into()
}

/// The check's body: the key and, keygate's own, the scopes it must carry.
fn check_body() -> RefOr<Schema> {
    object(vec![
        ("api_key", true, string()),
        (
            "required_scopes",
            false,
            ArrayBuilder::new()
                .items(scope_id())
                .max_items(Some(100))
                .description(Some(
                    "keygate's own: a valid key lacking one is `API_KEY_SCOPE_MISSING` (403).",
                ))
                .into(),
        ),
        (
            "cost",
            false,
            typed(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(MAX_CHECK_COST))
                .description(Some("keygate's own: the usage credits this check spends from a key that has them (default 1; 0 spends nothing)."))
                .into(),
        ),
    ])
}

fn key_update_body() -> RefOr<Schema> {
    object(vec![
        (
            "description",
            false,
            typed(Type::String)
                .description(Some(DESCRIPTION_CAP))
                .into(),
        ),
        ("revoked", false, only_true()),
    ])
}

/// The rotate body: how long the old key keeps working.
fn rotate_body() -> RefOr<Schema> {
    object(vec![(
        "grace_period_millis",
        false,
        typed(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(Limits::DEFAULT_MAX_ROTATION_GRACE_MILLIS))
            .description(Some("How long the old key keeps working, at most `limits.max_rotation_grace_millis` (30 days); absent or 0 revokes it at once. A revoked or expired key is `API_KEY_REVOKED` / `API_KEY_EXPIRED`."))
            .into(),
    )])
}

fn api_key_body() -> RefOr<Schema> {
    object(vec![("api_key", true, string())])
}

fn page_params() -> Vec<Param> {
    vec![
        described(
            query(
                "limit",
                false,
                typed(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(1000))
                    .into(),
            ),
            "keygate's pagination: one page of at most this many keys (up to `limits.max_page_size`).",
        ),
        described(
            query("cursor", false, string()),
            "The `next_cursor` of the previous page.",
        ),
    ]
}

fn user_fields(server: bool, create: bool) -> RefOr<Schema> {
    let mut fields = vec![
        (
            "display_name",
            false,
            nullable(Type::String).max_length(Some(1000)).into(),
        ),
        ("profile_image_url", false, nullable(Type::String).into()),
        ("client_metadata", false, any_json()),
        ("primary_email", false, nullable(Type::String).into()),
    ];
    // keygate has no sign-in methods: each of these is accepted only as "none".
    let none = |name| {
        (
            name,
            false,
            OneOfBuilder::new()
                .item(typed(Type::Null))
                .item(only_false())
                .item(ArrayBuilder::new().max_items(Some(0)))
                .into(),
        )
    };
    if server {
        fields.push(("client_read_only_metadata", false, any_json()));
        fields.push(("server_metadata", false, any_json()));
        fields.push(("primary_email_verified", false, boolean()));
        fields.push(("is_anonymous", false, only_false()));
        for name in [
            "primary_email_auth_enabled",
            "passkey_auth_enabled",
            "password",
            "password_hash",
            "otp_auth_enabled",
            "totp_secret_base64",
        ] {
            fields.push(none(name));
        }
        if create {
            fields.push(none("oauth_providers"));
        }
    } else {
        for name in [
            "passkey_auth_enabled",
            "otp_auth_enabled",
            "totp_secret_base64",
        ] {
            fields.push(none(name));
        }
    }
    if !create {
        fields.push((
            "selected_team_id",
            false,
            nullable(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                .into(),
        ));
    }
    object(fields)
}

fn team_fields(create: bool) -> RefOr<Schema> {
    let mut fields = vec![
        ("display_name", create, string_max(1000)),
        ("profile_image_url", false, nullable(Type::String).into()),
        ("client_metadata", false, any_json()),
        ("client_read_only_metadata", false, any_json()),
        ("server_metadata", false, any_json()),
    ];
    if create {
        fields.push(("creator_user_id", false, uuid_or_me()));
    }
    object(fields)
}

fn project_config() -> RefOr<Schema> {
    object(vec![
        ("allow_user_api_keys", false, boolean()),
        ("allow_team_api_keys", false, boolean()),
        ("client_team_creation_enabled", false, boolean()),
        ("allow_localhost", false, boolean()),
        (
            "domains",
            false,
            ArrayBuilder::new()
                .items(object(vec![
                    ("domain", true, string()),
                    ("handler_path", false, string()),
                ]))
                .into(),
        ),
        (
            "api_key_scopes",
            false,
            ArrayBuilder::new()
                .items(object(vec![
                    ("id", true, scope_id()),
                    ("description", false, string()),
                ]))
                .max_items(Some(100))
                .into(),
        ),
        (
            "api_key_rate_limit",
            false,
            rate_limit_schema(
                true,
                "keygate's own: the rate limit of keys created without one; `null` for none.",
            ),
        ),
    ])
}

/// A rate limit `{limit, window_millis}` (`nullable`: or `null`).
fn rate_limit_schema(nullable: bool, description: &'static str) -> RefOr<Schema> {
    let limit = RateLimit::LIMITS;
    let window = RateLimit::WINDOWS_MILLIS;
    let mut schema = typed(Type::Object)
        .property(
            "limit",
            typed(Type::Integer)
                .minimum(Some(*limit.start()))
                .maximum(Some(*limit.end())),
        )
        .required("limit")
        .property(
            "window_millis",
            typed(Type::Integer)
                .minimum(Some(*window.start()))
                .maximum(Some(*window.end())),
        )
        .required("window_millis")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some(description));
    if nullable {
        schema = schema.schema_type(SchemaType::from_iter([Type::Object, Type::Null]));
    }
    schema.into()
}

/// Every operation keygate serves.
fn operations() -> Vec<Op> {
    use HttpMethod::{Delete, Get, Patch, Post};
    let mut ops = Vec::new();
    for (kind, owner, owner_schema, owner_required) in [
        (
            "user",
            "user_id",
            uuid_or_me as fn() -> RefOr<Schema>,
            false,
        ),
        ("team", "team_id", uuid as fn() -> RefOr<Schema>, true),
    ] {
        let (collection, check, item, rotate) = match kind {
            "user" => (
                "/api/v1/user-api-keys",
                "/api/v1/user-api-keys/check",
                "/api/v1/user-api-keys/{api_key_id}",
                "/api/v1/user-api-keys/{api_key_id}/rotate",
            ),
            _ => (
                "/api/v1/team-api-keys",
                "/api/v1/team-api-keys/check",
                "/api/v1/team-api-keys/{api_key_id}",
                "/api/v1/team-api-keys/{api_key_id}/rotate",
            ),
        };
        let ids: [&'static str; 6] = match kind {
            "user" => [
                "createUserApiKey",
                "listUserApiKeys",
                "checkUserApiKey",
                "readUserApiKey",
                "updateUserApiKey",
                "rotateUserApiKey",
            ],
            _ => [
                "createTeamApiKey",
                "listTeamApiKeys",
                "checkTeamApiKey",
                "readTeamApiKey",
                "updateTeamApiKey",
                "rotateTeamApiKey",
            ],
        };
        let summaries: [&'static str; 6] = match kind {
            "user" => [
                "Create a user API key (its value is shown only here)",
                "List a user's API keys, newest first",
                "Check a user API key: the key with its owner",
                "Read a user API key",
                "Update or revoke a user API key",
                "Rotate a user API key: a new key (shown only here) replaces it after a grace period",
            ],
            _ => [
                "Create a team API key (its value is shown only here)",
                "List a team's API keys, newest first",
                "Check a team API key: the key with its owner",
                "Read a team API key",
                "Update or revoke a team API key",
                "Rotate a team API key: a new key (shown only here) replaces it after a grace period",
            ],
        };
        let mut list_params = vec![query(owner, owner_required, owner_schema())];
        list_params.extend(page_params());
        ops.push(Op {
            method: Post,
            path: collection,
            id: ids[0],
            tag: "API keys",
            summary: summaries[0],
            access: Access::Project(CSA),
            params: vec![],
            body: Body::Json(key_create_body(owner, owner_schema())),
            success: Success::Json(200, reference("ApiKey")),
            errors: &[403, 404, 409],
        });
        ops.push(Op {
            method: Get,
            path: collection,
            id: ids[1],
            tag: "API keys",
            summary: summaries[1],
            access: Access::Project(CSA),
            params: list_params,
            body: Body::None,
            success: Success::Json(200, reference("ApiKeyList")),
            errors: &[403, 404],
        });
        ops.push(Op {
            method: Post,
            path: check,
            id: ids[2],
            tag: "API keys",
            summary: summaries[2],
            access: Access::Project(SA),
            params: vec![],
            body: Body::Json(check_body()),
            success: Success::Json(200, reference("ApiKey")),
            errors: &[403, 404, 429],
        });
        for (index, method) in [(3, Get), (4, Patch)] {
            ops.push(Op {
                method: method.clone(),
                path: item,
                id: ids[index],
                tag: "API keys",
                summary: summaries[index],
                access: Access::Project(CSA),
                params: vec![
                    path_param("api_key_id", uuid()),
                    query(owner, owner_required, owner_schema()),
                ],
                body: if method == Patch {
                    Body::Json(key_update_body())
                } else {
                    Body::None
                },
                success: Success::Json(200, reference("ApiKey")),
                errors: &[403, 404],
            });
        }
        ops.push(Op {
            method: Post,
            path: rotate,
            id: ids[5],
            tag: "API keys",
            summary: summaries[5],
            access: Access::Project(CSA),
            params: vec![
                path_param("api_key_id", uuid()),
                query(owner, owner_required, owner_schema()),
            ],
            body: Body::Json(rotate_body()),
            success: Success::Json(200, reference("ApiKey")),
            errors: &[401, 403, 404, 409],
        });
    }
    ops.push(Op {
        method: Get,
        path: "/api/v1/api-key-changes",
        id: "followApiKeyChanges",
        tag: "API keys",
        summary: "The project's key changes as server-sent events, for clients that verify repeated keys themselves (keygate's own; `keygate-client`)",
        access: Access::Project(SA),
        params: vec![],
        body: Body::None,
        success: Success::Other(
            200,
            &["text/event-stream"],
            "`event: ready` (data `{\"heartbeat_millis\": N}`), then `event: changed` with the comma-separated ids of keys that changed or were deleted, and a `:` comment line every heartbeat while nothing changed. The stream ends whenever the node might miss a change; a client then trusts nothing it cached until it has reconnected.",
        ),
        errors: &[503],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/api-key-scopes",
        id: "listApiKeyScopes",
        tag: "API keys",
        summary:
            "The project's scope catalogue, which new keys' scopes are chosen from (keygate's own)",
        access: Access::Project(CSA),
        params: vec![],
        body: Body::None,
        success: Success::Json(200, reference("ApiKeyScopeList")),
        errors: &[],
    });
    ops.push(Op {
        method: Post,
        path: "/api/v1/integrations/credential-scanning/revoke",
        id: "revokeLeakedApiKey",
        tag: "API keys",
        summary: "A secret scanner reports a leaked key: keygate revokes it and notifies its owner",
        access: Access::Public,
        params: vec![],
        body: Body::Json(api_key_body()),
        success: Success::Json(200, reference("Success")),
        errors: &[400, 401, 404, 429, 503],
    });

    // Projects and credentials.
    ops.push(Op {
        method: Post,
        path: "/api/v1/internal/projects",
        id: "createProject",
        tag: "Projects",
        summary: "Create a project (operator)",
        access: Access::Operator,
        params: vec![],
        body: Body::Json(object(vec![
            ("display_name", true, string()),
            ("config", false, project_config()),
        ])),
        success: Success::Json(201, reference("Project")),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/projects/current",
        id: "readClientProject",
        tag: "Projects",
        summary: "The project as its clients see it (upstream's client view)",
        access: Access::Project(CSA),
        params: vec![],
        body: Body::None,
        success: Success::Json(200, reference("ClientProject")),
        errors: &[],
    });
    for (method, id, summary, body) in [
        (Get, "readCurrentProject", "Read the project", Body::None),
        (
            Patch,
            "updateCurrentProject",
            "Update the project (name, API-key switches, CORS)",
            Body::Json(object(vec![
                ("display_name", false, string()),
                ("config", false, project_config()),
            ])),
        ),
    ] {
        ops.push(Op {
            method: method.clone(),
            path: "/api/v1/internal/projects/current",
            id,
            tag: "Projects",
            summary,
            access: Access::Project(A),
            params: vec![],
            body,
            success: Success::Json(200, reference("Project")),
            errors: &[],
        });
    }
    ops.push(Op {
        method: Post,
        path: "/api/v1/internal/api-keys",
        id: "createProjectCredential",
        tag: "Projects",
        summary: "Issue project credentials (the keys are shown only here)",
        access: Access::AdminOrOperator,
        params: vec![],
        body: Body::Json(object(vec![
            ("description", true, string()),
            ("expires_at_millis", true, nullable(Type::Integer).into()),
            ("has_publishable_client_key", true, boolean()),
            ("has_secret_server_key", true, boolean()),
            ("has_super_secret_admin_key", true, boolean()),
        ])),
        success: Success::Json(200, reference("IssuedCredential")),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/internal/api-keys",
        id: "listProjectCredentials",
        tag: "Projects",
        summary: "List the project's credentials (never a key)",
        access: Access::AdminOrOperator,
        params: vec![],
        body: Body::None,
        success: Success::Json(200, reference("CredentialList")),
        errors: &[],
    });
    for (method, id, summary, body) in [
        (
            Get,
            "readProjectCredential",
            "Read a project credential",
            Body::None,
        ),
        (
            Patch,
            "updateProjectCredential",
            "Describe or revoke a project credential",
            Body::Json(object(vec![
                ("description", false, string()),
                ("revoked", false, only_true()),
            ])),
        ),
    ] {
        ops.push(Op {
            method: method.clone(),
            path: "/api/v1/internal/api-keys/{api_key_id}",
            id,
            tag: "Projects",
            summary,
            access: Access::AdminOrOperator,
            params: vec![path_param("api_key_id", uuid())],
            body,
            success: Success::Json(200, reference("Credential")),
            errors: &[404],
        });
    }
    let mut project_key_params = vec![
        query("user_id", false, uuid()),
        query("team_id", false, uuid()),
        query(
            "state",
            false,
            typed(Type::String)
                .enum_values(Some(["valid", "revoked", "expired"]))
                .into(),
        ),
        described(
            query("last_used_before", false, integer()),
            "Epoch milliseconds; keys never used are included.",
        ),
    ];
    project_key_params.extend(page_params());
    ops.push(Op {
        method: Get,
        path: "/api/v1/internal/keys",
        id: "listProjectKeys",
        tag: "Projects",
        summary: "The project's user and team API keys across owners, in cursor pages",
        access: Access::AdminOrOperator,
        params: project_key_params,
        body: Body::None,
        success: Success::Json(200, reference("ApiKeyList")),
        errors: &[],
    });

    // The audit log.
    let mut audit_params = vec![
        query(
            "action",
            false,
            typed(Type::String)
                .enum_values(Some(AuditAction::ALL.iter().map(|a| a.name())))
                .into(),
        ),
        query("object_type", false, string()),
        query("object_id", false, string()),
        query(
            "actor_type",
            false,
            typed(Type::String)
                .enum_values(Some(ActorType::ALL.iter().map(|a| a.name())))
                .into(),
        ),
        query("actor_user_id", false, uuid()),
        query("target_user_id", false, uuid()),
        described(
            query("since_millis", false, integer()),
            "Epoch milliseconds, inclusive.",
        ),
        described(
            query("until_millis", false, integer()),
            "Epoch milliseconds, exclusive.",
        ),
    ];
    audit_params.extend(page_params());
    ops.push(Op {
        method: Get,
        path: crate::routes::audit_log::PATH,
        id: "listAuditEvents",
        tag: "Projects",
        summary: "The project's audit log, newest first, in cursor pages",
        access: Access::AdminOrOperator,
        params: audit_params,
        body: Body::None,
        success: Success::Json(200, reference("AuditEventList")),
        errors: &[],
    });

    // Webhooks.
    let event_types = || -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(typed(Type::String).enum_values(Some(EVENT_TYPES)))
            .into()
    };
    let endpoint_url = || -> RefOr<Schema> {
        typed(Type::String)
            .pattern(Some("^https?://[^/?#\\s]+"))
            .max_length(Some(2048))
            .into()
    };
    ops.push(Op {
        method: Post,
        path: crate::routes::webhooks::PATH,
        id: "createWebhook",
        tag: "Projects",
        summary: "Add a webhook endpoint (its signing secret is in this answer only)",
        access: Access::AdminOrOperator,
        params: vec![],
        body: Body::Json(object(vec![
            ("url", true, endpoint_url()),
            ("description", false, string()),
            ("event_types", false, event_types()),
        ])),
        success: Success::Json(200, reference("WebhookEndpoint")),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: crate::routes::webhooks::PATH,
        id: "listWebhooks",
        tag: "Projects",
        summary: "The project's webhook endpoints",
        access: Access::AdminOrOperator,
        params: vec![],
        body: Body::None,
        success: Success::Json(200, reference("WebhookEndpointList")),
        errors: &[],
    });
    for (method, id, summary, body, success) in [
        (
            Get,
            "readWebhook",
            "Read a webhook endpoint",
            Body::None,
            "WebhookEndpoint",
        ),
        (
            Patch,
            "updateWebhook",
            "Change or pause a webhook endpoint",
            Body::Json(object(vec![
                ("url", false, endpoint_url()),
                ("description", false, string()),
                ("event_types", false, event_types()),
                ("disabled", false, boolean()),
            ])),
            "WebhookEndpoint",
        ),
        (
            Delete,
            "deleteWebhook",
            "Delete a webhook endpoint with its delivery log",
            Body::None,
            "Success",
        ),
    ] {
        ops.push(Op {
            method,
            path: crate::routes::webhooks::ITEM_PATH,
            id,
            tag: "Projects",
            summary,
            access: Access::AdminOrOperator,
            params: vec![path_param("webhook_id", uuid())],
            body,
            success: Success::Json(200, reference(success)),
            errors: &[404],
        });
    }
    let mut delivery_params = vec![path_param("webhook_id", uuid())];
    delivery_params.extend(page_params());
    ops.push(Op {
        method: Get,
        path: crate::routes::webhooks::DELIVERIES_PATH,
        id: "listWebhookDeliveries",
        tag: "Projects",
        summary: "A webhook endpoint's delivery log, newest first, in cursor pages",
        access: Access::AdminOrOperator,
        params: delivery_params,
        body: Body::None,
        success: Success::Json(200, reference("WebhookDeliveryList")),
        errors: &[404],
    });

    // Users.
    ops.push(Op {
        method: Post,
        path: "/api/v1/users",
        id: "createUser",
        tag: "Users",
        summary: "Create a user",
        access: Access::Project(SA),
        params: vec![],
        body: Body::Json(user_fields(true, true)),
        success: Success::Json(201, reference("User")),
        errors: &[403, 409],
    });
    for (method, id, summary, body) in [
        (Get, "readCurrentUser", "Read the session user", Body::None),
        (
            Patch,
            "updateCurrentUser",
            "Update the session user (client fields on client access)",
            Body::Json(user_fields(true, false)),
        ),
        (
            Delete,
            "deleteCurrentUser",
            "Delete the session user (not on client access)",
            Body::None,
        ),
    ] {
        ops.push(Op {
            method: method.clone(),
            path: "/api/v1/users/me",
            id,
            tag: "Users",
            summary,
            access: Access::Project(CSA),
            params: vec![],
            success: if method == Delete {
                Success::Json(200, reference("Success"))
            } else {
                Success::Json(200, reference("User"))
            },
            body,
            errors: &[403, 404, 409],
        });
    }
    for (method, id, summary, body) in [
        (Get, "readUser", "Read a user", Body::None),
        (
            Patch,
            "updateUser",
            "Update a user",
            Body::Json(user_fields(true, false)),
        ),
        (
            Delete,
            "deleteUser",
            "Delete a user and its keys",
            Body::None,
        ),
    ] {
        ops.push(Op {
            method: method.clone(),
            path: "/api/v1/users/{user_id}",
            id,
            tag: "Users",
            summary,
            access: Access::Project(SA),
            params: vec![path_param("user_id", uuid_or_me())],
            success: if method == Delete {
                Success::Json(200, reference("Success"))
            } else {
                Success::Json(200, reference("User"))
            },
            body,
            errors: &[403, 404, 409],
        });
    }

    // Sessions.
    ops.push(Op {
        method: Post,
        path: "/api/v1/auth/sessions",
        id: "createSession",
        tag: "Sessions",
        summary: "Open a session for a user: an access and a refresh token",
        access: Access::Project(SA),
        params: vec![],
        body: Body::Json(object(vec![
            ("user_id", true, uuid_or_me()),
            (
                "expires_in_millis",
                false,
                typed(Type::Number).maximum(Some(31_708_800_000_i64)).into(),
            ),
            ("is_impersonation", false, boolean()),
            ("reason", false, nullable(Type::String).into()),
        ])),
        success: Success::Json(200, reference("SessionTokens")),
        errors: &[404],
    });
    ops.push(Op {
        method: Post,
        path: "/api/v1/auth/sessions/current/refresh",
        id: "refreshSession",
        tag: "Sessions",
        summary: "Trade the refresh token for a new access token",
        access: Access::Project(CSA),
        params: vec![Param {
            name: "x-stack-refresh-token",
            location: ParameterIn::Header,
            required: true,
            schema: string(),
            description:
                "The session's refresh token (also accepted as `x-hexclave-refresh-token`).",
        }],
        body: Body::None,
        success: Success::Json(200, reference("SessionTokens")),
        errors: &[],
    });
    ops.push(Op {
        method: Delete,
        path: "/api/v1/auth/sessions/current",
        id: "signOut",
        tag: "Sessions",
        summary: "Sign the access token's session out",
        access: Access::Project(CSA),
        params: vec![],
        body: Body::None,
        success: Success::Json(200, reference("Success")),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/auth/sessions",
        id: "listSessions",
        tag: "Sessions",
        summary: "List a user's open sessions (a client: its own), most recently opened first",
        access: Access::Project(CSA),
        params: vec![query("user_id", true, uuid_or_me())],
        body: Body::None,
        success: Success::Json(200, list_of("Session")),
        errors: &[403],
    });
    ops.push(Op {
        method: Delete,
        path: "/api/v1/auth/sessions/{session_id}",
        id: "revokeSession",
        tag: "Sessions",
        summary: "Sign one of a user's sessions out (never the request's own)",
        access: Access::Project(CSA),
        params: vec![
            path_param("session_id", uuid()),
            query("user_id", true, uuid_or_me()),
        ],
        body: Body::None,
        success: Success::Json(200, reference("Success")),
        errors: &[404],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/contact-channels",
        id: "listContactChannels",
        tag: "Account settings",
        summary: "A user's contact channels: their primary e-mail",
        access: Access::Project(CSA),
        params: vec![query("user_id", true, uuid_or_me())],
        body: Body::None,
        success: Success::Json(200, list_of("ContactChannel")),
        errors: &[403, 404],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/contact-channels/{user_id}/{contact_channel_id}",
        id: "readContactChannel",
        tag: "Account settings",
        summary: "One of a user's contact channels",
        access: Access::Project(CSA),
        params: vec![
            path_param("user_id", uuid_or_me()),
            path_param("contact_channel_id", uuid()),
        ],
        body: Body::None,
        success: Success::Json(200, reference("ContactChannel")),
        errors: &[403, 404],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/emails/notification-preference/{user_id}",
        id: "readNotificationPreferences",
        tag: "Account settings",
        summary: "The kinds of e-mail a user gets (keygate sends only transactional notices)",
        access: Access::Project(CSA),
        params: vec![path_param("user_id", uuid_or_me())],
        body: Body::None,
        success: Success::Json(200, list_of("NotificationPreference")),
        errors: &[403, 404],
    });
    let customer_type = |values: &[&str]| -> RefOr<Schema> {
        typed(Type::String)
            .enum_values(Some(values.iter().map(|v| (*v).to_owned())))
            .into()
    };
    ops.push(Op {
        method: Get,
        path: "/api/v1/payments/billing/{customer_type}/{customer_id}",
        id: "readCustomerBilling",
        tag: "Account settings",
        summary: "A customer's billing (keygate has no payments: never a customer)",
        access: Access::Project(CSA),
        params: vec![
            path_param("customer_type", customer_type(&["user", "team"])),
            path_param("customer_id", string()),
        ],
        body: Body::None,
        success: Success::Json(200, reference("CustomerBilling")),
        errors: &[403, 404],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/payments/products/{customer_type}/{customer_id}",
        id: "listCustomerProducts",
        tag: "Account settings",
        summary: "A customer's products (keygate has no payments: none)",
        access: Access::Project(CSA),
        params: vec![
            path_param("customer_type", customer_type(&["user", "team", "custom"])),
            path_param("customer_id", string()),
            query("cursor", false, string()),
            query(
                "limit",
                false,
                typed(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(100))
                    .into(),
            ),
        ],
        body: Body::None,
        success: Success::Json(200, reference("CustomerProductList")),
        errors: &[403, 404],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/team-member-profiles",
        id: "listTeamMemberProfiles",
        tag: "Account settings",
        summary: "A team's members' profiles, in the order they joined",
        access: Access::Project(CSA),
        params: vec![
            query("team_id", true, uuid()),
            query("user_id", false, uuid_or_me()),
        ],
        body: Body::None,
        success: Success::Json(200, list_of("TeamMemberProfile")),
        errors: &[404],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/team-member-profiles/{team_id}/{user_id}",
        id: "readTeamMemberProfile",
        tag: "Account settings",
        summary: "One member's profile in a team",
        access: Access::Project(CSA),
        params: vec![
            path_param("team_id", uuid()),
            path_param("user_id", uuid_or_me()),
        ],
        body: Body::None,
        success: Success::Json(200, reference("TeamMemberProfile")),
        errors: &[404],
    });
    ops.push(Op {
        method: Patch,
        path: "/api/v1/team-member-profiles/{team_id}/{user_id}",
        id: "updateTeamMemberProfile",
        tag: "Account settings",
        summary: "A member's name and picture in a team (a client: its own)",
        access: Access::Project(CSA),
        params: vec![
            path_param("team_id", uuid()),
            path_param("user_id", uuid_or_me()),
        ],
        body: Body::Json(object(vec![
            (
                "display_name",
                false,
                nullable(Type::String).max_length(Some(1000)).into(),
            ),
            (
                "profile_image_url",
                false,
                nullable(Type::String).max_length(Some(1_000_000)).into(),
            ),
        ])),
        success: Success::Json(200, reference("TeamMemberProfile")),
        errors: &[403, 404],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/team-invitations",
        id: "listTeamInvitations",
        tag: "Account settings",
        summary: "A team's outstanding invitations, or a user's (keygate has none)",
        access: Access::Project(CSA),
        params: vec![
            query("team_id", false, uuid()),
            query("user_id", false, uuid_or_me()),
        ],
        body: Body::None,
        success: Success::Json(200, list_of("TeamInvitation")),
        errors: &[404],
    });
    ops.push(Op {
        method: Post,
        path: "/api/v1/auth/oauth/token",
        id: "oauthToken",
        tag: "Sessions",
        summary: "OAuth 2.0 refresh-token grant (the SDK's token refresh)",
        access: Access::Public,
        params: vec![],
        body: Body::Form(
            typed(Type::Object)
                .property(
                    "grant_type",
                    typed(Type::String).enum_values(Some(["refresh_token", "authorization_code"])),
                )
                .required("grant_type")
                .property("refresh_token", string())
                .property("client_id", string())
                .property("client_secret", string())
                .into(),
        ),
        success: Success::Json(200, reference("OAuthToken")),
        errors: &[400, 401, 429, 503],
    });

    // Teams, memberships, permissions.
    ops.push(Op {
        method: Post,
        path: "/api/v1/teams",
        id: "createTeam",
        tag: "Teams",
        summary: "Create a team (its creator gets `team_admin`)",
        access: Access::Project(CSA),
        params: vec![],
        body: Body::Json(team_fields(true)),
        success: Success::Json(201, reference("Team")),
        errors: &[403, 404, 409],
    });
    ops.push(Op {
        method: Get,
        path: "/api/v1/teams",
        id: "listTeams",
        tag: "Teams",
        summary: "List teams (every team on server access; `user_id=me` the session user's)",
        access: Access::Project(CSA),
        params: vec![query("user_id", false, uuid_or_me())],
        body: Body::None,
        success: Success::Json(200, list_of("Team")),
        errors: &[403, 404],
    });
    for (method, id, summary, body) in [
        (Get, "readTeam", "Read a team", Body::None),
        (
            Patch,
            "updateTeam",
            "Update a team",
            Body::Json(team_fields(false)),
        ),
        (
            Delete,
            "deleteTeam",
            "Delete a team and its keys",
            Body::None,
        ),
    ] {
        ops.push(Op {
            method: method.clone(),
            path: "/api/v1/teams/{team_id}",
            id,
            tag: "Teams",
            summary,
            access: Access::Project(CSA),
            params: vec![path_param("team_id", uuid())],
            success: if method == Delete {
                Success::Json(200, reference("Success"))
            } else {
                Success::Json(200, reference("Team"))
            },
            body,
            errors: &[403, 404],
        });
    }
    for (method, id, summary, success, body) in [
        (
            Post,
            "addTeamMember",
            "Add a user to a team (the member gets `team_member`)",
            Success::Json(201, reference("TeamMembership")),
            Body::Json(empty_object()),
        ),
        (
            Delete,
            "removeTeamMember",
            "Remove a user from a team",
            Success::Json(200, reference("Success")),
            Body::None,
        ),
    ] {
        ops.push(Op {
            method: method.clone(),
            path: "/api/v1/team-memberships/{team_id}/{user_id}",
            id,
            tag: "Teams",
            summary,
            access: Access::Project(if method == Post { SA } else { CSA }),
            params: vec![
                path_param("team_id", uuid()),
                path_param("user_id", uuid_or_me()),
            ],
            body,
            success,
            errors: &[403, 404, 409],
        });
    }
    ops.push(Op {
        method: Get,
        path: "/api/v1/team-permissions",
        id: "listTeamPermissions",
        tag: "Teams",
        summary: "List the team permissions members hold",
        access: Access::Project(CSA),
        params: vec![
            query("team_id", false, uuid()),
            query("user_id", false, uuid_or_me()),
            query("permission_id", false, permission_id()),
            query(
                "recursive",
                false,
                typed(Type::String)
                    .enum_values(Some(["true", "false"]))
                    .into(),
            ),
        ],
        body: Body::None,
        success: Success::Json(200, list_of("TeamPermission")),
        errors: &[403, 404],
    });
    for (method, id, summary, success, body) in [
        (
            Post,
            "grantTeamPermission",
            "Grant a member a team permission (idempotent)",
            Success::Json(201, reference("TeamPermission")),
            Body::Json(empty_object()),
        ),
        (
            Delete,
            "revokeTeamPermission",
            "Revoke a member's team permission",
            Success::Json(200, reference("Success")),
            Body::None,
        ),
    ] {
        ops.push(Op {
            method: method.clone(),
            path: "/api/v1/team-permissions/{team_id}/{user_id}/{permission_id}",
            id,
            tag: "Teams",
            summary,
            access: Access::Project(SA),
            params: vec![
                path_param("team_id", uuid()),
                path_param("user_id", uuid_or_me()),
                path_param("permission_id", permission_id()),
            ],
            body,
            success,
            errors: &[403, 404, 409],
        });
    }

    // Operations.
    ops.push(Op {
        method: Get,
        path: "/health",
        id: "health",
        tag: "Operations",
        summary: "Liveness: answers without touching the database",
        access: Access::Public,
        params: vec![],
        body: Body::None,
        success: Success::Json(
            200,
            object(vec![(
                "status",
                true,
                typed(Type::String).enum_values(Some(["ok"])).into(),
            )]),
        ),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: "/health/ready",
        id: "ready",
        tag: "Operations",
        summary: "Readiness: 200 when the database answers, else 503",
        access: Access::Public,
        params: vec![],
        body: Body::None,
        success: Success::Json(
            200,
            object(vec![
                (
                    "status",
                    true,
                    typed(Type::String).enum_values(Some(["ready"])).into(),
                ),
                ("database", true, string()),
            ]),
        ),
        errors: &[503],
    });
    ops.push(Op {
        method: Get,
        path: "/metrics",
        id: "metrics",
        tag: "Operations",
        summary: "Prometheus metrics (only when `metrics.enabled`, else the plain 404)",
        access: Access::Public,
        params: vec![],
        body: Body::None,
        success: Success::Other(
            200,
            &["application/openmetrics-text; version=1.0.0; charset=utf-8"],
            "OpenMetrics text.",
        ),
        errors: &[404],
    });
    ops.push(Op {
        method: Get,
        path: OPENAPI_PATH,
        id: "openapi",
        tag: "Operations",
        summary: "This document",
        access: Access::Public,
        params: vec![],
        body: Body::None,
        success: Success::Json(200, typed(Type::Object).into()),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: DOCS_REDIRECT_PATH,
        id: "docsRedirect",
        tag: "Operations",
        summary: "Redirects to the API reference page",
        access: Access::Public,
        params: vec![],
        body: Body::None,
        success: Success::Other(308, &[], "To `/api/v1/docs/`."),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: DOCS_PATH,
        id: "docs",
        tag: "Operations",
        summary: "The API reference page (Swagger UI, served from the binary)",
        access: Access::Public,
        params: vec![],
        body: Body::None,
        success: Success::Other(200, &["text/html"], "The page."),
        errors: &[],
    });
    ops.push(Op {
        method: Get,
        path: DOCS_FILE_PATH,
        id: "docsFile",
        tag: "Operations",
        summary: "A file of the API reference page",
        access: Access::Public,
        params: vec![path_param("file", string())],
        body: Body::None,
        success: Success::Other(
            200,
            &[
                "text/html",
                "text/css",
                "text/javascript",
                "image/png",
                "application/json",
                "application/octet-stream",
            ],
            "The file.",
        ),
        errors: &[404],
    });

    // The prebuilt UI.
    for (path, id, summary, types) in [
        (
            "/ui/keygate-components.js",
            "uiComponents",
            "The `<keygate-api-keys>` web components",
            &["text/javascript; charset=utf-8"][..],
        ),
        (
            "/ui/account-settings.js",
            "uiPageScript",
            "The hosted account page's script",
            &["text/javascript; charset=utf-8"][..],
        ),
        (
            "/handler/account-settings",
            "uiAccountSettings",
            "The hosted account-settings page",
            &["text/html; charset=utf-8"][..],
        ),
    ] {
        ops.push(Op {
            method: Get,
            path,
            id,
            tag: "UI",
            summary,
            access: Access::Public,
            params: vec![],
            body: Body::None,
            success: Success::Other(200, types, "The file."),
            errors: &[],
        });
    }
    ops.push(Op {
        method: Post,
        path: "/handler/access-token",
        id: "uiAccessToken",
        tag: "UI",
        summary: "The hosted page's access token, from its `HttpOnly` session cookies (same origin only)",
        access: Access::Public,
        params: vec![],
        body: Body::None,
        success: Success::Json(200, typed(Type::Object).into()),
        errors: &[400, 401, 403, 404, 413, 429, 503],
    });
    ops.push(Op {
        method: Get,
        path: "/handler/demo-sign-in",
        id: "uiDemoSignInForm",
        tag: "UI",
        summary: "The demo sign-in form (with the one-time link's token; else the plain 404)",
        access: Access::Public,
        params: vec![query("token", false, string())],
        body: Body::None,
        success: Success::Other(200, &["text/html; charset=utf-8"], "The form."),
        errors: &[404],
    });
    ops.push(Op {
        method: Post,
        path: "/handler/demo-sign-in",
        id: "uiDemoSignIn",
        tag: "UI",
        summary: "Signs the demo user in and redirects to the hosted page (same origin only)",
        access: Access::Public,
        params: vec![query("token", false, string())],
        body: Body::None,
        success: Success::Other(
            303,
            &[],
            "To the hosted account page, with the session cookies.",
        ),
        errors: &[400, 403, 404, 413, 503],
    });
    ops
}

/// The security schemes, by name.
fn security_schemes() -> Vec<(&'static str, SecurityScheme)> {
    let header = |name: &str, description: &str| {
        let mut value = ApiKeyValue::new(name);
        value.description = Some(description.to_owned());
        SecurityScheme::ApiKey(ApiKey::Header(value))
    };
    vec![
        (
            "accessType",
            header(
                "x-stack-access-type",
                "`client`, `server` or `admin` (also `x-hexclave-access-type`).",
            ),
        ),
        (
            "projectId",
            header("x-stack-project-id", "The project's id."),
        ),
        (
            "publishableClientKey",
            header("x-stack-publishable-client-key", "Proves client access."),
        ),
        (
            "secretServerKey",
            header("x-stack-secret-server-key", "Proves server access."),
        ),
        (
            "superSecretAdminKey",
            header("x-stack-super-secret-admin-key", "Proves admin access."),
        ),
        (
            "accessToken",
            header(
                "x-stack-access-token",
                "A session's access token (JWT): the user `me` stands for.",
            ),
        ),
        (
            "operatorToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator token (`operator_token`); manages projects only.",
                    ))
                    .build(),
            ),
        ),
    ]
}

fn requirement(names: &[&str]) -> SecurityRequirement {
    names
        .iter()
        .fold(SecurityRequirement::default(), |requirement, name| {
            requirement.add(*name, Vec::<String>::new())
        })
}

fn securities(access: Access) -> Option<Vec<SecurityRequirement>> {
    let kind = |kind: &Kind| match kind {
        Kind::Client => requirement(&[
            "accessType",
            "projectId",
            "publishableClientKey",
            "accessToken",
        ]),
        Kind::Server => requirement(&["accessType", "projectId", "secretServerKey"]),
        Kind::Admin => requirement(&["accessType", "projectId", "superSecretAdminKey"]),
    };
    match access {
        Access::Public => None,
        Access::Project(kinds) => Some(kinds.iter().map(kind).collect()),
        Access::AdminOrOperator => Some(vec![
            kind(&Kind::Admin),
            requirement(&["operatorToken", "projectId"]),
        ]),
        Access::Operator => Some(vec![requirement(&["operatorToken"])]),
    }
}

/// An error answer: a known error (JSON, with `x-stack-known-error`) and/or plain text.
fn error_response(status: u16) -> utoipa::openapi::Response {
    let (description, json, text) = match status {
        400 => ("A known error (`SCHEMA_ERROR`, `BODY_PARSING_ERROR`, access-type errors, …), or plain text (a feature switched off).", true, true),
        401 => ("A known error: missing or invalid credentials, access type not allowed, expired or revoked key.", true, true),
        403 => ("Plain text (another user's keys, an action the session user may not take), or a known error.", true, true),
        404 => ("A known error (`API_KEY_NOT_FOUND`, `USER_NOT_FOUND`, `TEAM_NOT_FOUND`, …) or the plain-text 404.", true, true),
        409 => ("A known error: a limit reached or a duplicate.", true, true),
        413 => ("Plain text: the body is larger than the route's limit.", false, true),
        429 => ("`RATE_LIMITED` (`retry-after` in seconds); on the check, `API_KEY_RATE_LIMITED` (`retry-after` and `ratelimit-*`) or `API_KEY_USAGE_EXCEEDED`.", true, false),
        503 => ("Plain text: the database is unreachable; retry later.", false, true),
        _ => ("An error.", true, true),
    };
    let mut builder = ResponseBuilder::new().description(description);
    if json {
        builder = builder
            .content(
                JSON_CONTENT_TYPE,
                ContentBuilder::new()
                    .schema(Some(reference("KnownError")))
                    .build(),
            )
            .header(
                KNOWN_ERROR_HEADER,
                HeaderBuilder::new()
                    .schema(string())
                    .description(Some(
                        "The known error's code (absent on plain-text errors).",
                    ))
                    .build(),
            );
    }
    if text {
        builder = builder.content(
            "text/plain; charset=utf-8",
            ContentBuilder::new().schema(Some(string())).build(),
        );
    }
    builder.build()
}

fn known_error_schema() -> RefOr<Schema> {
    typed(Type::Object)
        .property("code", typed(Type::String).pattern(Some("^[A-Z_]+$")))
        .required("code")
        .property("error", string())
        .required("error")
        .property("details", typed(Type::Object))
        .description(Some(
            "Upstream's known error: `x-stack-known-error` carries `code`.",
        ))
        .into()
}

fn operation(op: &Op) -> utoipa::openapi::path::Operation {
    let mut builder = OperationBuilder::new()
        .operation_id(Some(op.id))
        .summary(Some(op.summary))
        .tag(op.tag)
        .securities(securities(op.access));
    for param in &op.params {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(param.name)
                .parameter_in(param.location.clone())
                .required(if param.required {
                    Required::True
                } else {
                    Required::False
                })
                .schema(Some(param.schema.clone()))
                .description((!param.description.is_empty()).then_some(param.description)),
        );
    }
    let mut errors: Vec<u16> = op.errors.to_vec();
    match &op.body {
        Body::None => {}
        Body::Json(schema) => {
            // An absent body is `SCHEMA_ERROR` (`body must be defined`), `{}` is not.
            builder = builder.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(schema.clone())).build(),
                    )
                    .build(),
            ));
            errors.extend([400, 413]);
        }
        Body::Form(schema) => {
            builder = builder.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/x-www-form-urlencoded",
                        ContentBuilder::new().schema(Some(schema.clone())).build(),
                    )
                    .required(Some(Required::True))
                    .build(),
            ));
            errors.extend([400, 413]);
        }
    }
    if !matches!(op.access, Access::Public) {
        // Authentication: its known errors, the failed-authentication rate limit, and the
        // database it reads.
        errors.extend([400, 401, 429, 503]);
    }
    errors.sort_unstable();
    errors.dedup();
    builder = match &op.success {
        Success::Json(status, schema) => builder.response(
            status.to_string(),
            ResponseBuilder::new().description("Success.").content(
                JSON_CONTENT_TYPE,
                ContentBuilder::new().schema(Some(schema.clone())).build(),
            ),
        ),
        Success::Other(status, types, description) => {
            let mut response = ResponseBuilder::new().description(*description);
            for content_type in *types {
                response = response.content(
                    *content_type,
                    ContentBuilder::new().schema(Some(string())).build(),
                );
            }
            builder.response(status.to_string(), response)
        }
    };
    for status in errors {
        let mut response = error_response(status);
        if status == 400 && matches!(op.body, Body::Form(_)) {
            // The OAuth token endpoint answers OAuth's own errors too (RFC 6749 §5.2).
            if let Some(content) = response.content.get_mut(JSON_CONTENT_TYPE) {
                content.schema = Some(
                    OneOfBuilder::new()
                        .item(reference("KnownError"))
                        .item(reference("OAuthError"))
                        .into(),
                );
            }
        }
        builder = builder.response(status.to_string(), response);
    }
    builder.build()
}

/// Adds `T`'s schema and the schemas it refers to.
fn with_schema<T: ToSchema>(components: ComponentsBuilder) -> ComponentsBuilder {
    let mut schemas = Vec::new();
    T::schemas(&mut schemas);
    components
        .schema(T::name(), T::schema())
        .schemas_from_iter(schemas)
}

/// Adds `T`, whose server-only fields are a flattened `Option` (absent in the client view), as
/// one object whose server-only properties are optional. utoipa renders such a flatten as
/// `allOf: [oneOf: [null, fields], object]`, which is right but unreadable.
fn with_view_schema<T: ToSchema>(
    components: ComponentsBuilder,
    name: &str,
    description: &str,
) -> ComponentsBuilder {
    let mut schemas = Vec::new();
    T::schemas(&mut schemas);
    let server_fields: Vec<_> = schemas
        .iter()
        .filter(|(name, _)| name.ends_with("ServerFields"))
        .filter_map(|(_, schema)| match schema {
            RefOr::T(Schema::Object(object)) => Some(object.properties.clone()),
            _ => None,
        })
        .collect();
    let merged = match T::schema() {
        RefOr::T(Schema::AllOf(all)) => all.items.into_iter().find_map(|item| match item {
            RefOr::T(Schema::Object(mut object)) => {
                for fields in &server_fields {
                    for (field, schema) in fields.iter() {
                        object.properties.insert(field.clone(), schema.clone());
                    }
                }
                object.description = Some(description.to_owned());
                Some(RefOr::T(Schema::Object(object)))
            }
            _ => None,
        }),
        _ => None,
    };
    let schema = merged.expect("a view schema is an object with flattened server fields");
    let dependencies = schemas
        .into_iter()
        .filter(|(name, _)| !name.ends_with("ServerFields"));
    components
        .schema(name, schema)
        .schemas_from_iter(dependencies)
}

/// The document.
pub fn document() -> OpenApi {
    let mut paths = Paths::new();
    for op in operations() {
        paths.add_path_operation(op.path, vec![op.method.clone()], operation(&op));
    }
    let mut components = ComponentsBuilder::new().schema("KnownError", known_error_schema());
    components = with_schema::<ApiKeyObject<'_>>(components);
    components = with_schema::<ApiKeyList<'_>>(components);
    components = with_schema::<ProjectObject<'_>>(components);
    components = with_schema::<ScopeList>(components);
    components = with_schema::<ClientProjectObject<'_>>(components);
    components = with_schema::<CredentialObject<'_>>(components);
    components = with_schema::<CredentialReadObject<'_>>(components);
    components = with_schema::<CredentialListObject<'_>>(components);
    components = with_view_schema::<UserObject<'_>>(
        components,
        "User",
        "A user. Server and admin access also see the fields marked as such (`last_active_at_millis`, `server_metadata`, `risk_scores`, …).",
    );
    components = with_view_schema::<TeamObject<'_>>(
        components,
        "Team",
        "A team. Server and admin access also see `created_at_millis` and `server_metadata`.",
    );
    components = with_schema::<MembershipObject>(components);
    components = with_schema::<TeamPermissionObject<'_>>(components);
    components = with_schema::<SuccessObject>(components);
    components = with_schema::<AuditEventList<'_>>(components);
    components = with_schema::<EndpointObject<'_>>(components);
    components = with_schema::<EndpointList<'_>>(components);
    components = with_schema::<DeliveryList<'_>>(components);
    components = with_schema::<SessionTokensObject<'_>>(components);
    components = with_schema::<SessionObject>(components);
    components = with_schema::<ContactChannelObject<'_>>(components);
    components = with_schema::<NotificationPreferenceObject>(components);
    components = with_schema::<BillingObject>(components);
    components = with_schema::<ProductListObject>(components);
    components = with_schema::<TeamMemberProfileObject<'_>>(components);
    components = components.schema(
        "TeamInvitation",
        object(vec![
            ("id", true, uuid()),
            ("team_id", true, uuid()),
            ("team_display_name", true, string()),
            ("expires_at_millis", true, integer()),
            ("recipient_email", true, string()),
        ]),
    );
    components = with_schema::<OAuthTokenObject<'_>>(components);
    components = with_schema::<OAuthErrorObject<'_>>(components);
    for (name, scheme) in security_schemes() {
        components = components.security_scheme(name, scheme);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("keygate")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "keygate's HTTP API: Stack Auth's API Keys app (user and team API keys), the identity subset its flows need, keygate's project administration, and its operations routes. Every response carries `x-stack-request-id` and `cache-control: no-store, max-age=0`; `x-stack-override-error-status: true` turns a 4xx into a 200 with `x-stack-actual-status`. Every `x-stack-*` request header is also accepted as `x-hexclave-*`. See docs/api.md.",
                )),
        )
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(
            ["API keys", "Projects", "Users", "Sessions", "Teams", "Operations", "UI"]
                .into_iter()
                .map(|name| TagBuilder::new().name(name).build()),
        ))
        .build()
}

#[cfg(test)]
mod tests;
