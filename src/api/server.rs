//! The HTTP server: the actix `App` (every route, the document, the extractor
//! configuration) over the application state, and its listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpServer, web};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::api::cors::{AllowedOrigins, cors};
use crate::api::extractors::{BodyLimit, json_error, path_error, query_error};
use crate::api::method_not_allowed::KnownRoutes;
use crate::api::metrics::Metrics;
use crate::api::middleware::{refuse_nul_in_query, request_context};
use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::sandbox::{self, SandboxOptions, SandboxState};
use crate::state::AppState;

/// Everything `build_app` needs, created once and shared by every worker.
#[derive(Clone)]
pub struct AppParts {
    pub state: web::Data<AppState>,
    pub jwt: web::Data<JwtVerifier>,
    pub metrics: web::Data<Metrics>,
    /// Ready answers of the polled reads, shared by the server's workers.
    pub ready: web::Data<crate::api::ready::ReadyAnswers>,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    /// Per-organization request budgets, when configured.
    pub rate_limiter: Option<web::Data<crate::api::ratelimit::RateLimiter>>,
    /// The sandbox network's server state, when `sandbox` is on.
    pub sandbox: Option<web::Data<SandboxState>>,
}

impl AppParts {
    /// Wraps the state with what only the HTTP server needs.
    pub fn new(state: AppState, jwt: JwtVerifier) -> Self {
        let settings = state.settings.clone();
        let sandbox = settings.sandbox.then(|| {
            web::Data::new(SandboxState::new(SandboxOptions::for_public_url(
                &settings.public_url(),
            )))
        });
        Self {
            state: web::Data::new(state),
            jwt: web::Data::new(jwt),
            metrics: web::Data::new(Metrics::new()),
            ready: web::Data::new(crate::api::ready::ReadyAnswers::new(
                settings.ready_answers.budget_bytes,
                crate::services::data_versions::DataVersions::new(
                    &settings.database_url(),
                    settings.database.connect_timeout_secs,
                ),
            )),
            openapi: Arc::new(api::openapi()),
            rate_limiter: crate::api::ratelimit::RateLimiter::new(
                settings.rate_limit.requests,
                Duration::from_secs(settings.rate_limit.window_secs.max(1)),
            )
            .map(web::Data::new),
            sandbox,
        }
    }
}

/// The default service: a path of the API asked with a method it does not
/// serve answers 405 with `Allow`; any other path 404.
fn no_route(
    routes: web::Data<KnownRoutes>,
) -> impl Fn(HttpRequest) -> std::future::Ready<Result<actix_web::HttpResponse, Error>> + Clone {
    move |req: HttpRequest| {
        std::future::ready(Err(match routes.allowed(req.path()) {
            Some(allowed) if !allowed.is_empty() => Error::MethodNotAllowed { allowed },
            _ => Error::NotFound("no such route".into()),
        }))
    }
}

/// The actix application: API routes (registered through utoipa-actix-web),
/// the OpenAPI document and Swagger UI, problem+json for extractor failures.
pub fn build_app(
    settings: Arc<Settings>,
    parts: AppParts,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = settings.http.max_body_bytes;
    let sandbox = parts.sandbox.clone();
    let limiter = parts.rate_limiter.clone();
    let routes = web::Data::new(KnownRoutes::from_openapi(&parts.openapi));
    App::new()
        .app_data(routes.clone())
        .app_data(parts.state.clone())
        .app_data(parts.jwt.clone())
        .app_data(parts.metrics.clone())
        .app_data(parts.ready.clone())
        .configure(|cfg| {
            if let Some(limiter) = limiter {
                cfg.app_data(limiter);
            }
        })
        .app_data(BodyLimit(limit))
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(json_error),
        )
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PayloadConfig::default().limit(limit))
        .app_data(web::Data::new(AllowedOrigins::new(
            &settings.cors.allowed_origins,
        )))
        .wrap(from_fn(refuse_nul_in_query))
        .wrap(from_fn(cors))
        .wrap(from_fn(request_context))
        .into_utoipa_app()
        .configure(api::routes::configure)
        .into_app()
        // Swagger UI is at `/docs`; its assets live under `/docs/`.
        .service(web::redirect("/docs", "/docs/").permanent())
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", (*parts.openapi).clone()))
        // The sandbox is a simulated network, not part of the API: it stays
        // out of the OpenAPI document.
        .configure(|cfg| {
            if let Some(state) = sandbox {
                cfg.service(sandbox::scope(state));
            }
        })
        .default_service(web::to(no_route(routes)))
}

/// Opens the database (blocking; call from a blocking context or before the
/// runtime serves requests), replays the grant journal and prepares the
/// shared parts, on the system's clock.
pub fn prepare(settings: Arc<Settings>) -> anyhow::Result<AppParts> {
    prepare_with_clock(settings, Arc::new(SystemClock))
}

/// [`prepare`] with the clock every rule of the application reads (tests
/// move a [`crate::domain::clock::ShiftedClock`] instead of rewriting rows).
/// Bearer tokens are still judged by the system's time, and so is the sandbox
/// network: neither is the application's rule about time.
pub fn prepare_with_clock(
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppParts> {
    // Configuration errors first, before anything touches the database.
    let keys = settings.key_ring()?;
    let jwt = JwtVerifier::from_settings(&settings)?;
    let state = AppState::open_with_clock(settings, keys, "api", clock)?;
    // Rotated grants a previous run could not store, before anything
    // refreshes their credentials (docs/rules.md#never-lose-a-grant).
    crate::services::refresh::replay_journal(&state);
    Ok(AppParts::new(state, jwt))
}

/// A bound, not yet running HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    parts: AppParts,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let for_prepare = settings.clone();
        let parts = tokio::task::spawn_blocking(move || prepare(for_prepare)).await??;
        Self::with_parts(settings, parts)
    }

    pub fn with_parts(settings: Arc<Settings>, parts: AppParts) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", settings.bind))?;
        Self::with_listener(settings, parts, listener)
    }

    /// Serves on an already bound listener (tests bind first to learn the port).
    pub fn with_listener(
        settings: Arc<Settings>,
        parts: AppParts,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let server_settings = settings.clone();
        let server_parts = parts.clone();
        let mut server =
            HttpServer::new(move || build_app(server_settings.clone(), server_parts.clone()))
                .listen(listener)?
                .shutdown_timeout(settings.http.shutdown_timeout_secs)
                // The process listens for SIGINT/SIGTERM itself from its first
                // moment (`run_until`): actix's own handlers are installed only
                // once the server runs, and a signal before that killed the
                // process by its default action instead of stopping it.
                .disable_signals();
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        // Blocking work is database work, each task holding one pooled
        // connection: threads beyond the pool would only wait (and keep
        // their memory).
        server = server.worker_max_blocking_threads(
            usize::try_from(settings.database.pool_size)
                .unwrap_or(1)
                .max(1),
        );
        tracing::info!(address = %settings.bind, port, "listening");
        Ok(Self {
            port,
            server: server.run(),
            parts,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn parts(&self) -> &AppParts {
        &self.parts
    }

    /// Serves until the process ends (tests, which stop by dropping the runtime).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until `stop` resolves, then lets in-flight requests finish
    /// (within `http.shutdown_timeout_secs`).
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let stopper = tokio::spawn(async move {
            stop.await;
            handle.stop(true).await;
        });
        let served = self.server.await;
        stopper.abort();
        served
    }
}
