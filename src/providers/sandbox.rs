//! The sandbox network: a small, real OAuth 2.0 authorization server for demos and tests.
//!
//! Mount it with [`scope`] (everything lives under `/sandbox`); it is a simulated network, not
//! part of the tokenwarden API, so its handlers are registered with plain actix `service` (not
//! through utoipa-actix-web) and stay out of the OpenAPI document.
//! **Enable it only in development and demos**: the control API is unauthenticated.
//!
//! The client is fixed: `client_id = sandbox-client`, `client_secret = sandbox-secret`
//! ([`CLIENT_ID`], [`CLIENT_SECRET`]), authenticated by HTTP Basic or in the form body. Redirect
//! URIs must be registered exactly ([`SandboxOptions::for_public_url`] registers
//! `{public_url}/v1/oauth/callback/sandbox`). Two identities exist from the start:
//! `sandbox-alice` (`alice`) and `sandbox-bob` (`bob`).
//!
//! | route | what |
//! |---|---|
//! | `GET /sandbox/authorize` | RFC 6749 §4.1.1 request (PKCE S256 required): an HTML form to pick an identity and Approve/Deny. With `auto_approve=<subject>` (or `auto_deny=1`) it answers the 303 at once, for scripts. |
//! | `POST /sandbox/authorize` | the form (the request's fields + `subject` + `decision=approve\|deny`): 303 to `redirect_uri` with `code`&`state` or `error=access_denied`&`state`. |
//! | `POST /sandbox/token` | `authorization_code` (single-use code, `redirect_uri` and PKCE verifier checked) and `refresh_token` (rotating; spending an old refresh token revokes the whole grant and answers `invalid_grant`). |
//! | `POST /sandbox/revoke` | RFC 7009; a refresh token revokes its grant, an access token itself. Always 200 for an authenticated client. |
//! | `GET /sandbox/userinfo` | Bearer token → `{sub, preferred_username, name, picture}`; 401 `invalid_token` otherwise. |
//! | `GET\|POST /sandbox/control/identities` | list / create-or-replace `{subject, handle, display_name, avatar_url?}`. |
//! | `GET\|PUT /sandbox/control/settings` | `{access_token_lifetime_secs, refresh_token_lifetime_secs}`. |
//! | `POST /sandbox/control/grants/{subject}/expire` | expire the access tokens of the subject's grants (refresh still works). |
//! | `POST /sandbox/control/grants/{subject}/revoke` | revoke the subject's grants. |
//! | `POST /sandbox/control/failures` | queue `{endpoint: token\|revoke\|userinfo, mode, count}`; `mode` is `{"type":"status","status":503}`, `{"type":"rate_limited","retry_after_secs":7}`, `{"type":"slow","delay_ms":2000}`, `{"type":"malformed"}` or `{"type":"invalid_grant"}`. `DELETE` clears. |
//! | `GET\|DELETE /sandbox/control/calls` | per-endpoint call counters `{authorize, token, refresh, revoke, userinfo}` / reset them. |
//! | `POST /sandbox/control/redirect-uris` | register `{"uri": "…"}`. |
//!
//! Every control action is also a method of [`SandboxState`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::pkce_challenge_s256;
use super::registry::callback_url;

/// The sandbox's well-known client id.
pub const CLIENT_ID: &str = super::oauth::SANDBOX_CLIENT_ID;
/// The sandbox's well-known client secret (not a secret: it is a sandbox).
pub const CLIENT_SECRET: &str = super::oauth::SANDBOX_CLIENT_SECRET;

const CODE_LIFETIME_SECS: i64 = 600;

/// A person the sandbox knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxIdentity {
    pub subject: String,
    pub handle: String,
    pub display_name: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

impl SandboxIdentity {
    pub fn new(subject: &str, handle: &str, display_name: &str) -> Self {
        SandboxIdentity {
            subject: subject.into(),
            handle: handle.into(),
            display_name: display_name.into(),
            avatar_url: None,
        }
    }
}

/// The sandbox's endpoints that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Token,
    Revoke,
    Userinfo,
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
}

/// Start-up options.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub redirect_uris: Vec<String>,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Option<Duration>,
    pub identities: Vec<SandboxIdentity>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            redirect_uris: Vec::new(),
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: None,
            identities: vec![
                SandboxIdentity::new("sandbox-alice", "alice", "Alice Sandbox"),
                SandboxIdentity::new("sandbox-bob", "bob", "Bob Sandbox"),
            ],
        }
    }
}

impl SandboxOptions {
    /// Defaults, with tokenwarden's sandbox callback `{public_url}/v1/oauth/callback/sandbox`
    /// registered.
    pub fn for_public_url(public_url: &Url) -> Self {
        SandboxOptions {
            redirect_uris: vec![callback_url(public_url, "sandbox").to_string()],
            ..SandboxOptions::default()
        }
    }
}

/// The sandbox's live settings (control API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    pub access_token_lifetime_secs: u64,
    #[serde(default)]
    pub refresh_token_lifetime_secs: Option<u64>,
}

struct CodeRec {
    subject: String,
    redirect_uri: String,
    challenge: String,
    scopes: String,
    expires_at: DateTime<Utc>,
    /// Set once spent: a second use revokes the grant it produced.
    spent_for: Option<u64>,
}

struct GrantRec {
    subject: String,
    scopes: String,
    revoked: bool,
}

struct AccessRec {
    grant: u64,
    expires_at: DateTime<Utc>,
}

struct RefreshRec {
    grant: u64,
    current: bool,
    expires_at: Option<DateTime<Utc>>,
}

struct Inner {
    identities: BTreeMap<String, SandboxIdentity>,
    settings: SandboxSettings,
    redirect_uris: Vec<String>,
    codes: HashMap<String, CodeRec>,
    grants: HashMap<u64, GrantRec>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
    next_grant: u64,
    failures: HashMap<Endpoint, VecDeque<FailureMode>>,
    calls: CallCounts,
}

/// The sandbox's in-memory state, shared by its routes as `web::Data<SandboxState>`.
pub struct SandboxState {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxState").finish_non_exhaustive()
    }
}

fn random_token(prefix: &str) -> String {
    let b = rand::random::<[u8; 24]>();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

impl SandboxState {
    pub fn new(options: SandboxOptions) -> Self {
        SandboxState {
            inner: Mutex::new(Inner {
                identities: options
                    .identities
                    .into_iter()
                    .map(|i| (i.subject.clone(), i))
                    .collect(),
                settings: SandboxSettings {
                    access_token_lifetime_secs: options.access_token_lifetime.as_secs().max(1),
                    refresh_token_lifetime_secs: options
                        .refresh_token_lifetime
                        .map(|d| d.as_secs()),
                },
                redirect_uris: options.redirect_uris,
                codes: HashMap::new(),
                grants: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                next_grant: 1,
                failures: HashMap::new(),
                calls: CallCounts::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Create or replace an identity.
    pub fn add_identity(&self, identity: SandboxIdentity) {
        self.lock()
            .identities
            .insert(identity.subject.clone(), identity);
    }

    pub fn identities(&self) -> Vec<SandboxIdentity> {
        self.lock().identities.values().cloned().collect()
    }

    pub fn register_redirect_uri(&self, uri: &str) {
        let mut g = self.lock();
        if !g.redirect_uris.iter().any(|u| u == uri) {
            g.redirect_uris.push(uri.to_owned());
        }
    }

    pub fn settings(&self) -> SandboxSettings {
        self.lock().settings
    }

    /// Lifetime of the access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, lifetime: Duration) {
        self.lock().settings.access_token_lifetime_secs = lifetime.as_secs().max(1);
    }

    /// Lifetime of the refresh tokens issued from now on (`None`: unlimited).
    pub fn set_refresh_token_lifetime(&self, lifetime: Option<Duration>) {
        self.lock().settings.refresh_token_lifetime_secs = lifetime.map(|d| d.as_secs());
    }

    /// Expire every access token of the subject's grants; returns how many grants were touched.
    pub fn expire_grants(&self, subject: &str) -> usize {
        let mut g = self.lock();
        let ids: Vec<u64> = g
            .grants
            .iter()
            .filter(|(_, gr)| gr.subject == subject && !gr.revoked)
            .map(|(id, _)| *id)
            .collect();
        let past = Utc::now() - chrono::Duration::seconds(1);
        for a in g.access.values_mut() {
            if ids.contains(&a.grant) {
                a.expires_at = past;
            }
        }
        ids.len()
    }

    /// Revoke the subject's grants; returns how many were live.
    pub fn revoke_grants(&self, subject: &str) -> usize {
        let mut g = self.lock();
        let mut n = 0;
        for gr in g.grants.values_mut() {
            if gr.subject == subject && !gr.revoked {
                gr.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Live (not revoked) grants of a subject.
    pub fn live_grants(&self, subject: &str) -> usize {
        self.lock()
            .grants
            .values()
            .filter(|g| g.subject == subject && !g.revoked)
            .count()
    }

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

    fn take_failure(&self, endpoint: Endpoint) -> Option<FailureMode> {
        self.lock().failures.get_mut(&endpoint)?.pop_front()
    }

    fn issue(&self, g: &mut Inner, grant: u64) -> serde_json::Value {
        let now = Utc::now();
        let at = random_token("sbx_at_");
        let rt = random_token("sbx_rt_");
        let life = g.settings.access_token_lifetime_secs;
        let rlife = g.settings.refresh_token_lifetime_secs;
        g.access.insert(
            at.clone(),
            AccessRec {
                grant,
                expires_at: now + chrono::Duration::seconds(life as i64),
            },
        );
        g.refresh.insert(
            rt.clone(),
            RefreshRec {
                grant,
                current: true,
                expires_at: rlife.map(|s| now + chrono::Duration::seconds(s as i64)),
            },
        );
        let scopes = g
            .grants
            .get(&grant)
            .map(|gr| gr.scopes.clone())
            .unwrap_or_default();
        let mut body = json!({
            "access_token": at,
            "token_type": "Bearer",
            "expires_in": life,
            "refresh_token": rt,
            "scope": scopes,
        });
        if let Some(r) = rlife {
            body["refresh_token_expires_in"] = json!(r);
        }
        body
    }
}

/// The sandbox's routes under `/sandbox`, with its state attached.
pub fn scope(state: web::Data<SandboxState>) -> actix_web::Scope {
    web::scope("/sandbox")
        .app_data(state)
        .app_data(web::JsonConfig::default().error_handler(|err, _| {
            let msg = err.to_string();
            actix_web::error::InternalError::from_response(
                err,
                HttpResponse::BadRequest()
                    .json(json!({"error": "invalid_request", "error_description": msg})),
            )
            .into()
        }))
        .service(authorize_get)
        .service(authorize_post)
        .service(token_endpoint)
        .service(revoke_endpoint)
        .service(userinfo)
        .service(ctl_identities)
        .service(ctl_add_identity)
        .service(ctl_settings)
        .service(ctl_put_settings)
        .service(ctl_expire)
        .service(ctl_revoke)
        .service(ctl_fail)
        .service(ctl_clear_failures)
        .service(ctl_calls)
        .service(ctl_reset_calls)
        .service(ctl_redirect_uri)
}

// ---------------------------------------------------------------- helpers

/// Parse form or query parameters; a repeated parameter is an error (RFC 6749 §3.1).
fn params(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if map.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("parameter `{k}` repeated"));
        }
    }
    Ok(map)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{t}</h1>{body}</body></html>",
            t = html_escape(title)
        ))
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"sandbox\""));
    }
    r.json(json!({"error": code, "error_description": description}))
}

fn redirect_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    match Url::parse(redirect_uri) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, u.to_string()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(_) => page(StatusCode::BAD_REQUEST, "Invalid redirect_uri", ""),
    }
}

/// A checked authorization request.
struct AuthRequest {
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    challenge: String,
}

/// Validate an authorization request. `Err` is the response to send: an error page when the
/// client or redirect URI is wrong (never redirect there), else a redirect with the error.
fn check_auth_request(
    st: &SandboxState,
    p: &HashMap<String, String>,
) -> Result<AuthRequest, Box<HttpResponse>> {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != CLIENT_ID {
        return Err(Box::new(page(
            StatusCode::BAD_REQUEST,
            "Unknown client",
            "<p>The <code>client_id</code> is not registered with the sandbox.</p>",
        )));
    }
    let redirect_uri = get("redirect_uri").to_owned();
    if !st.lock().redirect_uris.contains(&redirect_uri) {
        return Err(Box::new(page(
            StatusCode::BAD_REQUEST,
            "Unregistered redirect_uri",
            &format!(
                "<p>The redirect URI <code>{}</code> is not registered for this client.</p>",
                html_escape(&redirect_uri)
            ),
        )));
    }
    let state = p.get("state").cloned();
    let fail = |code: &str| {
        let mut pairs = vec![("error", code)];
        if let Some(s) = &state {
            pairs.push(("state", s.as_str()));
        }
        redirect_to(&redirect_uri, &pairs)
    };
    if get("response_type") != "code" {
        return Err(Box::new(fail("unsupported_response_type")));
    }
    let challenge = get("code_challenge");
    if get("code_challenge_method") != "S256"
        || challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Box::new(fail("invalid_request")));
    }
    Ok(AuthRequest {
        redirect_uri,
        state,
        scope: get("scope").to_owned(),
        challenge: challenge.to_owned(),
    })
}

fn approve(st: &SandboxState, req: &AuthRequest, subject: &str) -> HttpResponse {
    let code = random_token("sbx_code_");
    {
        let mut g = st.lock();
        if !g.identities.contains_key(subject) {
            return page(
                StatusCode::BAD_REQUEST,
                "Unknown identity",
                &format!(
                    "<p>No sandbox identity <code>{}</code>.</p>",
                    html_escape(subject)
                ),
            );
        }
        g.codes.insert(
            code.clone(),
            CodeRec {
                subject: subject.to_owned(),
                redirect_uri: req.redirect_uri.clone(),
                challenge: req.challenge.clone(),
                scopes: req.scope.clone(),
                expires_at: Utc::now() + chrono::Duration::seconds(CODE_LIFETIME_SECS),
                spent_for: None,
            },
        );
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        pairs.push(("state", s.as_str()));
    }
    redirect_to(&req.redirect_uri, &pairs)
}

fn deny(req: &AuthRequest) -> HttpResponse {
    let mut pairs = vec![("error", "access_denied")];
    if let Some(s) = &req.state {
        pairs.push(("state", s.as_str()));
    }
    redirect_to(&req.redirect_uri, &pairs)
}

// ---------------------------------------------------------------- OAuth routes

#[actix_web::get("/authorize")]
async fn authorize_get(st: web::Data<SandboxState>, req: HttpRequest) -> HttpResponse {
    st.lock().calls.authorize += 1;
    let p = match params(req.query_string().as_bytes()) {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_REQUEST, "Invalid request", &html_escape(&e)),
    };
    let ar = match check_auth_request(&st, &p) {
        Ok(a) => a,
        Err(resp) => return *resp,
    };
    if let Some(subject) = p.get("auto_approve") {
        return approve(&st, &ar, subject);
    }
    if p.contains_key("auto_deny") {
        return deny(&ar);
    }
    let mut hidden = String::new();
    let mut keys: Vec<_> = p.keys().collect();
    keys.sort();
    for k in keys {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            html_escape(k),
            html_escape(&p[k])
        ));
    }
    let mut choices = String::new();
    for (i, id) in st.identities().iter().enumerate() {
        choices.push_str(&format!(
            "<p><label><input type=\"radio\" name=\"subject\" value=\"{}\"{}> {} (@{}, <code>{}</code>)</label></p>",
            html_escape(&id.subject),
            if i == 0 { " checked" } else { "" },
            html_escape(&id.display_name),
            html_escape(&id.handle),
            html_escape(&id.subject),
        ));
    }
    let body = format!(
        "<p>An application wants access to your sandbox account{}.</p>\
         <form method=\"post\" action=\"authorize\">{hidden}<fieldset><legend>Sign in as</legend>{choices}</fieldset>\
         <p><button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p></form>",
        if ar.scope.is_empty() {
            String::new()
        } else {
            format!(" (scopes: <code>{}</code>)", html_escape(&ar.scope))
        }
    );
    page(StatusCode::OK, "Sandbox network: authorize", &body)
}

#[actix_web::post("/authorize")]
async fn authorize_post(st: web::Data<SandboxState>, body: web::Bytes) -> HttpResponse {
    st.lock().calls.authorize += 1;
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_REQUEST, "Invalid request", &html_escape(&e)),
    };
    let ar = match check_auth_request(&st, &p) {
        Ok(a) => a,
        Err(resp) => return *resp,
    };
    match p.get("decision").map(String::as_str) {
        Some("approve") => approve(&st, &ar, p.get("subject").map(String::as_str).unwrap_or("")),
        Some("deny") => deny(&ar),
        _ => page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "<p><code>decision</code> must be <code>approve</code> or <code>deny</code>.</p>",
        ),
    }
}

/// Apply a queued failure: `Some(response)` to answer it, `None` to go on (after a delay).
async fn injected(st: &SandboxState, endpoint: Endpoint) -> Option<HttpResponse> {
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
    }
}

/// Client authentication: HTTP Basic or form fields, exactly one of them.
fn client_ok(req: &HttpRequest, p: &HashMap<String, String>) -> Result<(), Box<HttpResponse>> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let (id, secret) = match (basic, p.get("client_id"), p.get("client_secret")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Box::new(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use one client authentication method",
            )));
        }
        (Some(b), None, None) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .unwrap_or_default();
            let (i, s) = decoded.split_once(':').unwrap_or(("", ""));
            let dec = |x: &str| {
                url::form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (dec(i), dec(s))
        }
        (None, Some(i), Some(s)) => (i.clone(), s.clone()),
        _ => (String::new(), String::new()),
    };
    if id == CLIENT_ID && secret == CLIENT_SECRET {
        Ok(())
    } else {
        Err(Box::new(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )))
    }
}

#[actix_web::post("/token")]
async fn token_endpoint(
    st: web::Data<SandboxState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let p = params(&body);
    {
        let mut g = st.lock();
        g.calls.token += 1;
        if p.as_ref()
            .is_ok_and(|p| p.get("grant_type").map(String::as_str) == Some("refresh_token"))
        {
            g.calls.refresh += 1;
        }
    }
    if let Some(resp) = injected(&st, Endpoint::Token).await {
        return resp;
    }
    let p = match p {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if let Err(resp) = client_ok(&req, &p) {
        return *resp;
    }
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let answer = match get("grant_type") {
        "authorization_code" => {
            exchange(&st, get("code"), get("redirect_uri"), get("code_verifier"))
        }
        "refresh_token" => refresh(&st, get("refresh_token")),
        "" => Err(("invalid_request", "grant_type is required")),
        _ => Err((
            "unsupported_grant_type",
            "only authorization_code and refresh_token",
        )),
    };
    match answer {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(body),
        Err((code, desc)) => oauth_error(StatusCode::BAD_REQUEST, code, desc),
    }
}

type TokenAnswer = Result<serde_json::Value, (&'static str, &'static str)>;

fn exchange(st: &SandboxState, code: &str, redirect_uri: &str, verifier: &str) -> TokenAnswer {
    let mut g = st.lock();
    let now = Utc::now();
    let Some(rec) = g.codes.get_mut(code) else {
        return Err(("invalid_grant", "unknown authorization code"));
    };
    if let Some(grant) = rec.spent_for {
        // RFC 6749 §4.1.2: a reused code revokes what it produced.
        if let Some(gr) = g.grants.get_mut(&grant) {
            gr.revoked = true;
        }
        return Err((
            "invalid_grant",
            "authorization code already used; grant revoked",
        ));
    }
    if rec.expires_at <= now {
        return Err(("invalid_grant", "authorization code expired"));
    }
    if rec.redirect_uri != redirect_uri {
        return Err((
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        ));
    }
    if verifier.len() < 43 || verifier.len() > 128 {
        return Err(("invalid_grant", "code_verifier missing or malformed"));
    }
    if pkce_challenge_s256(verifier) != rec.challenge {
        return Err(("invalid_grant", "PKCE verification failed"));
    }
    let id = g.next_grant;
    g.next_grant += 1;
    let rec = g.codes.get_mut(code).expect("code looked up above");
    rec.spent_for = Some(id);
    let (subject, scopes) = (rec.subject.clone(), rec.scopes.clone());
    g.grants.insert(
        id,
        GrantRec {
            subject,
            scopes,
            revoked: false,
        },
    );
    Ok(st.issue(&mut g, id))
}

fn refresh(st: &SandboxState, token: &str) -> TokenAnswer {
    let mut g = st.lock();
    let now = Utc::now();
    let Some(rec) = g.refresh.get(token) else {
        return Err(("invalid_grant", "unknown refresh token"));
    };
    let (grant, current, expires_at) = (rec.grant, rec.current, rec.expires_at);
    let revoked = g.grants.get(&grant).is_none_or(|gr| gr.revoked);
    if revoked {
        return Err(("invalid_grant", "the grant was revoked"));
    }
    if !current {
        if let Some(gr) = g.grants.get_mut(&grant) {
            gr.revoked = true;
        }
        return Err((
            "invalid_grant",
            "refresh token reuse detected; grant revoked",
        ));
    }
    if expires_at.is_some_and(|t| t <= now) {
        return Err(("invalid_grant", "refresh token expired"));
    }
    if let Some(r) = g.refresh.get_mut(token) {
        r.current = false;
    }
    Ok(st.issue(&mut g, grant))
}

#[actix_web::post("/revoke")]
async fn revoke_endpoint(
    st: web::Data<SandboxState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    st.lock().calls.revoke += 1;
    if let Some(resp) = injected(&st, Endpoint::Revoke).await {
        return resp;
    }
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if let Err(resp) = client_ok(&req, &p) {
        return *resp;
    }
    let Some(token) = p.get("token").filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    let mut g = st.lock();
    if let Some(grant) = g.refresh.get(token.as_str()).map(|r| r.grant) {
        if let Some(gr) = g.grants.get_mut(&grant) {
            gr.revoked = true;
        }
    } else {
        g.access.remove(token.as_str());
    }
    HttpResponse::Ok().finish()
}

#[actix_web::get("/userinfo")]
async fn userinfo(st: web::Data<SandboxState>, req: HttpRequest) -> HttpResponse {
    st.lock().calls.userinfo += 1;
    if let Some(resp) = injected(&st, Endpoint::Userinfo).await {
        return resp;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let g = st.lock();
    let now = Utc::now();
    let who = g
        .access
        .get(token)
        .filter(|a| a.expires_at > now)
        .and_then(|a| g.grants.get(&a.grant))
        .filter(|gr| !gr.revoked)
        .and_then(|gr| g.identities.get(&gr.subject));
    match who {
        Some(id) => HttpResponse::Ok().json(json!({
            "sub": id.subject,
            "preferred_username": id.handle,
            "name": id.display_name,
            "picture": id.avatar_url,
        })),
        None => HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\", error_description=\"invalid, expired or revoked\"",
            ))
            .json(json!({"error": "invalid_token", "error_description": "invalid, expired or revoked access token"})),
    }
}

// ---------------------------------------------------------------- control routes

#[actix_web::get("/control/identities")]
async fn ctl_identities(st: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(st.identities())
}

#[actix_web::post("/control/identities")]
async fn ctl_add_identity(
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
async fn ctl_settings(st: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(st.settings())
}

#[actix_web::put("/control/settings")]
async fn ctl_put_settings(
    st: web::Data<SandboxState>,
    body: web::Json<SandboxSettings>,
) -> HttpResponse {
    st.set_access_token_lifetime(Duration::from_secs(body.access_token_lifetime_secs));
    st.set_refresh_token_lifetime(body.refresh_token_lifetime_secs.map(Duration::from_secs));
    HttpResponse::Ok().json(st.settings())
}

#[actix_web::post("/control/grants/{subject}/expire")]
async fn ctl_expire(st: web::Data<SandboxState>, path: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"affected": st.expire_grants(&path)}))
}

#[actix_web::post("/control/grants/{subject}/revoke")]
async fn ctl_revoke(st: web::Data<SandboxState>, path: web::Path<String>) -> HttpResponse {
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
async fn ctl_fail(st: web::Data<SandboxState>, body: web::Json<FailureRequest>) -> HttpResponse {
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
async fn ctl_clear_failures(st: web::Data<SandboxState>) -> HttpResponse {
    st.clear_failures();
    HttpResponse::NoContent().finish()
}

#[actix_web::get("/control/calls")]
async fn ctl_calls(st: web::Data<SandboxState>) -> HttpResponse {
    HttpResponse::Ok().json(st.calls())
}

#[actix_web::delete("/control/calls")]
async fn ctl_reset_calls(st: web::Data<SandboxState>) -> HttpResponse {
    st.reset_calls();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedirectUriRequest {
    uri: String,
}

#[actix_web::post("/control/redirect-uris")]
async fn ctl_redirect_uri(
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
