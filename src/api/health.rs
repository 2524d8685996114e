//! Operations endpoints: liveness, readiness and metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::metrics::Metrics;
use crate::error::Error;
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

/// Readiness: the database answers.
///
/// Use it as a readiness probe: a 503 means this instance cannot serve
/// requests right now.
#[utoipa::path(
    operation_id = "get_readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "The database answers.", body = Health),
        (status = 503, description = "The database is not reachable.")
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Health>, Error> {
    health::ready(&state).await?;
    Ok(web::Json(Health {
        status: HealthStatus::Ok,
    }))
}

/// Prometheus metrics
///
/// The process's counters and histograms (requests by route and status,
/// refreshes by network and outcome, …) in the Prometheus text exposition
/// format, for a scraper. Needs no token: expose it only where operators can
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
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
