//! Polling front ends: the dropdown, the badge and Manage Accounts answer a
//! strong `ETag`, and 304 with no body while it still is the answer — never
//! once a write or the clock has changed a status.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_backends;

async fn poll(app: &TestApp, path: &str, etag: Option<&str>) -> (StatusCode, String, String) {
    let mut request = app.client.get(app.url(path)).bearer_auth(app.admin_token());
    if let Some(etag) = etag {
        request = request.header("If-None-Match", etag);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, etag, response.text().await.unwrap())
}

async fn a_poll_sees_every_change_and_nothing_else(app: TestApp) {
    // Arrange: one account, valid for now.
    let brand = app.new_brand("Polled").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let paths = [
        "/v1/expired-tokens".to_string(),
        "/v1/expired-tokens/summary".to_string(),
        format!("/v1/brands/{brand}/accounts"),
    ];
    for path in &paths {
        // Act + Assert: a strong tag, then 304 with no body while nothing changed.
        let (status, etag, _) = poll(&app, path, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{path}: {etag}"
        );
        let (status, again, body) = poll(&app, path, Some(&etag)).await;
        assert_eq!(status, 304, "{path}");
        assert_eq!(again, etag, "{path}");
        assert!(body.is_empty(), "{path}: no body");
    }
    let (_, before, _) = poll(&app, "/v1/expired-tokens", None).await;

    // The clock passes the token's expiry: the next poll is a new answer.
    app.advance(chrono::Duration::hours(2));
    let (status, expired, body) = poll(&app, "/v1/expired-tokens", Some(&before)).await;
    assert_eq!(status, 200);
    assert_ne!(expired, before);
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["data"][0]["account_id"], account.as_str());

    // A write (disabling the account) is a new answer too.
    let (_, summary, _) = poll(&app, "/v1/expired-tokens/summary", None).await;
    let response = app
        .client
        .patch(app.url(&format!("/v1/brands/{brand}/accounts/{account}")))
        .bearer_auth(app.admin_token())
        .json(&json!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, after, body) = poll(&app, "/v1/expired-tokens/summary", Some(&summary)).await;
    assert_eq!(status, 200);
    assert_ne!(after, summary);
    let counts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(counts["total"], 0);
}

on_both_backends!(a_poll_sees_every_change_and_nothing_else);
