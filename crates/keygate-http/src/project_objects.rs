//! Projects and credentials as the API shows them — and as `keygate project …` prints them, so
//! the CLI and the HTTP API answer the same JSON.

use keygate_domain::{EpochMillis, ProjectId};
use keygate_service::projects::{IssuedCredential, ProjectView};
use keygate_service::records::{ProjectCredentialRecord, ProjectRecord};
use keygate_service::scopes::parse_catalogue;

use crate::routes::api_keys::wire::RateLimitObject;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A project with its switches and CORS settings:
/// `{id, display_name, created_at_millis, config: {allow_user_api_keys, allow_team_api_keys,
/// client_team_creation_enabled, allow_localhost, domains: [{domain, handler_path}]}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Project)]
pub struct ProjectObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: ProjectId,
    display_name: &'a str,
    #[schema(value_type = i64)]
    created_at_millis: EpochMillis,
    config: ProjectConfigObject<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProjectConfig)]
struct ProjectConfigObject<'a> {
    allow_user_api_keys: bool,
    allow_team_api_keys: bool,
    client_team_creation_enabled: bool,
    allow_localhost: bool,
    domains: Vec<TrustedDomainObject<'a>>,
    /// keygate's own: the scopes the project's API keys may carry.
    api_key_scopes: Vec<ScopeObject>,
    /// keygate's own: the rate limit of keys created without one (`null`: none).
    #[schema(value_type = Option<RateLimitObject>)]
    api_key_rate_limit: Option<RateLimitObject>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKeyScope)]
pub(crate) struct ScopeObject {
    id: String,
    description: String,
}

/// `GET /api/v1/projects/current`: upstream's client view of a project
/// (`projectsCrudClientReadSchema`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ClientProject)]
pub struct ClientProjectObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: ProjectId,
    display_name: &'a str,
    config: ClientProjectConfig,
}

/// What a client may know of a project's configuration: keygate's switches, and upstream's
/// answer for the features keygate does not have.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ClientProjectConfig)]
struct ClientProjectConfig {
    sign_up_enabled: bool,
    credential_enabled: bool,
    magic_link_enabled: bool,
    passkey_enabled: bool,
    client_team_creation_enabled: bool,
    client_user_deletion_enabled: bool,
    allow_user_api_keys: bool,
    allow_team_api_keys: bool,
    enabled_oauth_providers: Vec<OAuthProviderObject>,
}

/// An enabled OAuth provider (keygate has none).
#[derive(Debug, Serialize, ToSchema)]
struct OAuthProviderObject {
    id: String,
}

impl<'a> ClientProjectObject<'a> {
    /// The client view of `project`.
    pub fn new(project: &'a ProjectRecord) -> Self {
        ClientProjectObject {
            id: project.id,
            display_name: &project.display_name,
            config: ClientProjectConfig {
                // keygate signs nobody up and has no passwords, magic links, passkeys or OAuth
                // providers: users come from the project's server (contract A4).
                sign_up_enabled: false,
                credential_enabled: false,
                magic_link_enabled: false,
                passkey_enabled: false,
                client_team_creation_enabled: project.config.client_team_creation_enabled,
                client_user_deletion_enabled: false,
                allow_user_api_keys: project.config.allow_user_api_keys,
                allow_team_api_keys: project.config.allow_team_api_keys,
                enabled_oauth_providers: Vec::new(),
            },
        }
    }
}

/// The scopes of a project's catalogue (`projects.api_key_scopes`) as they go on the wire.
pub(crate) fn scope_objects(catalogue: &str) -> Vec<ScopeObject> {
    parse_catalogue(catalogue)
        .into_iter()
        .map(|scope| ScopeObject {
            id: scope.id,
            description: scope.description,
        })
        .collect()
}

/// `GET /api/v1/api-key-scopes`: the catalogue a key's scopes are chosen from.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKeyScopeList)]
pub(crate) struct ScopeList {
    items: Vec<ScopeObject>,
    is_paginated: bool,
}

impl ScopeList {
    /// The list of `catalogue` (all of it: a catalogue has at most 100 scopes).
    pub(crate) fn of(catalogue: &str) -> Self {
        ScopeList {
            items: scope_objects(catalogue),
            is_paginated: false,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TrustedDomain)]
struct TrustedDomainObject<'a> {
    domain: &'a str,
    handler_path: &'a str,
}

impl<'a> ProjectObject<'a> {
    /// The object of `view`.
    pub fn new(view: &'a ProjectView) -> Self {
        let (project, cors) = (&view.project, &view.cors);
        ProjectObject {
            id: project.id,
            display_name: &project.display_name,
            created_at_millis: project.created_at_millis,
            config: ProjectConfigObject {
                allow_user_api_keys: project.config.allow_user_api_keys,
                allow_team_api_keys: project.config.allow_team_api_keys,
                client_team_creation_enabled: project.config.client_team_creation_enabled,
                allow_localhost: cors.allow_localhost,
                domains: cors
                    .domains
                    .iter()
                    .map(|d| TrustedDomainObject {
                        domain: &d.domain,
                        handler_path: &d.handler_path,
                    })
                    .collect(),
                api_key_scopes: scope_objects(&project.api_key_scopes),
                api_key_rate_limit: project.default_rate_limit.map(RateLimitObject::from),
            },
        }
    }
}

/// A credential just issued (the only time its keys are shown): `{id, description,
/// created_at_millis, expires_at_millis?, publishable_client_key?, secret_server_key?,
/// super_secret_admin_key?}` — each optional field present only when set.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IssuedCredential)]
pub struct CredentialObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: Uuid,
    description: &'a str,
    #[schema(value_type = i64)]
    created_at_millis: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    expires_at_millis: Option<EpochMillis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    publishable_client_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_server_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    super_secret_admin_key: Option<&'a str>,
}

impl<'a> CredentialObject<'a> {
    /// The object of `credential`.
    pub fn new(credential: &'a IssuedCredential) -> Self {
        let record = &credential.record;
        let expose = |key: &'a Option<keygate_domain::SecretToken>| {
            key.as_ref().map(|key| key.expose_secret())
        };
        CredentialObject {
            id: record.id,
            description: &record.description,
            created_at_millis: record.created_at_millis,
            expires_at_millis: record.expires_at_millis,
            publishable_client_key: expose(&credential.publishable_client_key),
            secret_server_key: expose(&credential.secret_server_key),
            super_secret_admin_key: expose(&credential.super_secret_admin_key),
        }
    }
}

/// A stored credential as listed and read (upstream's project API key): `{id, description,
/// created_at_millis, expires_at_millis?, manually_revoked_at_millis?,
/// publishable_client_key?: {last_four}, secret_server_key?: {last_four},
/// super_secret_admin_key?: {last_four}}` — a key's object only where the credential has that
/// key; never the key itself. A credential issued before the last four characters were kept
/// shows `last_four: ""`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Credential)]
pub struct CredentialReadObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: Uuid,
    description: &'a str,
    #[schema(value_type = i64)]
    created_at_millis: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    expires_at_millis: Option<EpochMillis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    manually_revoked_at_millis: Option<EpochMillis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    publishable_client_key: Option<LastFourObject<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_server_key: Option<LastFourObject<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    super_secret_admin_key: Option<LastFourObject<'a>>,
}

/// `{last_four}` of one key of a credential.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LastFour)]
struct LastFourObject<'a> {
    last_four: &'a str,
}

impl<'a> CredentialReadObject<'a> {
    /// The object of `record`.
    pub fn new(record: &'a ProjectCredentialRecord) -> Self {
        let key = |hash: &Option<keygate_domain::KeyHash>, last_four: &'a Option<String>| {
            hash.map(|_| LastFourObject {
                last_four: last_four.as_deref().unwrap_or_default(),
            })
        };
        CredentialReadObject {
            id: record.id,
            description: &record.description,
            created_at_millis: record.created_at_millis,
            expires_at_millis: record.expires_at_millis,
            manually_revoked_at_millis: record.revoked_at_millis,
            publishable_client_key: key(
                &record.publishable_client_key_hash,
                &record.publishable_client_key_last_four,
            ),
            secret_server_key: key(
                &record.secret_server_key_hash,
                &record.secret_server_key_last_four,
            ),
            super_secret_admin_key: key(
                &record.super_secret_admin_key_hash,
                &record.super_secret_admin_key_last_four,
            ),
        }
    }
}

/// A listing of credentials: `{items: [...], is_paginated: false}` (upstream's list shape; a
/// project has at most `limits.max_credentials_per_project`, so one page holds them all).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CredentialList)]
pub struct CredentialListObject<'a> {
    items: Vec<CredentialReadObject<'a>>,
    is_paginated: bool,
}

impl<'a> CredentialListObject<'a> {
    /// The listing of `records`.
    pub fn new(records: &'a [ProjectCredentialRecord]) -> Self {
        CredentialListObject {
            items: records.iter().map(CredentialReadObject::new).collect(),
            is_paginated: false,
        }
    }
}
