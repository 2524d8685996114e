//! The page a profile's owner opens from a reconnect link, and the button
//! that spends it. Opening the page changes nothing, so a link preview
//! (chat apps, mail scanners) cannot use the link up; only the form's POST
//! starts the authorization. The page works without JavaScript.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};

use crate::error::Error;
use crate::html::escape;
use crate::services::reconnect_links::{self, Preview};
use crate::state::AppState;

/// The path parameter of both operations on a link.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LinkToken {
    /// The link's secret part: 43 characters of base64url (32 random bytes).
    #[param(
        pattern = "^[A-Za-z0-9_-]{43}$",
        min_length = 43,
        max_length = 43,
        example = "q3Jc0mN6Yv2Xb8ZsPp1eWd4Tf7Gh9Kl5Rt0Uy2Io3As"
    )]
    pub token: String,
}

/// What both operations on a link answer when it cannot be used.
#[derive(IntoResponses)]
pub enum LinkErrors {
    /// No such link (also for a token not of the documented shape).
    #[response(status = 404)]
    NotFound,
    /// The link was used or has expired.
    #[response(status = 410)]
    Gone,
}

/// Show a reconnect link
///
/// For the profile's owner, in a browser; no bearer token (the link is the
/// credential). An HTML page naming the organization, the profile and the
/// network, with a button that starts the re-authorization. Opening the page
/// does not use the link up. A used or expired link answers 410.
#[utoipa::path(
    operation_id = "show_reconnect_link",
    tag = "renewal",
    security(()),
    params(LinkToken),
    responses(
        (status = 200, description = "The page, with a button that POSTs to this same path.",
            content_type = "text/html", body = String,
            example = json!("<!doctype html><html>…<form method=\"post\"><button>Reconnect with x</button></form>…</html>")),
        LinkErrors
    )
)]
#[get("/reconnect/{token}")]
pub async fn show_reconnect_link(
    state: web::Data<AppState>,
    path: web::Path<LinkToken>,
) -> Result<HttpResponse, Error> {
    let preview = reconnect_links::preview(&state, &path.token).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // The URL holds the link's secret: keep it out of caches and of
        // the Referer of anything the page leads to.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(page(&preview)))
}

/// Use a reconnect link
///
/// The page's button. Spends the link and redirects (303) to the network's
/// authorization page; the network's redirect to the callback finishes the
/// renewal. A link works once and until it expires; afterwards it answers 410.
#[utoipa::path(
    operation_id = "open_reconnect_link",
    tag = "renewal",
    security(()),
    params(LinkToken),
    responses(
        (status = 303, description = "Redirect to the network's authorization page.",
            headers(("Location" = String, description = "The network's authorization URL."))),
        LinkErrors
    )
)]
#[post("/reconnect/{token}")]
pub async fn open_reconnect_link(
    state: web::Data<AppState>,
    path: web::Path<LinkToken>,
) -> Result<HttpResponse, Error> {
    let started = reconnect_links::open(&state, &path.token).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, started.authorization_url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish())
}

/// The page: every text from the database or a network is escaped.
fn page(preview: &Preview) -> String {
    let organization = escape(&preview.organization_name);
    let network = escape(&preview.network);
    let handle = escape(&preview.handle);
    let who = match preview.display_name.as_deref() {
        Some(name) if !name.is_empty() => format!("{} ({handle})", escape(name)),
        _ => handle,
    };
    let until = preview.expires_at.format("%Y-%m-%d %H:%M UTC");
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Reconnect {network} for {organization}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #1f2933; }}
button {{ font-size: 1rem; padding: .6rem 1.2rem; border-radius: .4rem; border: 0; background: #1d4ed8; color: #fff; cursor: pointer; }}
.small {{ color: #52606d; font-size: .9rem; }}
</style>
</head>
<body>
<h1>Reconnect your {network} profile</h1>
<p><strong>{organization}</strong> asks you to reconnect <strong>{who}</strong> on {network}, so that its scheduled posts, inbox and reports keep working.</p>
<form method="post">
<button type="submit">Reconnect with {network}</button>
</form>
<p class="small">You will sign in at {network} and approve the access there. This link works once, until {until}.</p>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_network_cannot_inject_markup() {
        let preview = Preview {
            organization_name: "Acme <script>alert(1)</script>".into(),
            network: "x".into(),
            handle: "@a\"b'c&d".into(),
            display_name: Some("<img src=x onerror=alert(1)>".into()),
            expires_at: chrono::Utc::now(),
        };
        let html = page(&preview);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<img"));
        assert!(html.contains("Acme &lt;script&gt;"));
        assert!(html.contains("@a&quot;b&#39;c&amp;d"));
    }
}
