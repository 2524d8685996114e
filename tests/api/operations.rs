use serde_json::Value;

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

async fn health_readiness_metrics_and_request_ids(app: TestApp) {
    let response = app.get("/healthz").send().await;
    assert_eq!(response.status(), 200);
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());

    let response = app
        .get("/readyz")
        .header("x-request-id", "trace-abc-123")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    // An unacceptable client id (here: spaces) is replaced, not echoed.
    let response = app
        .get("/healthz")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await;
    assert_ne!(response.headers()["x-request-id"], "bad id with spaces");

    // The echoed id is also the problem's request_id.
    let response = app
        .get("/v1/brands")
        .header("x-request-id", "req-42")
        .send()
        .await;
    let body = assert_problem(response, 401, "unauthorized").await;
    assert_eq!(body["request_id"], "req-42");

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"tokenwarden_http_requests_total{method="GET",route="/readyz",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/v1/brands",status="401""#));

    let docs = app.get("/docs/").send().await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
}

on_both_backends!(health_readiness_metrics_and_request_ids);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_no_database_connection_can_be_had() {
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, |s| {
        s.database.connect_timeout_secs = 1;
    })
    .await;
    // Hold every pooled connection, as a stalled database would.
    let pool = app.pool().clone();
    let held = tokio::task::spawn_blocking(move || {
        (0..4).map(|_| pool.get().unwrap()).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let response = app.get("/readyz").send().await;
    assert_eq!(response.headers()["retry-after"], "2");
    let body = assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(body["retry_after"], 2);
    drop(held);
    assert_eq!(app.get("/readyz").send().await.status(), 200);
}

async fn organizations_have_a_request_budget(backend: crate::helpers::Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit.requests = 3;
        s.rate_limit.window_secs = 60;
    })
    .await;
    let token = app.admin_token();
    for remaining in [2, 1, 0] {
        let response = app.get("/v1/brands").bearer(&token).send().await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"per-organization\";q=3;w=60"
        );
        let header = response.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            header.starts_with(&format!("\"per-organization\";r={remaining};t=")),
            "{header}"
        );
    }
    let asked = std::time::Instant::now();
    let response = app.get("/v1/brands").bearer(&token).send().await;
    // The refusal is held a second before it is sent (a loop cannot spin on it).
    assert!(asked.elapsed() >= tokenwarden::api::ratelimit::REFUSAL_PAUSE);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_problem(response, 429, "rate-limited").await;
    // Another organization has its own budget; unauthenticated routes have none.
    let other = app.create_org("Other", "starter").await;
    assert_eq!(
        app.get("/v1/brands")
            .bearer(app.token(&other, "accounts:read"))
            .send()
            .await
            .status(),
        200
    );
    assert_eq!(app.get("/healthz").send().await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_sqlite() {
    organizations_have_a_request_budget(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_grant_journal_makes_the_instance_not_ready_until_it_is_writable() {
    // Arrange: where the journal's folder belongs, a file (a full or
    // read-only disk answers the same way to the journal's writes).
    let app = TestApp::spawn(Backend::Sqlite).await;
    let journal = app
        .dir
        .path()
        .join(tokenwarden::services::refresh::journal::JOURNAL_DIR);
    assert!(!journal.exists());
    std::fs::write(&journal, b"not a folder").unwrap();

    // Act
    let blocked = app.get("/readyz").send().await;

    // Assert: not ready, saying why; ready again once it can be written.
    let problem = assert_problem(blocked, 503, "service-unavailable").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("grant journal")),
        "{problem}"
    );
    std::fs::remove_file(&journal).unwrap();
    let ready = app.get("/readyz").send().await;
    assert_eq!(ready.status(), 200);
}
