//! A grant that only its owner can renew is announced when it dies, on
//! every path: here an imported access token without a refresh grant whose
//! expiry passes, found by a renew.

use serde_json::json;

use super::{Receiver, subscribe, tick_now, verify_with_library};
use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::revocation::sandbox_grant;

async fn an_expired_grant_without_refresh_is_announced_as_reauth_required(app: TestApp) {
    // Arrange: a subscriber, and an import of an access token alone, valid a minute.
    let receiver = Receiver::start();
    let (_, secret) = subscribe(&app, &receiver.url, &["token.reauth_required"]).await;
    let brand = app.new_brand("Imported").await;
    let (access, _) = sandbox_grant(&app, "sandbox-alice").await;
    let imported = app
        .post(format!("/v1/brands/{brand}/accounts"))
        .bearer(app.admin_token())
        .json(&json!({ "network": "sandbox", "access_token": access, "expires_in": 60 }))
        .send()
        .await;
    assert_eq!(imported.status(), 201);
    let body: serde_json::Value = imported.json().await.unwrap();
    let account = body["account"]["id"].as_str().unwrap().to_string();

    // Act: the minute passes and someone asks to renew.
    app.advance(chrono::Duration::minutes(2));
    let renewed: serde_json::Value = app
        .post(format!("/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    tick_now(&app).await;

    // Assert: the owner must re-authorize, and the subscriber heard it once.
    assert_eq!(renewed["outcome"], "authorization_required");
    let received = receiver.received();
    let types: Vec<String> = received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["token.reauth_required"]);
    assert!(verify_with_library(&secret, &received[0]));
}

on_both_backends!(
    spawn = crate::webhooks::dev_app;
    an_expired_grant_without_refresh_is_announced_as_reauth_required);
