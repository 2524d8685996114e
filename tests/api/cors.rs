//! Browser front ends on other origins: the configured origins get CORS
//! answers (preflight, the headers a front end reads, never credentials);
//! every other origin gets none, and none is configured by default.

use reqwest::Method;

use crate::helpers::{Backend, TestApp};

const FRONT_END: &str = "http://front.example:5173";

async fn with_front_end() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |s| {
        s.cors.allowed_origins = vec![format!("{FRONT_END}/")];
    })
    .await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn an_allowed_origin_passes_the_preflight_without_credentials() {
    let app = with_front_end().await;

    let response = app
        .request(Method::OPTIONS, "/v1/brands/x/accounts/y/renew")
        .header("Origin", FRONT_END)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await;

    assert_eq!(response.status(), 204);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(FRONT_END)
    );
    let allowed = header(&response, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for needed in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(needed), "{needed} in {allowed}");
    }
    assert!(
        header(&response, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn an_allowed_origin_reads_answers_and_their_headers() {
    let app = with_front_end().await;
    let token = app.admin_token();

    let ok = app
        .get("/v1/expired-tokens")
        .bearer(&token)
        .header("Origin", FRONT_END)
        .send()
        .await;
    let problem = app
        .get("/v1/expired-tokens")
        .header("Origin", FRONT_END)
        .send()
        .await;

    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(FRONT_END));
    let exposed = header(&ok, "access-control-expose-headers").unwrap();
    for needed in [
        "RateLimit",
        "RateLimit-Policy",
        "Retry-After",
        "X-Request-Id",
        "ETag",
        "Idempotent-Replayed",
        "Location",
    ] {
        assert!(exposed.contains(needed), "{needed} in {exposed}");
    }
    let vary: Vec<&str> = ok
        .headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(vary.iter().any(|v| v.contains("Origin")), "{vary:?}");
    assert_eq!(header(&ok, "access-control-allow-credentials"), None);
    // A problem answer is readable too, so the page can show why.
    assert_eq!(problem.status(), 401);
    assert_eq!(
        header(&problem, "access-control-allow-origin"),
        Some(FRONT_END)
    );
}

#[tokio::test]
async fn other_origins_get_no_cors_answer() {
    let app = with_front_end().await;
    let token = app.admin_token();

    let read = app
        .get("/v1/organization")
        .bearer(&token)
        .header("Origin", "https://evil.example")
        .send()
        .await;
    let preflight = app
        .request(Method::OPTIONS, "/v1/organization")
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await;

    assert_eq!(header(&read, "access-control-allow-origin"), None);
    assert_eq!(header(&preflight, "access-control-allow-origin"), None);
    assert_ne!(preflight.status(), 204);
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let preflight = app
        .request(Method::OPTIONS, "/v1/organization")
        .header("Origin", FRONT_END)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await;

    assert_eq!(header(&preflight, "access-control-allow-origin"), None);
    assert_ne!(preflight.status(), 204);
}
