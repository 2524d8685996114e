//! Why a dead token is dead, when the network left no reason: one rule, the
//! status's own name, in every answer that names it (the account, the
//! dropdown, the renew answer, the vault's refusal).

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::Value;
use tokenwarden::db::schema::credentials;

use super::{connect_in, renew_body, stored};
use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

/// Stores `status` with no reason, as a row written by an older version or
/// by hand would have it.
async fn store_without_reason(app: &TestApp, credential: &str, status: &str) {
    let (pool, id, status) = (
        app.pool().clone(),
        credential.to_string(),
        status.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        diesel::update(credentials::table.filter(credentials::id.eq(&id)))
            .set((
                credentials::status.eq(&status),
                credentials::status_reason.eq(None::<String>),
            ))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
}

/// `(status, status_reason)` of a stored credential.
async fn stored_status(app: &TestApp, credential: &str) -> (String, Option<String>) {
    let (pool, id) = (app.pool().clone(), credential.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        credentials::table
            .filter(credentials::id.eq(&id))
            .select((credentials::status, credentials::status_reason))
            .first(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn a_reauth_required_token_without_a_reason_is_named_by_its_status(app: TestApp) {
    // Arrange
    let token = app.admin_token();
    let brand = app.new_brand("Dead").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let (credential, _) = stored(&app, &account).await;
    store_without_reason(&app, &credential, "reauth_required").await;

    // Act
    let view: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let dropdown: Value = app
        .get("/v1/expired-tokens")
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let renewal = renew_body(&app, &token, &brand, &account).await;
    let vault = app
        .post(format!("/v1/accounts/{account}/access-token"))
        .bearer(&token)
        .send()
        .await;

    // Assert: every answer gives the same reason.
    assert_eq!(view["token_status"], "reauth_required", "{view}");
    assert_eq!(view["status_reason"], "reauth_required", "{view}");
    assert_eq!(dropdown["data"][0]["account_id"], account.as_str());
    assert_eq!(
        dropdown["data"][0]["reason"], "reauth_required",
        "{dropdown}"
    );
    assert_eq!(renewal["outcome"], "authorization_required", "{renewal}");
    assert_eq!(renewal["reason"], "reauth_required", "{renewal}");
    let problem = assert_problem(vault, 409, "reauthorization-required").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("(reauth_required)"), "{detail}");
    // Answering named the reason without storing one.
    assert_eq!(
        stored_status(&app, &credential).await,
        ("reauth_required".to_string(), None)
    );
}

async fn an_expired_token_without_a_reason_is_named_by_its_status(app: TestApp) {
    // Arrange: the stored status still says `active`; the clock says expired.
    let token = app.admin_token();
    let brand = app.new_brand("Late").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let (credential, _) = stored(&app, &account).await;
    store_without_reason(&app, &credential, "active").await;
    super::expire_all(&app);

    // Act
    let view: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let dropdown: Value = app
        .get("/v1/expired-tokens")
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(view["token_status"], "expired", "{view}");
    assert_eq!(view["status_reason"], "expired", "{view}");
    assert_eq!(dropdown["data"][0]["account_id"], account.as_str());
    assert_eq!(dropdown["data"][0]["reason"], "expired", "{dropdown}");
    assert_eq!(
        stored_status(&app, &credential).await,
        ("active".to_string(), None)
    );
}

on_both_backends!(
    a_reauth_required_token_without_a_reason_is_named_by_its_status,
    an_expired_token_without_a_reason_is_named_by_its_status,
);
