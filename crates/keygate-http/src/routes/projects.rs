//! Projects and their credentials (contract A3): what upstream does from its dashboard.
//!
//! * `POST /api/v1/internal/projects` — the operator (`authorization: Bearer <operator token>`)
//!   creates a project, seeded with the system team permissions and the `team_admin` /
//!   `team_member` defaults; **201** with the project.
//! * `GET` / `PATCH /api/v1/internal/projects/current` — admin access reads and changes the
//!   project of its credential: its name and the switches `allow_user_api_keys`,
//!   `allow_team_api_keys` and `client_team_creation_enabled` (how an operator "enables the API
//!   Keys app"), and its CORS settings for the client API under upstream's names
//!   `allow_localhost` and `domains: [{domain, handler_path}]` (see [`crate::cors`]).
//! * `GET /api/v1/projects/current` — upstream's client view of the project (client, server and
//!   admin access), which upstream's client SDKs read (`getProject`) and its `<AccountSettings>`
//!   needs: the id, the name, and `config` with the API-key switches and
//!   `client_team_creation_enabled` as keygate has them, and upstream's answer for what keygate
//!   does not have (sign-up, passwords, magic links, passkeys, self-deletion: `false`; no OAuth
//!   providers).
//! * `POST /api/v1/internal/api-keys` — a new project credential; **200** with its keys, shown
//!   only in this answer and stored hashed. Admin access for the project, as upstream, or the
//!   operator token with `x-stack-project-id`. A project has at most
//!   `limits.max_credentials_per_project` credentials (plain 400 beyond).
//! * `GET /api/v1/internal/api-keys` — the project's credentials, `{items, is_paginated}`, newest
//!   first, each key only as `{last_four}`; `GET` / `PATCH /api/v1/internal/api-keys/{api_key_id}`
//!   — one credential; the patch takes `description` and `revoked: true` (the first revocation
//!   wins; a credential may revoke itself, and its next request is refused). A revocation stops
//!   the credential on this node before the answer and on the others as soon as they hear it
//!   (`keygate_service::projects`). An id that is not the project's is `API_KEY_NOT_FOUND`, as
//!   upstream. Same callers as the `POST`.
//!
//! **Who is the caller of the `/internal/api-keys` routes.** A request that carries
//! `x-stack-access-type` or any project key goes through the access layer ([`RequestAuth`]) and
//! must prove admin access. Otherwise a request with an `authorization` header is the
//! operator's: the token must be the operator token, and `x-stack-project-id` must name an
//! existing project, else `CURRENT_PROJECT_NOT_FOUND` (the operator may know which projects
//! exist; a project caller never learns it, see [`crate::auth`]). Anything else answers
//! `ACCESS_TYPE_REQUIRED`, like every other project endpoint.
//!
//! The project and credential JSON shapes are [`crate::project_objects`]', shared with the
//! `keygate project …` commands so that they print exactly what the HTTP API answers. The use
//! cases are `keygate_service::projects`'.

use std::sync::Arc;

use crate::validation::{FieldContext, FieldValue, Rejection};
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::is_scope_id;

use crate::routes::api_keys::input::RateLimitInput;
use keygate_domain::{ProjectId, ProjectSwitches};
use keygate_permissions::{AccessType, Denial};
use keygate_service::audit::AuditActor;
use keygate_service::projects::{CorsChanges, CredentialChanges, CredentialKeys, ProjectView};
use keygate_service::records::{ProjectRecord, ProjectUpdate};
use keygate_service::scopes::{catalogue_text, ScopeDefinition, MAX_SCOPES_PER_PROJECT};
use keygate_service::NotFound;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{authenticate, authenticate_operator, Operator, RequestAuth};
use crate::cors::TrustedDomains;
use crate::project_objects::{
    ClientProjectObject, CredentialListObject, CredentialObject, CredentialReadObject,
    ProjectObject,
};
use crate::request_body::RequestBody;
use crate::responses::json_response;
use crate::route_table::Routes;
use crate::stack_headers::{
    stack_header, StackHeader, ACCESS_TYPE, PROJECT_ID, PUBLISHABLE_CLIENT_KEY, SECRET_SERVER_KEY,
    SUPER_SECRET_ADMIN_KEY,
};
use crate::state::AppState;
use crate::validation::{FieldReader, Pending, RequestCheck};
use crate::wire_error::{ApiError, KnownError};

/// Registers the project and credential routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/internal/projects")
        .post(create)
        .register();
    routes
        .resource("/api/v1/internal/projects/current")
        .get(read_current)
        .patch(update_current)
        .register();
    routes
        .resource("/api/v1/projects/current")
        .get(read_client_view)
        .register();
    routes
        .resource("/api/v1/internal/api-keys")
        .post(create_credential)
        .get(list_credentials)
        .register();
    routes
        .resource("/api/v1/internal/api-keys/{api_key_id}")
        .get(read_credential)
        .patch(update_credential)
        .register();
}

/// The switches of a create or update body; `None` where the body leaves one out.
#[derive(Debug, Default)]
struct ConfigFields {
    allow_user_api_keys: Option<bool>,
    allow_team_api_keys: Option<bool>,
    client_team_creation_enabled: Option<bool>,
    allow_localhost: Option<bool>,
    domains: Option<TrustedDomains>,
    api_key_scopes: Option<ScopeCatalogue>,
    /// `Some(None)`: `null`, no default.
    api_key_rate_limit: Option<Option<RateLimitInput>>,
}

/// A project's `config.api_key_scopes`: `[{"id", "description"?}]`, each id a scope id
/// (`keygate_domain::is_scope_id`), no id twice, at most
/// [`MAX_SCOPES_PER_PROJECT`] scopes, descriptions within `limits.max_description_chars`.
#[derive(Debug, Clone, Default)]
struct ScopeCatalogue(Vec<ScopeDefinition>);

impl FieldValue for ScopeCatalogue {
    const TYPE_NAME: &'static str = "array";
    fn placeholder() -> Self {
        ScopeCatalogue::default()
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        let items = value.as_array().ok_or(Rejection::NotType)?;
        if items.len() > MAX_SCOPES_PER_PROJECT {
            return Err(Rejection::Invalid(format!(
                "must have at most {MAX_SCOPES_PER_PROJECT} items"
            )));
        }
        let max_description = context.limits().max_description_chars;
        let mut scopes: Vec<ScopeDefinition> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let invalid = |what: &str| Rejection::Invalid(format!("[{index}] {what}"));
            let object = item
                .as_object()
                .ok_or_else(|| invalid("must be an object {id, description}"))?;
            if let Some(unknown) = object
                .keys()
                .find(|key| !matches!(key.as_str(), "id" | "description"))
            {
                return Err(invalid(&format!("contains unknown properties: {unknown}")));
            }
            let id = object
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| is_scope_id(id))
                .ok_or_else(|| invalid("needs an id: 1 to 64 letters, digits, _ - . :"))?;
            let description = match object.get("description") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(text))
                    if text.chars().count() <= max_description && !text.contains('\0') =>
                {
                    text.clone()
                }
                Some(_) => {
                    return Err(invalid(&format!(
                        "description must be a string of at most {max_description} characters"
                    )))
                }
            };
            if scopes.iter().any(|known| known.id == id) {
                return Err(invalid("repeats a scope id"));
            }
            scopes.push(ScopeDefinition {
                id: id.to_owned(),
                description,
            });
        }
        Ok(ScopeCatalogue(scopes))
    }
    fn from_text(_: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Err(Rejection::NotType)
    }
}

fn read_config(reader: &mut FieldReader<'_>) -> ConfigFields {
    ConfigFields {
        allow_user_api_keys: reader.field::<bool>("allow_user_api_keys").optional(),
        allow_team_api_keys: reader.field::<bool>("allow_team_api_keys").optional(),
        client_team_creation_enabled: reader
            .field::<bool>("client_team_creation_enabled")
            .optional(),
        allow_localhost: reader.field::<bool>("allow_localhost").optional(),
        domains: reader.field::<TrustedDomains>("domains").optional(),
        api_key_scopes: reader.field::<ScopeCatalogue>("api_key_scopes").optional(),
        api_key_rate_limit: reader
            .field::<Option<RateLimitInput>>("api_key_rate_limit")
            .optional(),
    }
}

impl ConfigFields {
    /// The changes of keygate's own key-policy settings (the scope catalogue and the default
    /// rate limit) the body asks for.
    fn key_policy_changes(&mut self) -> ProjectUpdate {
        ProjectUpdate {
            api_key_scopes: self
                .api_key_scopes
                .take()
                .map(|scopes| catalogue_text(&scopes.0)),
            default_rate_limit: self
                .api_key_rate_limit
                .take()
                .map(|rate| rate.map(|rate| rate.0)),
            ..ProjectUpdate::default()
        }
    }

    /// The CORS changes the body asks for.
    fn cors(&mut self) -> CorsChanges {
        CorsChanges {
            allow_localhost: self.allow_localhost,
            domains: self.domains.take().map(|domains| domains.0),
        }
    }
}

/// Admin access only (upstream's `adminAuthTypeSchema`).
fn require_admin(auth: &RequestAuth) -> Result<(), ApiError> {
    if auth.access_type == AccessType::Admin {
        Ok(())
    } else {
        Err(Denial::InsufficientAccessType {
            actual: auth.access_type,
            allowed: &[AccessType::Admin],
        }
        .into())
    }
}

/// `POST /api/v1/internal/projects`.
async fn create(
    request: HttpRequest,
    body: RequestBody,
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request);
    let body = check.body(&body, |o| {
        let display_name = o.field::<String>("display_name").required();
        let config = o.optional_object("config", read_config).unwrap_or_default();
        (display_name, config)
    });
    let query = check.query(|_| ());
    let ((display_name, config), ()) = check.finish((body, query))?;

    let mut config = config;
    let switches = ProjectSwitches {
        allow_user_api_keys: config.allow_user_api_keys.unwrap_or(false),
        allow_team_api_keys: config.allow_team_api_keys.unwrap_or(false),
        client_team_creation_enabled: config.client_team_creation_enabled.unwrap_or(false),
    };
    let mut view = state
        .service()
        .create_project(
            display_name,
            switches,
            config.cors(),
            operator.audit_actor(),
        )
        .await?;
    let key_policies = config.key_policy_changes();
    if key_policies != ProjectUpdate::default() {
        view = state
            .service()
            .update_project(
                view.project.id,
                key_policies,
                CorsChanges::default(),
                operator.audit_actor(),
            )
            .await?;
    }
    json_response(StatusCode::CREATED, &ProjectObject::new(&view))
}

/// `GET /api/v1/projects/current`: upstream's client view of the caller's project (from the
/// project its credential opened, like every request's switches).
async fn read_client_view(
    request: HttpRequest,
    auth: RequestAuth,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request);
    let query = check.query(|_| ());
    check.finish(query)?;
    json_response(StatusCode::OK, &ClientProjectObject::new(&auth.project))
}

/// `GET /api/v1/internal/projects/current`.
async fn read_current(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&auth)?;
    let mut check = RequestCheck::new(&request);
    let query = check.query(|_| ());
    check.finish(query)?;
    let cors = state.service().project_cors(auth.project_id()).await?;
    let view = ProjectView {
        project: ProjectRecord::clone(&auth.project),
        cors,
    };
    json_response(StatusCode::OK, &ProjectObject::new(&view))
}

/// `PATCH /api/v1/internal/projects/current`.
async fn update_current(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&auth)?;
    let mut check = RequestCheck::new(&request);
    let body = check.body(&body, |o| {
        let display_name = o.field::<String>("display_name").optional();
        let config = o.optional_object("config", read_config).unwrap_or_default();
        (display_name, config)
    });
    let query = check.query(|_| ());
    let ((display_name, config), ()) = check.finish((body, query))?;

    let mut config = config;
    let changes = ProjectUpdate {
        display_name,
        allow_user_api_keys: config.allow_user_api_keys,
        allow_team_api_keys: config.allow_team_api_keys,
        client_team_creation_enabled: config.client_team_creation_enabled,
        ..config.key_policy_changes()
    };
    let view = state
        .service()
        .update_project(
            auth.project_id(),
            changes,
            config.cors(),
            AuditActor::of(&auth.actor()),
        )
        .await?;
    json_response(StatusCode::OK, &ProjectObject::new(&view))
}

/// A project as its manager reaches it: the project and who manages it.
pub(super) struct ManagedProject {
    /// The project, as stored.
    pub project: Arc<ProjectRecord>,
    /// The admin or the operator, as the audit log names them.
    pub manager: AuditActor,
}

impl std::ops::Deref for ManagedProject {
    type Target = ProjectRecord;

    fn deref(&self) -> &ProjectRecord {
        &self.project
    }
}

/// The project the request manages (its credentials, its keys across owners, its audit log):
/// admin access to it, or the operator naming it.
pub(super) async fn managed_project(
    request: &HttpRequest,
    state: &AppState,
) -> Result<ManagedProject, ApiError> {
    let headers = request.headers();
    let present =
        |header: &StackHeader| stack_header(headers, header).is_some_and(|v| !v.is_empty());
    let project_caller = present(&ACCESS_TYPE)
        || present(&PUBLISHABLE_CLIENT_KEY)
        || present(&SECRET_SERVER_KEY)
        || present(&SUPER_SECRET_ADMIN_KEY);
    if !project_caller && headers.contains_key(AUTHORIZATION) {
        let operator = authenticate_operator(request, state)?;
        let project_id_text = stack_header(headers, &PROJECT_ID)
            .map(|v| v.into_owned())
            .unwrap_or_default();
        let not_found = || NotFound::Project {
            project_id: project_id_text.clone(),
        };
        let project_id: ProjectId = project_id_text.parse().map_err(|_| not_found())?;
        let project = state.service().project(project_id).await?;
        let project = project.map(Arc::new).ok_or_else(not_found)?;
        return Ok(ManagedProject {
            project,
            manager: operator.audit_actor(),
        });
    }
    let auth = authenticate(request, state)
        .await?
        .ok_or(KnownError::AccessTypeRequired)?;
    require_admin(&auth)?;
    Ok(ManagedProject {
        manager: AuditActor::of(&auth.actor()),
        project: auth.project,
    })
}

/// `POST /api/v1/internal/api-keys`.
async fn create_credential(
    request: HttpRequest,
    body: RequestBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let body = check.body(&body, |o| {
        let description = o.field::<String>("description").required();
        let expires_at_millis = o.field::<Option<i64>>("expires_at_millis").required();
        let keys = CredentialKeys {
            publishable_client_key: o.field::<bool>("has_publishable_client_key").required(),
            secret_server_key: o.field::<bool>("has_secret_server_key").required(),
            super_secret_admin_key: o.field::<bool>("has_super_secret_admin_key").required(),
        };
        (description, expires_at_millis, keys)
    });
    let query = check.query(|_| ());
    let ((description, expires_at_millis, keys), ()) = check.finish((body, query))?;
    if keys.is_empty() {
        return Err(ApiError::schema(
            "At least one of has_publishable_client_key, has_secret_server_key and has_super_secret_admin_key must be true.",
        ));
    }

    let issued = state
        .service()
        .issue_credential(
            project.id,
            description,
            expires_at_millis,
            keys,
            project.manager,
        )
        .await?;
    json_response(StatusCode::OK, &CredentialObject::new(&issued))
}

/// `GET /api/v1/internal/api-keys`.
async fn list_credentials(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let query = check.query(|_| ());
    check.finish(query)?;
    let credentials = state.service().list_credentials(project.id).await?;
    json_response(StatusCode::OK, &CredentialListObject::new(&credentials))
}

/// Reads the `api_key_id` path parameter and refuses any query parameter.
fn read_credential_id(check: &mut RequestCheck) -> (Pending<Uuid>, Pending<()>) {
    check.id_alone("api_key_id")
}

/// `GET /api/v1/internal/api-keys/{api_key_id}`.
async fn read_credential(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let pending = read_credential_id(&mut check);
    let (id, ()) = check.finish(pending)?;
    let credential = state.service().credential(project.id, id).await?;
    json_response(StatusCode::OK, &CredentialReadObject::new(&credential))
}

/// `PATCH /api/v1/internal/api-keys/{api_key_id}`: a new description and/or a revocation
/// (set once, never undone).
async fn update_credential(
    request: HttpRequest,
    body: RequestBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let changes = check.body(&body, |o| CredentialChanges {
        description: o.field::<String>("description").optional(),
        revoke: o
            .field::<bool>("revoked")
            .one_of(&[true])
            .optional()
            .unwrap_or(false),
    });
    let (id, query) = read_credential_id(&mut check);
    let (changes, id, ()) = check.finish((changes, id, query))?;
    let updated = state
        .service()
        .update_credential(project.id, id, changes, project.manager)
        .await?;
    json_response(StatusCode::OK, &CredentialReadObject::new(&updated))
}

#[cfg(test)]
mod tests;
