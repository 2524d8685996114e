//! Answers that carry a secret tell every cache not to keep them.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::webhooks::Receiver;

fn assert_not_cached(response: &reqwest::Response, case: &str) {
    assert!(
        response.status().is_success(),
        "{case}: {}",
        response.status()
    );
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "{case}"
    );
}

async fn answers_that_carry_a_secret_are_never_cached(app: TestApp) {
    // Arrange: a webhook target (loopback, development mode) and a connected account.
    let receiver = Receiver::start();
    let brand = app.new_brand("Publishing").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let admin = app.admin_token();

    // Act and assert: the webhook's signing secret, on creation and rotation.
    let created = app
        .post("/v1/webhooks")
        .bearer(&admin)
        .json(&json!({ "url": receiver.url, "events": ["token.expired"] }))
        .send()
        .await;
    assert_not_cached(&created, "webhook create");
    let body: Value = created.json().await.unwrap();
    assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = body["webhook"]["id"].as_str().unwrap();
    let rotated = app
        .post(format!("/v1/webhooks/{id}/rotate-secret"))
        .bearer(&admin)
        .send()
        .await;
    assert_not_cached(&rotated, "webhook rotate-secret");
    let body: Value = rotated.json().await.unwrap();
    assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));

    // The vault's access token and a reconnect link's secret URL.
    let vault = app
        .post(format!("/v1/accounts/{account}/access-token"))
        .bearer(&admin)
        .send()
        .await;
    assert_not_cached(&vault, "vault read");
    let link = app
        .post(format!(
            "/v1/brands/{brand}/accounts/{account}/reconnect-link"
        ))
        .bearer(&admin)
        .send()
        .await;
    assert_not_cached(&link, "reconnect link");
}

on_both_backends!(answers_that_carry_a_secret_are_never_cached);
