//! The failures the sandbox answers on request (`/sandbox/control/failures`,
//! `SandboxState::queue_failure`): what a real network does on a bad day,
//! over real HTTP, for the tests of how tokenwarden holds up.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Bytes;
use serde_json::json;

use super::SandboxState;
use super::control::{Endpoint, FailureMode};
use super::server::oauth_error;

/// Apply a queued failure: `Some(response)` to answer it, `None` to go on (after a delay).
pub(super) async fn injected(st: &SandboxState, endpoint: Endpoint) -> Option<HttpResponse> {
    match st.take_failure(endpoint)? {
        FailureMode::Slow { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            None
        }
        FailureMode::Status { status } => {
            let s = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(
                HttpResponse::build(s).json(
                    json!({"error": "server_error", "error_description": "injected failure"}),
                ),
            )
        }
        FailureMode::RateLimited { retry_after_secs } => Some(
            HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
                .json(json!({"error": "rate_limited", "error_description": "injected failure"})),
        ),
        FailureMode::Malformed => Some(
            HttpResponse::Ok()
                .content_type("application/json")
                .body("{\"access_token\": \"sbx_at_trunc"),
        ),
        FailureMode::InvalidGrant => Some(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "injected failure",
        )),
        FailureMode::Html => Some(
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body("<!doctype html><title>Sign in to the Wi-Fi</title><p>Please sign in.</p>"),
        ),
        FailureMode::Huge { bytes } => {
            let filler = "x".repeat(bytes.saturating_sub(32));
            Some(
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(format!("{{\"access_token\": \"{filler}\"}}")),
            )
        }
        FailureMode::Redirect { location } => Some(
            HttpResponse::Found()
                .insert_header((header::LOCATION, location))
                .finish(),
        ),
        FailureMode::Reset => {
            // A body that fails after its first bytes: the server gives up
            // on the connection mid-answer.
            let broken = futures_util::stream::iter([
                Ok(Bytes::from_static(b"{\"access_token\": \"sbx_")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                )),
            ]);
            Some(
                HttpResponse::Ok()
                    .content_type("application/json")
                    .streaming(broken),
            )
        }
    }
}
