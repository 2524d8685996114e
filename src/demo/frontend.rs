//! The demo's reference front end: a static page, embedded in the binary,
//! served on its own port. A different port is a different origin, so the
//! browser really makes cross-origin calls and the API's CORS answers
//! (`cors.allowed_origins`, src/api/cors.rs) are what lets the page work.
//!
//! This server is not part of the API: it serves the page's files only and
//! stays out of the OpenAPI document (handlers are registered on a plain
//! actix `App`, not through utoipa).

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, get, web};

/// One embedded file. Module scripts are refused by browsers unless served
/// with a JavaScript content type, so every file names its own.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    /// One row of `ASSETS`: a table reads better than a struct literal per file.
    const fn new(path: &'static str, content_type: &'static str, body: &'static str) -> Self {
        Self {
            path,
            content_type,
            body,
        }
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset::new("index.html", HTML, include_str!("frontend/index.html")),
    Asset::new(
        "callback.html",
        HTML,
        include_str!("frontend/callback.html"),
    ),
    Asset::new("app.css", CSS, include_str!("frontend/app.css")),
    Asset::new("app.js", JS, include_str!("frontend/app.js")),
    Asset::new("api.js", JS, include_str!("frontend/api.js")),
    Asset::new("dom.js", JS, include_str!("frontend/dom.js")),
    Asset::new("expired.js", JS, include_str!("frontend/expired.js")),
    Asset::new("accounts.js", JS, include_str!("frontend/accounts.js")),
    Asset::new("callback.js", JS, include_str!("frontend/callback.js")),
    Asset::new("popup.js", JS, include_str!("frontend/popup.js")),
    Asset::new("renew.js", JS, include_str!("frontend/renew.js")),
    Asset::new("menu.js", JS, include_str!("frontend/menu.js")),
    Asset::new("connect.js", JS, include_str!("frontend/connect.js")),
];

/// The origin browsers will send from the page served at `address`. A
/// wildcard address (`0.0.0.0`) is no origin a browser sees; the API's host
/// name stands in for it.
pub fn origin(address: SocketAddr, api_host: &str) -> String {
    if address.ip().is_unspecified() {
        format!("http://{api_host}:{}", address.port())
    } else {
        format!("http://{address}")
    }
}

/// The page's Content-Security-Policy. Scripts and styles come only from
/// this server (no inline code, so injected markup cannot run), and
/// `connect-src` names the one API the page may call: a script that got in
/// anyway could not send the bearer token anywhere else. Pictures of
/// profiles and Pages come from the networks' servers (any HTTPS host) or,
/// in the demo, from the sandbox on the API's origin.
pub fn content_security_policy(api_origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: https: {api_origin}; connect-src {api_origin}; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

#[derive(Clone)]
struct Policy(String);

fn answer(policy: &Policy, path: &str) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found\n");
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header(("Content-Security-Policy", policy.0.as_str()))
        // The demo's files change with the binary; a stale cached script
        // from an older demo on the same port would only confuse.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The page's address may carry the token in its fragment; browsers
        // never send fragments, and this keeps even the path to itself.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(asset.body)
}

#[get("/")]
async fn index(policy: web::Data<Policy>) -> HttpResponse {
    answer(&policy, "index.html")
}

#[get("/{file}")]
async fn file(policy: web::Data<Policy>, path: web::Path<String>) -> HttpResponse {
    answer(&policy, &path)
}

/// Serves the page on `listener`, allowed to call the API at `api_origin`.
/// Like the API's server it stops on SIGINT/SIGTERM; the demo also stops it
/// when the API stops.
pub fn serve(listener: TcpListener, api_origin: &str) -> std::io::Result<Server> {
    let policy = web::Data::new(Policy(content_security_policy(api_origin)));
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(policy.clone())
            .service(index)
            .service(file)
    })
    // A handful of small files for one person's browser.
    .workers(1)
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}
