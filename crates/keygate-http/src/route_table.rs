//! Registering routes so that what was registered can be listed.
//!
//! Every route module registers through [`Routes`] instead of `web::ServiceConfig` directly:
//! [`Routes::resource`] opens one `web::resource` per path (a wrong method on a known path answers
//! 405, as before), and each method handler added with [`Endpoint::get`], [`Endpoint::post`], …
//! is both given to actix and written down as a [`RegisteredRoute`]. The list is therefore the
//! registration itself, not a second table kept by hand: the OpenAPI test
//! (`openapi::tests`) walks it and fails when a route is missing from the document or the
//! document names one that is not registered. The same list gives each 405 its `allow` header.

use actix_web::dev::HttpServiceFactory;
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Resource, Responder};

use actix_web::http::header::HeaderValue;

use crate::responses::method_not_allowed_allowing;

/// One registered route: an actix path pattern (`/api/v1/users/{user_id}`) and a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredRoute {
    /// The path pattern as registered.
    pub path: String,
    /// The method.
    pub method: Method,
}

/// Registers resources into an actix `ServiceConfig` and records each route.
pub struct Routes<'a> {
    config: &'a mut web::ServiceConfig,
    registered: &'a mut Vec<RegisteredRoute>,
}

impl<'a> Routes<'a> {
    /// Registers into `config`, recording each route in `registered`.
    pub fn new(
        config: &'a mut web::ServiceConfig,
        registered: &'a mut Vec<RegisteredRoute>,
    ) -> Self {
        Routes { config, registered }
    }

    /// Opens the resource at `path`; call [`Endpoint::register`] when its methods are added.
    pub fn resource(&mut self, path: impl Into<String>) -> Endpoint<'_, 'a> {
        let path = path.into();
        Endpoint {
            resource: web::resource(path.clone()),
            routes: self,
            path,
            methods: Vec::new(),
            other_methods_not_found: false,
        }
    }
}

/// One path being registered: its methods, then [`Endpoint::register`].
#[must_use = "an endpoint is only served once `register`ed"]
pub struct Endpoint<'r, 'a> {
    routes: &'r mut Routes<'a>,
    path: String,
    resource: Resource,
    methods: Vec<Method>,
    other_methods_not_found: bool,
}

impl std::fmt::Debug for Routes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("registered", &self.registered)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Endpoint<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("path", &self.path)
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

impl Endpoint<'_, '_> {
    /// Serves `method` with `handler`.
    pub fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.methods.push(method.clone());
        self.resource = self.resource.route(web::method(method).to(handler));
        self
    }

    /// Serves `GET` with `handler`.
    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, handler)
    }

    /// Serves `POST` with `handler`.
    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::POST, handler)
    }

    /// Serves `PATCH` with `handler`.
    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PATCH, handler)
    }

    /// Serves `DELETE` with `handler`.
    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::DELETE, handler)
    }

    /// Request data for this resource's handlers (e.g. `SmallBody`).
    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.resource = self.resource.app_data(data);
        self
    }

    /// Names the resource (the metrics' route label).
    pub fn name(mut self, name: &str) -> Self {
        self.resource = self.resource.name(name);
        self
    }

    /// Other methods answer the plain 404 instead of 405 (a path that must not reveal itself).
    pub fn other_methods_not_found(mut self) -> Self {
        self.other_methods_not_found = true;
        self
    }

    /// Registers the resource.
    pub fn register(self) {
        self.register_wrapped(|resource| resource);
    }

    /// Registers the resource as `wrap` changes it (e.g. wrapped in a rate limit).
    pub fn register_wrapped<S: HttpServiceFactory + 'static>(
        self,
        wrap: impl FnOnce(Resource) -> S,
    ) {
        let fallback = if self.other_methods_not_found {
            web::to(crate::responses::not_found)
        } else {
            let names: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
            let allow =
                HeaderValue::from_str(&names.join(", ")).expect("method names are header-safe");
            web::to(move || {
                let response = method_not_allowed_allowing(&allow);
                async move { response }
            })
        };
        let resource = self.resource.default_service(fallback);
        for method in self.methods {
            self.routes.registered.push(RegisteredRoute {
                path: self.path.clone(),
                method,
            });
        }
        self.routes.config.service(wrap(resource));
    }
}
