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
