//! Operations endpoints: liveness, readiness and metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::startup::AppState;

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the answer is 200.
    #[schema(example = "ok")]
    pub status: &'static str,
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
    web::Json(Health { status: "ok" })
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
    db::run(&state.pool, db::ping).await.map_err(|e| match e {
        Error::Unavailable { .. } => e,
        other => Error::Unavailable {
            detail: format!("the database does not answer: {other}"),
            retry_after: Some(std::time::Duration::from_secs(2)),
        },
    })?;
    Ok(web::Json(Health { status: "ok" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    operation_id = "get_metrics",
    tag = "operations",
    security(()),
    responses((
        status = 200,
        description = "Metrics in the Prometheus text format (version 0.0.4).",
        body = String,
        content_type = "text/plain; version=0.0.4"
    ))
)]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
