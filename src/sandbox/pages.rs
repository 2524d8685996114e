//! The sandbox's HTML: the authorize page a person approves or denies on, and the error pages
//! shown instead of redirecting when the request cannot be trusted with a redirect.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;

use super::SandboxIdentity;
use crate::html::escape;

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // No `form-action`: browsers apply it to every redirect after the
        // form's POST, and the approval redirects through tokenwarden's
        // callback on to the front end's return URL on another origin.
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ))
}

/// The form: the request's parameters ride along as hidden fields, so the POST is checked
/// exactly like the GET was; the first identity is preselected.
pub(super) fn authorize(
    params: &HashMap<String, String>,
    identities: &[SandboxIdentity],
    scope: &str,
) -> HttpResponse {
    let mut hidden = String::new();
    let mut keys: Vec<_> = params.keys().collect();
    keys.sort();
    for k in keys {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(k),
            escape(&params[k])
        ));
    }
    let mut choices = String::new();
    for (i, id) in identities.iter().enumerate() {
        choices.push_str(&format!(
            "<p><label><input type=\"radio\" name=\"subject\" value=\"{}\"{}> {} (@{}, <code>{}</code>)</label></p>",
            escape(&id.subject),
            if i == 0 { " checked" } else { "" },
            escape(&id.display_name),
            escape(&id.handle),
            escape(&id.subject),
        ));
    }
    let body = format!(
        "<p>An application wants access to your sandbox account{}.</p>\
         <form method=\"post\" action=\"authorize\">{hidden}<fieldset><legend>Sign in as</legend>{choices}</fieldset>\
         <p><button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p></form>",
        if scope.is_empty() {
            String::new()
        } else {
            format!(" (scopes: <code>{}</code>)", escape(scope))
        }
    );
    page(StatusCode::OK, "Sandbox network: authorize", &body)
}

/// `detail` is plain text.
pub(super) fn invalid_request(detail: &str) -> HttpResponse {
    page(StatusCode::BAD_REQUEST, "Invalid request", &escape(detail))
}

pub(super) fn invalid_decision() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        "<p><code>decision</code> must be <code>approve</code> or <code>deny</code>.</p>",
    )
}

pub(super) fn unknown_client() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "Unknown client",
        "<p>The <code>client_id</code> is not registered with the sandbox.</p>",
    )
}

pub(super) fn unregistered_redirect_uri(redirect_uri: &str) -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "Unregistered redirect_uri",
        &format!(
            "<p>The redirect URI <code>{}</code> is not registered for this client.</p>",
            escape(redirect_uri)
        ),
    )
}

pub(super) fn invalid_redirect_uri() -> HttpResponse {
    page(StatusCode::BAD_REQUEST, "Invalid redirect_uri", "")
}

pub(super) fn unknown_identity(subject: &str) -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "Unknown identity",
        &format!(
            "<p>No sandbox identity <code>{}</code>.</p>",
            escape(subject)
        ),
    )
}
