//! The sandbox's OAuth 2.0 endpoints: authorize (the page and its form), token (code exchange
//! and rotating refresh), revoke, RFC 7662 introspection and userinfo. Each counts its calls and, except authorize,
//! first answers any failure queued for it through the control API.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::Utc;
use serde_json::json;
use url::Url;

use super::faults::{Shape, injected, oauth_error};
use super::{
    CLIENT_ID, CLIENT_SECRET, CODE_LIFETIME_SECS, CodeRec, Endpoint, GrantRec, SandboxState, pages,
    random_token,
};
use crate::providers::pkce_challenge_s256;

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

fn redirect_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    match Url::parse(redirect_uri) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, u.to_string()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(_) => pages::invalid_redirect_uri(),
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
        return Err(Box::new(pages::unknown_client()));
    }
    let redirect_uri = get("redirect_uri").to_owned();
    if !st.lock().redirect_uris.contains(&redirect_uri) {
        return Err(Box::new(pages::unregistered_redirect_uri(&redirect_uri)));
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
            return pages::unknown_identity(subject);
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
pub(super) async fn authorize_get(st: web::Data<SandboxState>, req: HttpRequest) -> HttpResponse {
    st.lock().calls.authorize += 1;
    let p = match params(req.query_string().as_bytes()) {
        Ok(p) => p,
        Err(e) => return pages::invalid_request(&e),
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
    pages::authorize(&p, &st.identities(), &ar.scope)
}

#[actix_web::post("/authorize")]
pub(super) async fn authorize_post(st: web::Data<SandboxState>, body: web::Bytes) -> HttpResponse {
    st.lock().calls.authorize += 1;
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return pages::invalid_request(&e),
    };
    let ar = match check_auth_request(&st, &p) {
        Ok(a) => a,
        Err(resp) => return *resp,
    };
    match p.get("decision").map(String::as_str) {
        Some("approve") => approve(&st, &ar, p.get("subject").map(String::as_str).unwrap_or("")),
        Some("deny") => deny(&ar),
        _ => pages::invalid_decision(),
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
pub(super) async fn token_endpoint(
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
    let shape = match injected(&st, Endpoint::Token).await {
        Ok(shape) => shape,
        Err(resp) => return resp,
    };
    let p = match p {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if let Err(resp) = client_ok(&req, &p) {
        return *resp;
    }
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let answer = match get("grant_type") {
        "authorization_code" => exchange(
            &st,
            get("code"),
            get("redirect_uri"),
            get("code_verifier"),
            shape,
        ),
        "refresh_token" => refresh(&st, get("refresh_token"), shape),
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

fn exchange(
    st: &SandboxState,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
    shape: Shape,
) -> TokenAnswer {
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
    Ok(st.issue(&mut g, id, shape))
}

fn refresh(st: &SandboxState, token: &str, shape: Shape) -> TokenAnswer {
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
    // A network that does not rotate leaves the refresh token it was sent good.
    if !shape.no_refresh_token
        && let Some(r) = g.refresh.get_mut(token)
    {
        r.current = false;
    }
    Ok(st.issue(&mut g, grant, shape))
}

/// The common part of the endpoints a client asks about a token with (RFC 7009 revocation,
/// RFC 7662 introspection): a queued failure, a form body, client authentication, and `token`.
async fn token_request(
    st: &web::Data<SandboxState>,
    req: &HttpRequest,
    body: &[u8],
    endpoint: Endpoint,
) -> Result<String, HttpResponse> {
    injected(st, endpoint).await?;
    let p =
        params(body).map_err(|e| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e))?;
    client_ok(req, &p).map_err(|resp| *resp)?;
    p.get("token")
        .filter(|t| !t.is_empty())
        .cloned()
        .ok_or_else(|| {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "token is required",
            )
        })
}

#[actix_web::post("/revoke")]
pub(super) async fn revoke_endpoint(
    st: web::Data<SandboxState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    st.lock().calls.revoke += 1;
    let token = match token_request(&st, &req, &body, Endpoint::Revoke).await {
        Ok(token) => token,
        Err(resp) => return resp,
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
pub(super) async fn userinfo(st: web::Data<SandboxState>, req: HttpRequest) -> HttpResponse {
    st.lock().calls.userinfo += 1;
    if let Err(resp) = injected(&st, Endpoint::Userinfo).await {
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

/// RFC 7662 §2: a protected resource (here, tokenwarden) asks whether a token is active. Only an
/// authenticated client may ask (§2.1); every token that is not live answers `active: false`
/// and nothing more (§2.2).
#[actix_web::post("/introspect")]
pub(super) async fn introspect_endpoint(
    st: web::Data<SandboxState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    st.lock().calls.introspect += 1;
    let token = match token_request(&st, &req, &body, Endpoint::Introspect).await {
        Ok(token) => token,
        Err(resp) => return resp,
    };
    let g = st.lock();
    let now = Utc::now();
    let live = |grant: u64| g.grants.get(&grant).filter(|gr| !gr.revoked);
    let found = match g.access.get(token.as_str()) {
        Some(a) if a.expires_at > now => live(a.grant).map(|gr| (gr, Some(a.expires_at))),
        Some(_) => None,
        None => g
            .refresh
            .get(token.as_str())
            .filter(|r| r.current && r.expires_at.is_none_or(|t| t > now))
            .and_then(|r| live(r.grant).map(|gr| (gr, r.expires_at))),
    };
    let answer = match found {
        Some((grant, exp)) => {
            let handle = g.identities.get(&grant.subject).map(|i| i.handle.clone());
            let mut body = json!({
                "active": true,
                "scope": grant.scopes,
                "client_id": CLIENT_ID,
                "sub": grant.subject,
                "token_type": "Bearer",
            });
            if let Some(h) = handle {
                body["username"] = json!(h);
            }
            if let Some(exp) = exp {
                body["exp"] = json!(exp.timestamp());
            }
            body
        }
        None => json!({"active": false}),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer)
}
