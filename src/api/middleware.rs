//! Per-request context: the request id (echoed from `X-Request-Id` or
//! generated) in a tracing span around the whole request, in every problem
//! body and in the answer's headers; plus access logs and metrics.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing::Instrument;

use crate::api::metrics::Metrics;
use crate::telemetry::REQUEST_ID;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A client-supplied id is kept when it is short and printable, so that it
/// cannot forge log lines or headers.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // One series per known method: a client inventing methods must not
    // grow the metrics without bound.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    // The route's pattern, never the path itself: a query string may carry
    // an OAuth code or state, and a path a secret (a reconnect link's
    // token). A path no route matches is not written at all.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %route,
    );
    let started = Instant::now();
    let result = REQUEST_ID
        .scope(request_id.clone(), next.call(req))
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let status = response.status();
            if let Some(metrics) = metrics {
                metrics
                    .http_requests
                    .with_label_values(&[&method, &route, status.as_str()])
                    .inc();
                metrics
                    .http_duration
                    .with_label_values(&[&method, &route])
                    .observe(elapsed.as_secs_f64());
            }
            let budget = response
                .request()
                .extensions()
                .get::<crate::api::ratelimit::Decision>()
                .copied();
            if let Some(budget) = budget {
                let headers = response.headers_mut();
                if let Ok(v) = HeaderValue::from_str(&budget.policy_header()) {
                    headers.insert(HeaderName::from_static("ratelimit-policy"), v);
                }
                if let Ok(v) = HeaderValue::from_str(&budget.header()) {
                    headers.insert(HeaderName::from_static("ratelimit"), v);
                }
            }
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            tracing::info!(
                status = status.as_u16(),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request completed"
            );
            Ok(response)
        }
        Err(error) => {
            tracing::warn!(%error, "request failed in middleware");
            Err(error)
        }
    }
}

/// Refuses a query string whose decoded text holds U+0000 with a 422 naming
/// the parameter, before any handler reads it: PostgreSQL stores and
/// compares no NUL in text, so a filter holding one would fail there
/// (docs/rules.md#api-conventions). Only `%00` decodes to it.
pub async fn refuse_nul_in_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let query = req.query_string();
    if query.contains("%00") {
        let nul = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'));
        if let Some((name, _)) = nul {
            let error = crate::error::Error::Validation(vec![crate::error::FieldError::parameter(
                name.into_owned(),
                crate::api::extractors::NUL_REFUSED,
            )]);
            return Ok(req.error_response(error).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
