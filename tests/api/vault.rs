//! The workers' vault read: a valid token, refreshed first when due.

use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::{ALL_SCOPES, TestApp, assert_problem};
use crate::on_both_backends;

async fn read(app: &TestApp, token: &str, account: &str) -> reqwest::Response {
    app.post(format!("/v1/accounts/{account}/access-token"))
        .bearer(token)
        .send()
        .await
}

/// Lets the grant expire: a minute past the hour the sandbox's tokens live.
fn expire_everything(app: &TestApp) {
    app.advance(chrono::Duration::minutes(61));
}

async fn workers_read_a_valid_token_refreshed_when_due(app: TestApp) {
    let brand = app.new_brand("Publishing").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let worker = app.token(&app.org_id, "tokens:read");
    let sandbox = app.parts.state.providers.get("sandbox").unwrap();

    // A valid token, usable at the network.
    let response = read(&app, &worker, &account).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["network"], "sandbox");
    let first = body["access_token"].as_str().unwrap().to_string();
    let me = sandbox
        .identity(&SecretString::from(first.clone()))
        .await
        .unwrap();
    assert_eq!(me.subject, "sandbox-alice");
    assert_eq!(app.sandbox().calls().refresh, 0, "not due: no refresh");

    // Due: refreshed first, and the new token is handed out.
    expire_everything(&app);
    let body: Value = read(&app, &worker, &account).await.json().await.unwrap();
    let second = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(app.sandbox().calls().refresh, 1);
    let expires_at = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap());
    assert!(expires_at.unwrap() > app.now());
    sandbox.identity(&SecretString::from(second)).await.unwrap();

    // Dead grant: 409 with the way to renew.
    app.sandbox().revoke_grants("sandbox-alice");
    expire_everything(&app);
    let response = read(&app, &worker, &account).await;
    let problem = assert_problem(response, 409, "reauthorization-required").await;
    assert_eq!(
        problem["renew_href"],
        format!("/v1/brands/{brand}/accounts/{account}/renew")
    );
    assert!(!problem.to_string().contains("access_token"));

    // Scope and tenancy.
    assert_problem(
        read(
            &app,
            &app.token(&app.org_id, "accounts:read tokens:renew"),
            &account,
        )
        .await,
        403,
        "insufficient-scope",
    )
    .await;
    let other = app.create_org("Other", "advanced").await;
    assert_problem(
        read(&app, &app.token(&other, ALL_SCOPES), &account).await,
        404,
        "not-found",
    )
    .await;
}

on_both_backends!(workers_read_a_valid_token_refreshed_when_due);
