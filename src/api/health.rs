//! Operations endpoints: liveness, readiness and metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::metrics::Metrics;
use crate::api::ready::ReadyAnswers;
use crate::error::{Error, clip};
use crate::services::health;
use crate::state::AppState;

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// Always `ok` when the answer is 200.
    pub status: HealthStatus,
}

/// The only status a 200 answer reports.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The probe passed.
    Ok,
}

/// Readiness, and what an operator must fix.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "status": "degraded",
    "misconfigured_networks": [{
        "network": "x",
        "code": "invalid_client",
        "detail": "the network refused this deployment's client (invalid_client): HTTP 401: Missing valid authorization header",
        "since": "2026-11-26T10:00:00Z",
        "last_seen": "2026-11-26T10:05:00Z"
    }],
    "worker": {"last_successful_tick": "2026-11-26T10:05:30Z", "failed_ticks": 0}
}))]
pub struct Readiness {
    /// `ok`, or `degraded` while a network refuses this deployment's client: the
    /// instance still serves (every other network, and every read).
    pub status: ReadinessStatus,
    /// Networks that refuse this deployment's client credentials (a wrong client
    /// secret or id). No credential was changed: fix the network's configuration
    /// and restart, and its grants work again.
    #[schema(max_items = 1000)]
    pub misconfigured_networks: Vec<MisconfiguredNetwork>,
    /// This instance's lifecycle worker.
    pub worker: WorkerReadiness,
}

/// How this instance's lifecycle worker is doing. A `last_successful_tick`
/// that falls behind `worker.tick_secs` means nothing is being renewed here.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerReadiness {
    /// When the worker's last successful tick ran; `null` before the first
    /// (or when this instance runs no worker).
    pub last_successful_tick: Option<chrono::DateTime<chrono::Utc>>,
    /// Ticks that failed since the process started (each logged); the worker
    /// goes on after a failed tick.
    #[schema(minimum = 0)]
    pub failed_ticks: u64,
}

/// What a 200 readiness answer reports.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadinessStatus {
    /// Ready, and every network accepts the configured client.
    Ok,
    /// Ready, but some network refuses the configured client (see `misconfigured_networks`).
    Degraded,
}

/// A network refusing this deployment's client, as this instance last saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MisconfiguredNetwork {
    /// The network's configured name.
    #[schema(max_length = 64, example = "x")]
    pub network: String,
    /// The network's error code (`invalid_client`, `unauthorized_client`, `meta_101`, …).
    #[schema(max_length = 200, example = "invalid_client")]
    pub code: String,
    /// The network's explanation, scrubbed of tokens.
    #[schema(max_length = 2000)]
    pub detail: String,
    /// The first refusal since the network last accepted a call.
    pub since: chrono::DateTime<chrono::Utc>,
    /// The latest refusal.
    pub last_seen: chrono::DateTime<chrono::Utc>,
}

/// Liveness: the process answers HTTP.
///
/// Does not touch the database; use it as a liveness probe.
#[utoipa::path(
    operation_id = "get_healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process is alive.", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: HealthStatus::Ok,
    })
}

/// Readiness: the database answers and renewed grants can be journaled.
///
/// Use it as a readiness probe: a 503 means this instance cannot serve
/// requests right now — the database does not answer, or the grant journal
/// in its data dir cannot be written (a full or read-only disk), and the
/// problem's `detail` says which. A 200 with `degraded` lists the networks that refuse
/// this deployment's client credentials: the instance serves, but an operator
/// must fix those networks' configuration. `worker` tells when this
/// instance's lifecycle worker last ticked successfully.
#[utoipa::path(
    operation_id = "get_readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "The database answers.", body = Readiness),
        (status = 503, description = "The database is not reachable, or the grant journal cannot be written.")
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Readiness>, Error> {
    let (refusals, worker) = health::ready(&state).await?;
    Ok(web::Json(Readiness {
        status: if refusals.is_empty() {
            ReadinessStatus::Ok
        } else {
            ReadinessStatus::Degraded
        },
        misconfigured_networks: refusals
            .into_iter()
            .map(|r| MisconfiguredNetwork {
                network: r.network,
                code: r.code,
                detail: clip(r.detail, 2000),
                since: r.since,
                last_seen: r.last_seen,
            })
            .collect(),
        worker: WorkerReadiness {
            last_successful_tick: worker.last_successful_tick,
            failed_ticks: worker.failed_ticks,
        },
    }))
}

/// Prometheus metrics
///
/// The process's counters and histograms (requests by route and status,
/// networks refusing this deployment's client — `tokenwarden_network_misconfigured`
/// and `tokenwarden_network_client_rejections_total` per configured network,
/// the worker's `tokenwarden_worker_failed_ticks` and
/// `tokenwarden_worker_last_successful_tick_seconds`, the ready answers'
/// `tokenwarden_ready_answers_hits_total`, `…_misses_total`, `…_evictions_total`
/// and `…_bytes`, …)
/// in the Prometheus text exposition format, for a scraper. Needs no token: expose it only where operators can
/// reach it.
#[utoipa::path(
    operation_id = "get_metrics",
    tag = "operations",
    security(()),
    responses((
        status = 200,
        description = "Metrics in the Prometheus text format (version 0.0.4).",
        body = String,
        content_type = "text/plain; version=0.0.4",
        example = "# TYPE tokenwarden_http_requests_total counter\ntokenwarden_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1\n"
    ))
)]
#[get("/metrics")]
pub async fn metrics(
    metrics: web::Data<Metrics>,
    state: web::Data<AppState>,
    ready: web::Data<ReadyAnswers>,
) -> HttpResponse {
    metrics.observe_networks(&state.network_health, state.providers.names());
    metrics.observe_worker(&state.worker_health);
    metrics.observe_ready(&ready.stats());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
