//! Safe defaults and bounded input: what a careless or hostile client sends
//! is refused as input, secrets stay out of caches, and metrics cannot be
//! grown without bound.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, RETURN_URL, TestApp, assert_problem};

#[tokio::test]
async fn a_token_that_cannot_travel_in_a_header_is_refused_before_any_call() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let brand = app.new_brand("Imports").await;
    app.sandbox().reset_calls();

    for (pointer, body) in [
        (
            "/access_token",
            json!({ "network": "sandbox", "access_token": "abc\u{1}def" }),
        ),
        (
            "/access_token",
            json!({ "network": "sandbox", "access_token": "two words" }),
        ),
        (
            "/refresh_token",
            json!({ "network": "sandbox", "access_token": "ok", "refresh_token": "caf\u{e9}" }),
        ),
    ] {
        let response = app
            .client
            .post(app.url(&format!("/v1/brands/{brand}/accounts")))
            .bearer_auth(app.admin_token())
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["pointer"], pointer);
    }
    let calls = app.sandbox().calls();
    assert_eq!(calls.userinfo + calls.token, 0, "no outbound call");
}

#[tokio::test]
async fn return_url_prefixes_match_on_path_segments() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let brand = app.new_brand("Returns").await;
    let connect = |return_url: String| {
        app.client
            .post(app.url(&format!("/v1/brands/{brand}/accounts/connect")))
            .bearer_auth(app.admin_token())
            .json(&json!({ "network": "sandbox", "return_url": return_url }))
            .send()
    };

    let below = connect(format!("{RETURN_URL}/done")).await.unwrap();
    let beside = connect(format!("{RETURN_URL}-evil")).await.unwrap();

    assert_eq!(below.status(), 201);
    let problem = assert_problem(beside, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["pointer"], "/return_url");
}

#[tokio::test]
async fn answers_holding_a_secret_are_never_cached() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let brand = app.new_brand("Secrets").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap();

    let vault = app
        .client
        .post(app.url(&format!("/v1/accounts/{account}/access-token")))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    let link = app
        .client
        .post(app.url(&format!(
            "/v1/brands/{brand}/accounts/{account}/reconnect-link"
        )))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();

    assert_eq!(vault.status(), 200);
    assert_eq!(vault.headers()["cache-control"], "no-store");
    assert_eq!(link.status(), 201);
    assert_eq!(link.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn invented_methods_share_one_metrics_label() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for method in ["FROB", "XYZZY", "PLUGH"] {
        app.client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url("/v1/brands"),
            )
            .send()
            .await
            .unwrap();
    }

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(metrics.contains("method=\"other\""), "{metrics}");
    for method in ["FROB", "XYZZY", "PLUGH"] {
        assert!(!metrics.contains(method), "{method} is no label");
    }
}

/// A pool whose every connection is taken answers 503 with `Retry-After`
/// within the pool's timeout — never a hang, never a 500 — and serves again
/// as soon as a connection is back.
#[tokio::test]
async fn an_exhausted_pool_answers_503_within_its_timeout_and_recovers() {
    // Arrange: one connection, a one-second wait for it, held by the test.
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.database.pool_size = 1;
        settings.database.connect_timeout_secs = 1;
    })
    .await;
    let token = app.admin_token();
    let pool = app.pool().clone();
    let held = tokio::task::spawn_blocking(move || pool.get().unwrap())
        .await
        .unwrap();

    // Act
    let response = app.get("/v1/brands", &token).await;

    // Assert: a 503 problem (a hang would meet the client's own timeout).
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503, "service-unavailable").await;
    drop(held);
    assert_eq!(app.get("/v1/brands", &token).await.status(), 200);
}

/// The OAuth callback is the one route anyone on the internet can call with
/// any query: whatever it carries, the answer is a client error, never a
/// server fault (64 generated queries, from proptest's generator).
#[tokio::test]
async fn any_callback_query_is_refused_as_input() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let pair = (
        proptest::prop_oneof![
            proptest::strategy::Just("state".to_string()),
            proptest::strategy::Just("code".to_string()),
            proptest::strategy::Just("error".to_string()),
            proptest::strategy::Just("error_description".to_string()),
            "[a-z_]{1,10}",
        ],
        "[ -~]{0,80}",
    );
    let query = proptest::collection::vec(pair, 0..5);
    let mut runner = TestRunner::deterministic();
    for _ in 0..64 {
        let pairs = query.new_tree(&mut runner).unwrap().current();
        let mut url = reqwest::Url::parse(&app.url("/v1/oauth/callback/sandbox")).unwrap();
        for (key, value) in &pairs {
            url.query_pairs_mut().append_pair(key, value);
        }
        let response = app.client.get(url.clone()).send().await.unwrap();
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{url}: {status}");
    }
}
