//! The sandbox's control API under `/sandbox/control`: identities, token lifetimes, grants
//! expired or revoked at will, failures queued for the next calls of an endpoint, and call
//! counters. Tests and the demo drive the network through it (or through the same methods of
//! [`SandboxState`]) to stage what a real network does on its own.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::{SandboxIdentity, SandboxSettings, SandboxState};

/// The sandbox's endpoints that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Token,
    Revoke,
    Userinfo,
    /// `GET /sandbox/me/accounts`, the Pages a person manages.
    Accounts,
}

/// A failure the next call of an endpoint answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FailureMode {
    /// Answer this status (e.g. 500, 503) with `{"error":"server_error"}`.
    Status { status: u16 },
    /// Answer 429 with `Retry-After: <secs>`.
    RateLimited { retry_after_secs: u64 },
    /// Wait, then answer normally.
    Slow { delay_ms: u64 },
    /// Answer 200 with a truncated JSON body.
    Malformed,
    /// Answer 400 `invalid_grant` (the grant itself is untouched).
    InvalidGrant,
    /// Answer 200 with an HTML page (a captive portal, a misrouted proxy).
    Html,
    /// Answer 200 with a JSON body of this many bytes.
    Huge { bytes: usize },
    /// Answer 302 to another host.
    Redirect { location: String },
    /// Start a 200 answer and drop the connection before its body ends.
    Reset,
    /// Answer normally but without `refresh_token`: a refresh keeps the
    /// refresh token it was sent good (the network did not rotate it), a code
    /// exchange grants none.
    NoRefreshToken,
    /// Answer normally but without `expires_in`.
    NoExpiresIn,
}

/// How many calls each endpoint received. `refresh` counts the `token` calls with
/// `grant_type=refresh_token`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    pub authorize: u64,
    pub token: u64,
    pub refresh: u64,
    pub revoke: u64,
    pub userinfo: u64,
    /// `GET /sandbox/me/accounts`.
    pub accounts: u64,
}

impl SandboxState {
    /// The next `count` calls of `endpoint` answer with `mode`.
    pub fn queue_failure(&self, endpoint: Endpoint, mode: FailureMode, count: usize) {
        let mut g = self.lock();
        let q = g.failures.entry(endpoint).or_default();
        q.extend(std::iter::repeat_n(mode, count));
    }

    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    pub fn calls(&self) -> CallCounts {
        self.lock().calls
    }

    pub fn reset_calls(&self) {
        self.lock().calls = CallCounts::default();
    }

    pub(super) fn take_failure(&self, endpoint: Endpoint) -> Option<FailureMode> {
        self.lock().failures.get_mut(&endpoint)?.pop_front()
    }
}

// ---------------------------------------------------------------- control routes

#[actix_web::get("/control/identities")]
pub(super) async fn ctl_identities(st: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(st.identities())
}

#[actix_web::post("/control/identities")]
pub(super) async fn ctl_add_identity(
    st: web::Data<SandboxState>,
    body: web::Json<SandboxIdentity>,
) -> HttpResponse {
    let id = body.into_inner();
    if id.subject.trim().is_empty() || id.handle.trim().is_empty() {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "error_description": "subject and handle are required"}));
    }
    st.add_identity(id.clone());
    HttpResponse::Created().json(id)
}

#[actix_web::get("/control/settings")]
pub(super) async fn ctl_settings(st: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(st.settings())
}

#[actix_web::put("/control/settings")]
pub(super) async fn ctl_put_settings(
    st: web::Data<SandboxState>,
    body: web::Json<SandboxSettings>,
) -> HttpResponse {
    st.set_access_token_lifetime(Duration::from_secs(body.access_token_lifetime_secs));
    st.set_refresh_token_lifetime(body.refresh_token_lifetime_secs.map(Duration::from_secs));
    HttpResponse::Ok().json(st.settings())
}

#[actix_web::post("/control/grants/{subject}/expire")]
pub(super) async fn ctl_expire(
    st: web::Data<SandboxState>,
    path: web::Path<String>,
) -> HttpResponse {
    HttpResponse::Ok().json(json!({"affected": st.expire_grants(&path)}))
}

#[actix_web::post("/control/grants/{subject}/revoke")]
pub(super) async fn ctl_revoke(
    st: web::Data<SandboxState>,
    path: web::Path<String>,
) -> HttpResponse {
    HttpResponse::Ok().json(json!({"affected": st.revoke_grants(&path)}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureRequest {
    #[serde(default = "default_endpoint")]
    endpoint: Endpoint,
    mode: FailureMode,
    #[serde(default = "one")]
    count: usize,
}

fn default_endpoint() -> Endpoint {
    Endpoint::Token
}

fn one() -> usize {
    1
}

#[actix_web::post("/control/failures")]
pub(super) async fn ctl_fail(
    st: web::Data<SandboxState>,
    body: web::Json<FailureRequest>,
) -> HttpResponse {
    let FailureRequest {
        endpoint,
        mode,
        count,
    } = body.into_inner();
    if count > 10_000 {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "error_description": "count at most 10000"}));
    }
    st.queue_failure(endpoint, mode, count);
    HttpResponse::NoContent().finish()
}

#[actix_web::delete("/control/failures")]
pub(super) async fn ctl_clear_failures(st: web::Data<SandboxState>) -> HttpResponse {
    st.clear_failures();
    HttpResponse::NoContent().finish()
}

#[actix_web::get("/control/calls")]
pub(super) async fn ctl_calls(st: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(st.calls())
}

#[actix_web::delete("/control/calls")]
pub(super) async fn ctl_reset_calls(st: web::Data<SandboxState>) -> HttpResponse {
    st.reset_calls();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedirectUriRequest {
    uri: String,
}

#[actix_web::post("/control/redirect-uris")]
pub(super) async fn ctl_redirect_uri(
    st: web::Data<SandboxState>,
    body: web::Json<RedirectUriRequest>,
) -> HttpResponse {
    if Url::parse(&body.uri).is_err() {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "error_description": "uri is not a URL"}));
    }
    st.register_redirect_uri(&body.uri);
    HttpResponse::NoContent().finish()
}
