//! The Pages a sandbox person manages, shaped as Graph's `/me/accounts` (Graph API
//! "/user/accounts", "Page Access Tokens", "Pagination"), so a sandbox network can stand for
//! Facebook's Pages in demos: each grant has its own Page token per Page (a re-authorization is
//! a new grant, so it issues new ones; a refresh keeps them), and a dead person token answers
//! Graph's error 190.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::Utc;
use serde_json::json;

use super::faults::injected;
use super::{Endpoint, Inner, PageTokenRec, SandboxPage, SandboxState, random_token};

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;

/// Graph's answer to a token it no longer accepts (code 190; subcode 460: the session was
/// invalidated, as after a password change or a revoked grant).
fn error_190(message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::BAD_REQUEST).json(json!({
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 460,
            "fbtrace_id": "sandbox"
        }
    }))
}

fn cursor(index: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(index.to_string())
}

fn from_cursor(raw: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// The live grant behind an access token, and its person.
fn grant_of(g: &Inner, token: &str) -> Option<(u64, String)> {
    let now = Utc::now();
    let rec = g.access.get(token).filter(|a| a.expires_at > now)?;
    let grant = g.grants.get(&rec.grant).filter(|gr| !gr.revoked)?;
    Some((rec.grant, grant.subject.clone()))
}

/// The grant's token for a Page, issued the first time it is asked for.
fn page_token(g: &mut Inner, grant: u64, page: &str) -> String {
    if let Some((t, _)) = g
        .page_tokens
        .iter()
        .find(|(_, r)| r.grant == grant && r.page == page)
    {
        return t.clone();
    }
    let t = random_token("sbx_page_");
    g.page_tokens.insert(
        t.clone(),
        PageTokenRec {
            grant,
            page: page.to_owned(),
        },
    );
    t
}

#[actix_web::get("/me/accounts")]
pub(super) async fn me_accounts(st: web::Data<SandboxState>, req: HttpRequest) -> HttpResponse {
    st.lock().calls.accounts += 1;
    if let Err(resp) = injected(&st, Endpoint::Accounts).await {
        return resp;
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer.or(param("access_token")).unwrap_or("");
    let limit = match param("limit").map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return graph_param_error("limit must be 1-100"),
    };
    let start = match param("after").map(from_cursor) {
        None => 0,
        Some(Some(i)) => i,
        Some(None) => return graph_param_error("after is not a cursor of this edge"),
    };
    let mut g = st.lock();
    let Some((grant, subject)) = grant_of(&g, token) else {
        return error_190("Error validating access token: the session has been invalidated.");
    };
    let pages: Vec<SandboxPage> = g.pages.get(&subject).cloned().unwrap_or_default();
    let end = (start + limit).min(pages.len());
    let data: Vec<serde_json::Value> = pages
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let mut item = json!({
                "id": p.id,
                "name": p.name,
                "access_token": page_token(&mut g, grant, &p.id),
                "category": "Sandbox",
                "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
            });
            if let Some(url) = &p.picture_url {
                item["picture"] = json!({"data": {"url": url}});
            }
            item
        })
        .collect();
    let mut paging = json!({"cursors": {"before": cursor(start), "after": cursor(end)}});
    if end < pages.len() {
        let mut next = req.full_url();
        let kept: Vec<(String, String)> = query.into_iter().filter(|(k, _)| k != "after").collect();
        next.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("after", &cursor(end));
        paging["next"] = json!(next.as_str());
    }
    HttpResponse::Ok().json(json!({"data": data, "paging": paging}))
}

fn graph_param_error(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "error": {"message": format!("(#100) {message}"), "type": "OAuthException", "code": 100}
    }))
}

#[actix_web::get("/control/pages/{subject}")]
pub(super) async fn ctl_pages(
    st: web::Data<SandboxState>,
    path: web::Path<String>,
) -> HttpResponse {
    HttpResponse::Ok().json(st.pages(&path))
}

#[actix_web::put("/control/pages/{subject}")]
pub(super) async fn ctl_put_pages(
    st: web::Data<SandboxState>,
    path: web::Path<String>,
    body: web::Json<Vec<SandboxPage>>,
) -> HttpResponse {
    let pages = body.into_inner();
    if pages
        .iter()
        .any(|p| p.id.trim().is_empty() || p.name.trim().is_empty())
    {
        return HttpResponse::BadRequest().json(
            json!({"error": "invalid_request", "error_description": "every Page needs an id and a name"}),
        );
    }
    st.set_pages(&path, pages);
    HttpResponse::Ok().json(st.pages(&path))
}
