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

/// How a normal token answer is to be shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Shape {
    pub no_refresh_token: bool,
    pub no_expires_in: bool,
}

/// Apply a queued failure: `Err(response)` to answer it, `Ok(shape)` to go on
/// (after a delay) with a normal answer of that shape.
pub(super) async fn injected(st: &SandboxState, endpoint: Endpoint) -> Result<Shape, HttpResponse> {
    let Some(mode) = st.take_failure(endpoint) else {
        return Ok(Shape::default());
    };
    Err(match mode {
        FailureMode::Slow { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            return Ok(Shape::default());
        }
        FailureMode::NoRefreshToken => {
            return Ok(Shape {
                no_refresh_token: true,
                ..Shape::default()
            });
        }
        FailureMode::NoExpiresIn => {
            return Ok(Shape {
                no_expires_in: true,
                ..Shape::default()
            });
        }
        FailureMode::Status { status } => {
            let s = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(s)
                .json(json!({"error": "server_error", "error_description": "injected failure"}))
        }
        FailureMode::RateLimited { retry_after_secs } => HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
            .json(json!({"error": "rate_limited", "error_description": "injected failure"})),
        FailureMode::Malformed => HttpResponse::Ok()
            .content_type("application/json")
            .body("{\"access_token\": \"sbx_at_trunc"),
        FailureMode::InvalidGrant => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "injected failure")
        }
        FailureMode::Html => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><title>Sign in to the Wi-Fi</title><p>Please sign in.</p>"),
        FailureMode::Huge { bytes } => {
            let filler = "x".repeat(bytes.saturating_sub(32));
            HttpResponse::Ok()
                .content_type("application/json")
                .body(format!("{{\"access_token\": \"{filler}\"}}"))
        }
        FailureMode::Redirect { location } => HttpResponse::Found()
            .insert_header((header::LOCATION, location))
            .finish(),
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
            HttpResponse::Ok()
                .content_type("application/json")
                .streaming(broken)
        }
    })
}

/// An OAuth error answer (RFC 6749 §5.2): the server's own refusals give it,
/// and so do the failures injected here.
pub(super) fn oauth_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"sandbox\""));
    }
    r.json(json!({"error": code, "error_description": description}))
}
