//! The node's in-process cache of CORS settings, so a browser request with an `Origin` (every
//! request of a customer's frontend, and every preflight) costs no database work to decide
//! whether that origin may read the answer.
//!
//! **Rows, not verdicts.** A project's entry is its stored settings ([`ProjectCors`]: whether it
//! allows localhost, its trusted domains); each request matches its origin against them. A
//! preflight names no project (browsers send header names, not values), so it asks whether *some*
//! project allows the origin: those answers are kept per origin, as the lookup found them.
//!
//! **Bounded like project authentication** ([`ProjectAuthCacheSettings`]): at most
//! `max_entries` entries of each kind, each living at most `ttl`. A change made through this node
//! clears the cache before its response (`Service::project_settings_changed`), with the same
//! generation guard as the other caches so a read older than the change is not stored; a change
//! made elsewhere is seen within the TTL. Unknown project ids and unknown origins are cached too
//! (as "no settings", "no project"): bounded, and they expire like the rest.

use std::fmt;
use std::sync::Arc;

use keygate_domain::ProjectId;
use keygate_storage::repo::project_cors::ProjectCors;
use moka::sync::Cache;

use crate::cache_generation::{CacheTicket, Generation};
use crate::project_auth_cache::ProjectAuthCacheSettings;

/// What a preflight asks of every project at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyProjectQuery {
    /// Whether some project allows localhost origins.
    Localhost,
    /// Whether some project trusts this (normalised) origin through one of its domains.
    Origin(String),
}

/// The cache; shared by every worker of a node.
pub struct CorsCache {
    projects: Cache<ProjectId, Arc<ProjectCors>>,
    any_project: Cache<AnyProjectQuery, bool>,
    generation: Generation,
}

impl fmt::Debug for CorsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorsCache")
            .field("projects", &self.projects.entry_count())
            .field("any_project", &self.any_project.entry_count())
            .finish()
    }
}

impl CorsCache {
    /// An empty cache with the bounds of the project-authentication cache.
    pub fn new(settings: ProjectAuthCacheSettings) -> Self {
        CorsCache {
            projects: Cache::builder()
                .max_capacity(settings.max_entries)
                .time_to_live(settings.ttl)
                .build(),
            any_project: Cache::builder()
                .max_capacity(settings.max_entries)
                .time_to_live(settings.ttl)
                .build(),
            generation: Generation::default(),
        }
    }

    /// The cached settings of `project`; `None` means "read the database".
    pub fn project(&self, project: &ProjectId) -> Option<Arc<ProjectCors>> {
        self.projects.get(project)
    }

    /// The cached answer to `query`; `None` means "read the database".
    pub fn any_project(&self, query: &AnyProjectQuery) -> Option<bool> {
        self.any_project.get(query)
    }

    /// Taken before reading the database, to be handed to a `store_*` method.
    pub fn ticket(&self) -> CacheTicket {
        self.generation.ticket()
    }

    /// Remembers `project`'s settings, unless anything was invalidated since `ticket`.
    pub fn store_project(&self, ticket: CacheTicket, project: ProjectId, cors: Arc<ProjectCors>) {
        if self.generation.is_current(ticket) {
            self.projects.insert(project, cors);
            // An invalidation between the check and the insert may have missed the insert.
            if !self.generation.is_current(ticket) {
                self.projects.invalidate(&project);
            }
        }
    }

    /// Remembers the answer to `query`, unless anything was invalidated since `ticket`.
    pub fn store_any_project(&self, ticket: CacheTicket, query: AnyProjectQuery, answer: bool) {
        if self.generation.is_current(ticket) {
            self.any_project.insert(query.clone(), answer);
            if !self.generation.is_current(ticket) {
                self.any_project.invalidate(&query);
            }
        }
    }

    /// Forgets everything, after this node changed a project's settings.
    pub fn invalidate_all(&self) {
        self.generation.advance();
        self.projects.invalidate_all();
        self.any_project.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use keygate_storage::repo::project_cors::TrustedDomain;

    use super::*;

    fn settings(allow_localhost: bool) -> Arc<ProjectCors> {
        Arc::new(ProjectCors {
            allow_localhost,
            domains: vec![TrustedDomain {
                domain: "https://shop.example".to_owned(),
                handler_path: "/handler".to_owned(),
                origin: "https://shop.example".to_owned(),
            }],
        })
    }

    #[test]
    fn keeps_settings_and_answers_until_invalidated() {
        let cache = CorsCache::new(ProjectAuthCacheSettings::default());
        let project = ProjectId::new_random();
        let query = AnyProjectQuery::Origin("https://shop.example".to_owned());
        assert_eq!(cache.project(&project), None);
        assert_eq!(cache.any_project(&query), None);

        cache.store_project(cache.ticket(), project, settings(true));
        cache.store_any_project(cache.ticket(), query.clone(), true);
        assert_eq!(cache.project(&project), Some(settings(true)));
        assert_eq!(cache.any_project(&query), Some(true));
        assert_eq!(cache.any_project(&AnyProjectQuery::Localhost), None);

        cache.invalidate_all();
        assert_eq!(cache.project(&project), None);
        assert_eq!(cache.any_project(&query), None);
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_stored() {
        let cache = CorsCache::new(ProjectAuthCacheSettings::default());
        let project = ProjectId::new_random();
        let ticket = cache.ticket();
        cache.invalidate_all();
        cache.store_project(ticket, project, settings(false));
        cache.store_any_project(ticket, AnyProjectQuery::Localhost, true);
        assert_eq!(cache.project(&project), None);
        assert_eq!(cache.any_project(&AnyProjectQuery::Localhost), None);
    }

    #[test]
    fn a_cache_without_room_keeps_nothing() {
        let cache = CorsCache::new(ProjectAuthCacheSettings {
            max_entries: 0,
            ..ProjectAuthCacheSettings::default()
        });
        let project = ProjectId::new_random();
        cache.store_project(cache.ticket(), project, settings(true));
        cache.projects.run_pending_tasks();
        assert_eq!(cache.project(&project), None);
    }
}
